/** The scheduler's options, their defaults and their checks (one place for every knob). */
import { FC3_PRICING, type PricingTable } from '../../shared/pricing.ts';
import type { Profile } from '../../shared/profile.ts';
import type { Tier } from '../../shared/tiers.ts';
import { CoreOptionError, checkInt, checkNumber, checkOneOf } from './validate.ts';

/** Options of the `Scheduler`. */
export interface SchedulerOptions {
  /** FC tiers (from s.yaml). */
  readonly tiers: readonly Tier[];
  /** Latency priors for `edge` and every tier key; also rtt, uplink and item size. */
  readonly profile: Profile;
  /** Local workers (≥ 0; 0 = no edge target). */
  readonly edgeWorkers: number;
  /** Largest batch sent to a tier (and to the edge unless `edgeMaxBatch` says otherwise). @default 32 */
  readonly maxBatch?: number;
  /**
   * Largest batch the edge device runs (its memory, not FC's payload, limits it). A device whose
   * fixed cost per batch dominates (ResNet-50 on a Jetson: 585 ms for 1 image, 835 ms for 32,
   * 1,340 for 64) keeps up with a higher rate only through larger batches. FC's payload limit
   * (`maxBatch`) is no limit of the device's: the planner goes past it only where a larger batch
   * keeps up with the rate or serves more on time, within the tightest class. @default 4096 (no device limit)
   */
  readonly edgeMaxBatch?: number;
  /** Quantile deadlines are checked at. @default 'q95' */
  readonly quantile?: 'q95' | 'q99';
  /** Slack kept on top of the predicted quantile, ms. @default 10 */
  readonly safetyMarginMs?: number;
  /** Arrival-count tick, ms. @default 1000 */
  readonly tickMs?: number;
  /** When to re-plan: on changepoints (default) or every `periodicMs` (a baseline). */
  readonly replan?: 'changepoint' | { readonly periodicMs: number };
  /** Largest planned edge utilisation, (0, 1]. @default 0.8 */
  readonly edgeUtilisationCap?: number;
  /** Queue length above which admission sheds load ('overloaded'). @default 10000 */
  readonly maxQueue?: number;
  /** @default FC3_PRICING */
  readonly pricing?: PricingTable;
  /** Concurrent batches per tier (FC instances; instanceConcurrency 1). @default 100 */
  readonly tierMaxInstances?: number;
  /** An FC instance idle longer than this is cold. @default 300000 */
  readonly keepAliveMs?: number;
  /** In 'changepoint' mode, re-check the plan after this long without a replan; it counts as a replan only if the plan changes. @default 300000 */
  readonly safetyPeriodMs?: number;
  /** Ticks of arrivals before the first rate-based plan. @default 10 */
  readonly warmupTicks?: number;
  /** Shortest gap between two 'infeasible' replans (latency noise must not cause a replan storm). @default 5000 */
  readonly minInfeasibleGapMs?: number;
  /** Hysteresis: the plan must stay infeasible this long (every check in between) before an 'infeasible' replan. @default 3000 */
  readonly infeasiblePersistMs?: number;
  /** First cool-down of a target whose breaker opens (doubles on each failed probe). @default 2000 */
  readonly breakerCooldownMs?: number;
  /** Longest breaker cool-down. @default 8000 */
  readonly breakerMaxCooldownMs?: number;
  /** Consecutive failures (timeouts, 5xx, bad answers) that open a target's breaker; `unavailable` opens it at once. @default 2 */
  readonly breakerFailures?: number;
  /** Shed at admission (503 overloaded) when the queue ahead would not drain before the deadline. @default true */
  readonly shedOnDrain?: boolean;
  /** Gap between two link probes while the link estimate keeps the cloud unused. @default 2000 */
  readonly linkProbeMs?: number;
}

/** Every option resolved to its value; `periodicMs` is null in changepoint mode. */
export type ResolvedOptions = Required<Omit<SchedulerOptions, 'replan'>> & { readonly periodicMs: number | null };

/** Check the options and fill in the defaults (throws CoreOptionError naming the bad one). */
export function resolveOptions(opts: SchedulerOptions): ResolvedOptions {
  if (!opts || !Array.isArray(opts.tiers)) throw new CoreOptionError('Expected `tiers` to be an array of tiers');
  if (!opts.profile || typeof opts.profile.targets !== 'object') throw new CoreOptionError('Expected `profile` to be a Profile with `targets`');
  const replan = opts.replan ?? 'changepoint';
  let periodicMs: number | null = null;
  if (typeof replan === 'object' && replan !== null) periodicMs = checkNumber('replan.periodicMs', replan.periodicMs, 0, Infinity, true);
  else checkOneOf('replan', replan, ['changepoint']);
  return {
    tiers: opts.tiers,
    profile: opts.profile,
    edgeWorkers: checkInt('edgeWorkers', opts.edgeWorkers, 0),
    maxBatch: checkInt('maxBatch', opts.maxBatch ?? 32, 1, 4096),
    edgeMaxBatch: checkInt('edgeMaxBatch', opts.edgeMaxBatch ?? 4096, 1, 4096),
    quantile: checkOneOf('quantile', opts.quantile ?? 'q95', ['q95', 'q99']),
    safetyMarginMs: checkNumber('safetyMarginMs', opts.safetyMarginMs ?? 10, 0),
    tickMs: checkNumber('tickMs', opts.tickMs ?? 1000, 0, Infinity, true),
    edgeUtilisationCap: checkNumber('edgeUtilisationCap', opts.edgeUtilisationCap ?? 0.8, 0, 1, true),
    maxQueue: checkInt('maxQueue', opts.maxQueue ?? 10_000, 1),
    pricing: opts.pricing ?? FC3_PRICING,
    tierMaxInstances: checkInt('tierMaxInstances', opts.tierMaxInstances ?? 100, 1),
    keepAliveMs: checkNumber('keepAliveMs', opts.keepAliveMs ?? 300_000, 0),
    safetyPeriodMs: checkNumber('safetyPeriodMs', opts.safetyPeriodMs ?? 300_000, 0, Infinity, true),
    warmupTicks: checkInt('warmupTicks', opts.warmupTicks ?? 10, 1),
    minInfeasibleGapMs: checkNumber('minInfeasibleGapMs', opts.minInfeasibleGapMs ?? 5000, 0),
    infeasiblePersistMs: checkNumber('infeasiblePersistMs', opts.infeasiblePersistMs ?? 3000, 0),
    breakerCooldownMs: checkNumber('breakerCooldownMs', opts.breakerCooldownMs ?? 2000, 0),
    breakerMaxCooldownMs: checkNumber('breakerMaxCooldownMs', opts.breakerMaxCooldownMs ?? 8000, 0),
    breakerFailures: checkInt('breakerFailures', opts.breakerFailures ?? 2, 1),
    shedOnDrain: opts.shedOnDrain ?? true,
    linkProbeMs: checkNumber('linkProbeMs', opts.linkProbeMs ?? 2000, 0, Infinity, true),
    periodicMs,
  };
}
