/** Types shared by the core's decision, planner and facade (all plain JSON-serialisable data). */
import type { LatencyFitSnapshot, LatencyQuantile } from './latency-model.ts';
import type { LinkSnapshot } from './link-estimator.ts';
import type { RateSnapshot } from './arrival-rate.ts';

/** `edge` or a tier key of s.yaml. */
export type TargetId = string;

/** The local target's id. */
export const EDGE: TargetId = 'edge';

/** One request waiting in the virtual queue. */
export interface QueuedRequest {
  readonly id: string;
  readonly arrivalMs: number;
  /** Absolute deadline (same clock as `nowMs`). */
  readonly deadlineMs: number;
  /** Payload size on the wire. */
  readonly bytes: number;
}

/** Send these requests to `target` now. */
export interface DispatchOrder {
  readonly target: TargetId;
  /** Earliest deadline first. */
  readonly requestIds: string[];
  /** True when no available target was predicted to meet the most urgent deadline; this is the fastest. @default false */
  readonly atRisk?: boolean;
  /** Predicted time from now to the batch's results: transfer + inference (+ cold start) at the quantile (policies that predict). */
  readonly predictedMs?: number;
}

/**
 * A one-item call the runtime makes outside the queue (it answers nobody): `prewarm` starts a
 * cold instance of the plan's tier before traffic needs it; `health` probes a half-open target;
 * `link` measures the uplink when its estimate keeps the cloud unused. Report it back through
 * onComplete with `probe: true`.
 */
export interface ProbeOrder {
  readonly target: TargetId;
  readonly reason: 'prewarm' | 'health' | 'link';
  /** Give up after this long (a cold start fits). */
  readonly timeoutMs: number;
}

/**
 * Why a queued request is turned away: it cannot make its deadline any more (`expired`: a
 * baseline's, it already passed), or (`overloaded`) every target that could serve it in time
 * is taken until after its deadline, so it is refused now rather than when it turns impossible.
 */
export type RejectCode = 'deadline_impossible' | 'expired' | 'overloaded';

export interface RejectOrder {
  readonly requestId: string;
  readonly reason: string;
  readonly code: RejectCode;
  /** `overloaded`: when the targets are expected to have room again, ms from now. */
  readonly retryAfterMs?: number;
}

/** What decide() says to do now, and when to ask again at the latest. */
export interface Decision {
  readonly dispatch: DispatchOrder[];
  readonly reject: RejectOrder[];
  /** Call decide again by this time (null: the queue is empty; arrivals and completions also warrant a call). */
  readonly wakeAtMs: number | null;
  /** Probe calls to make now (only when the driver enabled them with `Scheduler.enableProbes`). */
  readonly probe?: ProbeOrder[];
  /** Every target was busy while requests waited (the system is at capacity). */
  readonly saturated?: boolean;
}

/** What a finished batch taught (success or failure). */
export interface BatchObservation {
  target: TargetId;
  batchSize: number;
  bytes: number;
  ok: boolean;
  /** Whole call. */
  wallMs: number;
  inferMs: number;
  /** Time on the wire (0 on the edge). */
  transferMs: number;
  coldStart: boolean;
  costUsd: number;
  /** Backend error code on failure (`timeout`, `throttled`, `unavailable`, …; `cancelled` = never ran). */
  error?: string;
  /** The call was a {@link ProbeOrder}. */
  probe?: boolean;
}

/** Why the plan was recomputed. */
export type ReplanReason =
  | 'initial'
  | 'warmup'
  | 'changepoint:arrivals'
  | 'changepoint:link'
  | 'infeasible'
  | 'new-deadline-class'
  | 'target-health'
  | 'safety-period'
  | 'periodic';

/** Events since the last drain (bounded buffer; the oldest are dropped). */
export type CoreEvent =
  | { type: 'changepoint'; stream: 'arrivals' | 'link'; atMs: number; changeAtMs: number; pChange: number }
  | { type: 'replan'; reason: ReplanReason; atMs: number; version: number }
  | { type: 'dispatch'; target: TargetId; batchSize: number; atMs: number; atRisk: boolean; predictedMs: number | null; cold: boolean }
  | { type: 'reject'; requestId: string; code: RejectCode; atMs: number }
  | { type: 'unhealthy'; target: TargetId; untilMs: number; atMs: number }
  | { type: 'healthy'; target: TargetId; atMs: number }
  | { type: 'probe'; target: TargetId; reason: ProbeOrder['reason']; atMs: number };

/** The cloud route of one deadline class. */
export interface PlanClass {
  /** Deadline budget of the class (lower edge of its bucket). */
  readonly budgetMs: number;
  /** Cheapest feasible tier (or the fastest when none is feasible); null without tiers. */
  readonly tier: TargetId | null;
  readonly batchSize: number;
  readonly costPerRequestUsd: number;
  /** wait-to-fill + transfer + inference at the quantile + safety margin. */
  readonly totalMs: number;
  readonly waitMs: number;
  readonly transferMs: number;
  readonly inferMs: number;
  readonly feasible: boolean;
}

/** Cost and latency of every (tier, batch size), from the current estimates. */
export interface CostTable {
  readonly batchSizes: number[];
  readonly rows: {
    readonly tier: TargetId;
    readonly vcpu: number;
    readonly memoryMb: number;
    /** costOf(tier, l(b)).usd / b, per batch size. */
    readonly costPerRequestUsd: number[];
    /** l(b) at the planning quantile, per batch size. */
    readonly latencyMs: number[];
  }[];
}

/** The current plan (GET /v1/plan). */
export interface Plan {
  readonly version: number;
  readonly reason: ReplanReason;
  readonly atMs: number;
  readonly quantile: Exclude<LatencyQuantile, 'mean'>;
  readonly safetyMarginMs: number;
  readonly rateRps: number;
  readonly rateSdRps: number;
  readonly rttMs: number;
  readonly bandwidthBps: number;
  readonly itemBytes: number;
  readonly edge: {
    readonly workers: number;
    readonly batchSize: number;
    /** The most the edge takes under a backlog: the largest batch that fits the tightest class. */
    readonly maxBatchSize: number;
    /** Requests/s the edge can serve at that batch size (all workers). */
    readonly capacityRps: number;
    readonly rateRps: number;
    readonly utilisation: number;
    readonly utilisationCap: number;
  };
  readonly cloud: {
    readonly rateRps: number;
    /** False when the edge is expected to take everything: cloud batches then leave only on deadline pressure. */
    readonly sendWhenFull: boolean;
    readonly classes: PlanClass[];
  };
  readonly costTable: CostTable;
  readonly excludedTargets: TargetId[];
}

/** Per-tier warm/cold state. */
export interface TierState {
  readonly state: 'warm' | 'cold';
  readonly warmIdleInstances: number;
  readonly busy: number;
  readonly lastUsedMs: number | null;
}

/** The estimators' view (GET /v1/plan, dashboard). */
export interface Estimates {
  readonly atMs: number;
  readonly rate: RateSnapshot;
  readonly link: LinkSnapshot;
  readonly latency: Record<TargetId, LatencyFitSnapshot>;
  readonly tiers: Record<TargetId, TierState>;
  readonly deadlineClasses: { budgetMs: number; count: number }[];
  readonly unhealthy: Record<TargetId, number>;
  readonly lastReplan: { reason: ReplanReason; atMs: number; version: number };
}
