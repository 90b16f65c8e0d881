/**
 * The contract between the simulator's event loop and a policy. It mirrors the scheduling
 * core's API (admit / decide / onComplete) so `ours` is a thin adapter and every baseline is
 * driven by exactly the same loop and world.
 */
import type { BatchObservation } from '../edge-agent/core/index.ts';
import type { PricingTable } from '../shared/pricing.ts';
import type { Profile } from '../shared/profile.ts';
import type { Tier } from '../shared/tiers.ts';

// Targets and requests are the core's: the simulator drives the same Scheduler.
import type { QueuedRequest, TargetId } from '../edge-agent/core/types.ts';
export { EDGE, type TargetId } from '../edge-agent/core/types.ts';

export type SimRequest = QueuedRequest;

export type AdmitResult = { ok: true } | { ok: false; code: string; reason: string; retryAfterMs?: number };

export interface Dispatch {
  readonly target: TargetId;
  readonly requestIds: readonly string[];
}

export interface Rejection {
  readonly requestId: string;
  readonly reason: string;
  readonly code: string;
}

/** A one-item call outside the queue (prewarm, health or link probe), as the core orders them. */
export interface Probe {
  readonly target: TargetId;
  /** The caller gives up after this long. */
  readonly timeoutMs: number;
}

export interface Decision {
  readonly dispatch: readonly Dispatch[];
  readonly reject: readonly Rejection[];
  /** When to call decide again if nothing else happens; null = only on the next event. */
  readonly wakeAtMs: number | null;
  /** Probes to run now; their cost counts, their results go back through onComplete. */
  readonly probe?: readonly Probe[];
}

/** What the world tells the policy after a batch finished: the core's own type. */
export type { BatchObservation };

/** A scheduling policy under simulation; all times virtual. */
export interface SimPolicy {
  readonly name: string;
  admit(req: SimRequest, nowMs: number): AdmitResult;
  decide(nowMs: number): Decision;
  onComplete(obs: BatchObservation, nowMs: number): void;
  /** Times the policy re-computed its plan. */
  replans(): number;
  /** Detected changepoints (virtual time of the change, and which stream), for the report. */
  changepoints?(): { tMs: number; stream: string }[];
}

/** What a policy may know when it is built. Baselines that "measure" use `probeBps`. */
export interface PolicyContext {
  readonly tiers: readonly Tier[];
  /** Latency profile of the edge and every tier (the scheduler's prior; the world uses the same means). */
  readonly profile: Profile;
  readonly edgeWorkers: number;
  readonly sloMs: number;
  readonly itemBytes: number;
  readonly rttMs: number;
  readonly keepAliveMs: number;
  readonly pricing: PricingTable;
  /** One bandwidth sample at `tMs`, as a link probe would measure it. */
  readonly probeBps: (tMs: number) => number;
  /** Mean uplink over the trace, for policies that plan offline. */
  readonly meanBps: number;
  /** The whole arrival trace (only offline policies — static-best — may look at it). */
  readonly arrivalsMs: readonly number[];
  readonly seed: number;
}

export type PolicyFactory = (ctx: PolicyContext) => SimPolicy;
