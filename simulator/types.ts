/**
 * The contract between the simulator's event loop and a policy: the scheduling core's own
 * `BatchPolicy` (admit / decide / onComplete), so `ours` is a thin adapter and every baseline is
 * driven by exactly the same loop and world.
 */
import type { BatchPolicy } from '../edge-agent/core/index.ts';
import type { PricingTable } from '../shared/pricing.ts';
import type { Profile } from '../shared/profile.ts';
import type { Tier } from '../shared/tiers.ts';

// Requests, decisions and observations are the core's: every policy meets the core's contract.
import type { QueuedRequest } from '../edge-agent/core/index.ts';
export { EDGE, type Admission, type BatchObservation, type Decision, type DispatchOrder, type RejectOrder, type TargetId } from '../edge-agent/core/index.ts';

export type SimRequest = QueuedRequest;

/** A scheduling policy under simulation (the core's `BatchPolicy`, plus what the report shows); all times virtual. */
export interface SimPolicy extends BatchPolicy {
  readonly name: string;
  /** Times the policy re-computed its plan. */
  replans(): number;
  /** Detected changepoints (virtual time of the change, and which stream), for the report. */
  changepoints?(): { tMs: number; stream: string }[];
}

/** What a policy may know when it is built. Baselines that "measure" use `probeBps`. */
export interface PolicyContext {
  readonly tiers: readonly Tier[];
  /** Latency profile of the edge and every tier: the prior policies start from (the world may differ: `SimConfig.worldProfile`). */
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
