/**
 * The scheduling core's API: the one typed seam between the core and whoever drives it — the
 * live agent's runtime, the simulator's `ours` policy and the tests. `BatchPolicy` is the part
 * every policy meets, the simulator's baselines included.
 */
import type { Admission } from './admission.ts';
import type { BatchObservation, CoreEvent, Decision, Estimates, Plan, QueuedRequest, TargetId } from './types.ts';

export type { Admission } from './admission.ts';

/** admit / decide / onComplete: what any batching policy does with requests and targets. */
export interface BatchPolicy {
  /** A request arrives (one call per request): queued, or refused with the reason. */
  admit(req: QueuedRequest, nowMs: number): Admission;
  /** What to do now: dispatches, rejections, probes, and when to ask again. */
  decide(nowMs: number): Decision;
  /** A dispatched batch or a probe finished (or failed). */
  onComplete(obs: BatchObservation, nowMs: number): void;
}

/** The whole core as its drivers use it (the `Scheduler` implements it). */
export interface SchedulingCore extends BatchPolicy {
  /** `flush`: shutdown — cloud batches leave now instead of waiting to fill. */
  decide(nowMs: number, opts?: { flush?: boolean }): Decision;
  /** Put back an admitted request whose batch failed (not a new arrival). @returns false when already queued. */
  requeue(req: QueuedRequest, nowMs: number): boolean;
  /** The driver runs probe orders (prewarm, health, link). */
  enableProbes(on?: boolean): void;
  /** Let time pass without traffic (cool-downs end, held slots return, ticks close). */
  advance(nowMs: number): void;
  markUnhealthy(target: TargetId, untilMs: number): void;
  plan(): Plan;
  estimates(): Estimates;
  queueDepth(): number;
  busy(): Record<TargetId, number>;
  drainEvents(): CoreEvent[];
  stats(): { replans: number; changepoints: number };
}
