/**
 * BentoML-style adaptive batcher on the edge (after the idea of BentoML's "cork" dispatcher,
 * re-stated here, not ported): batch time is fitted as a·n + b from the most recent edge batches;
 * a free worker keeps waiting for one more request while a batch of n + 1 would still finish the
 * oldest request within the latency limit (the SLO) and the next request is expected before
 * that moment, and sends otherwise. Behind it, the best fixed FC tier (static-best's offline
 * choice of tier, batch and timeout on the same trace) takes what waits while the edge is busy.
 *
 * Unlike BentoML, the decision takes `nowMs` rather than reading the clock, and the fit carries
 * a q95 residual so "would pass the limit" is judged at the tail, not the mean.
 */
import { fitLine } from '../profiles.ts';
import { EDGE, type BatchObservation, type PolicyContext, type SimPolicy, type SimRequest } from '../types.ts';
import { cloudPlan, meanRatePerMs } from './baselines.ts';
import { EdgeFirstBatcher, type EdgeRule } from './edge-first.ts';
import { STATIC_EDGE_ONLY, type StaticConfig } from './static-best.ts';

/** Edge batches the fit remembers. */
export const ADAPTIVE_WINDOW = 50;
/** Weight of the newest inter-arrival gap in the moving average. */
const GAP_WEIGHT = 0.1;
const MAX_BATCH_CAP = 256;

/** The adaptive edge rule: latency a·n + b (+ q95 residual) from recent batches, the profile until then. */
export class AdaptiveEdgeRule implements EdgeRule {
  private readonly sizes: number[] = [];
  private readonly times: number[] = [];
  private fixedMs: number;
  private perItemMs: number;
  private tailMs: number;
  private lastArrivalMs: number | null = null;
  private gapMs: number | null = null;
  private max: number;

  constructor(
    ctx: PolicyContext,
    private readonly limitMs: number,
  ) {
    const p = ctx.profile.targets[EDGE];
    if (!p) throw new RangeError('the adaptive edge batcher needs an edge target in the profile');
    this.fixedMs = p.aMs;
    this.perItemMs = p.kMs;
    this.tailMs = p.residualQ95Ms;
    this.max = this.largestFitting();
  }

  /** Predicted batch latency of n items at the tail. */
  predictMs(n: number): number {
    return this.fixedMs + this.perItemMs * n + this.tailMs;
  }

  private largestFitting(): number {
    let n = 1;
    while (n < MAX_BATCH_CAP && this.predictMs(n + 1) <= this.limitMs) n++;
    return n;
  }

  maxBatch(): number {
    return this.max;
  }

  holdUntilMs(oldest: SimRequest, n: number, nowMs: number): number | null {
    // The last moment a batch of n + 1 can start and still finish the oldest within the limit.
    const lastStartMs = oldest.arrivalMs + this.limitMs - this.predictMs(n + 1);
    if (nowMs >= lastStartMs) return null;
    // Not worth waiting when the next request is not expected before then.
    if (this.gapMs !== null && this.lastArrivalMs !== null && this.lastArrivalMs + this.gapMs > lastStartMs) return null;
    return lastStartMs;
  }

  onArrival(_req: SimRequest, nowMs: number): void {
    if (this.lastArrivalMs !== null) {
      const gap = nowMs - this.lastArrivalMs;
      this.gapMs = this.gapMs === null ? gap : (1 - GAP_WEIGHT) * this.gapMs + GAP_WEIGHT * gap;
    }
    this.lastArrivalMs = nowMs;
  }

  observe(obs: BatchObservation): void {
    if (obs.target !== EDGE || !obs.ok || obs.probe) return;
    this.sizes.push(obs.batchSize);
    this.times.push(obs.inferMs);
    if (this.sizes.length > ADAPTIVE_WINDOW) {
      this.sizes.shift();
      this.times.shift();
    }
    // A line needs two distinct sizes; until then the profile's line stands.
    if (new Set(this.sizes).size < 2) return;
    const { a, k } = fitLine(this.sizes, this.times);
    this.fixedMs = a;
    this.perItemMs = k;
    const res = this.sizes.map((n, i) => this.times[i] - (a + k * n)).sort((x, y) => x - y);
    this.tailMs = Math.max(0, res[Math.min(res.length - 1, Math.ceil(0.95 * res.length) - 1)]);
    this.max = this.largestFitting();
  }
}

/**
 * The adaptive edge with the best fixed FC configuration behind it: `cloud` is static-best's
 * choice on the same trace; when that is "edge only", the cheapest fixed (tier, batch) for the
 * trace's mean rate (as cloud-only picks it) stands behind the edge instead.
 */
export function bentoml(ctx: PolicyContext, cloud: StaticConfig | null): SimPolicy {
  const edgeRule = ctx.edgeWorkers > 0 ? new AdaptiveEdgeRule(ctx, ctx.sloMs) : undefined;
  const fc = cloud && cloud.tier !== STATIC_EDGE_ONLY ? { tier: cloud.tier, batch: cloud.batch, maxDelayMs: cloud.timeoutMs } : cloudPlan(ctx, meanRatePerMs(ctx));
  return new EdgeFirstBatcher(ctx, { name: 'bentoml', edgeMaxBatch: edgeRule ? 1 : 0, edgeRule, cloudTier: fc.tier, cloudMaxBatch: fc.batch, maxDelayMs: fc.maxDelayMs });
}
