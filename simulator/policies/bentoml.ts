/**
 * BentoML-style adaptive batcher on the edge (after the idea of BentoML's "cork" dispatcher,
 * re-stated here, not ported): batch time is fitted as a·n + b from the most recent edge batches;
 * a free worker keeps waiting for one more request while a batch of n + 1 would still finish the
 * oldest request within the latency limit (the SLO), the next request is expected before that
 * moment, and waiting is worth it (the n waiters' extra wait, n · the mean gap, is at most the
 * fixed cost b the next item would share); it sends otherwise. Behind it, the best fixed FC tier (static-best's offline
 * choice of tier, batch and timeout on the same trace) takes what waits while the edge is busy.
 *
 * Unlike BentoML, the decision takes `nowMs` rather than reading the clock, and the fit carries
 * the largest recent residual (the profile's q99 before any batch) so "would pass the limit" is
 * judged at the tail, not the mean.
 */
import { fitLine } from '../../shared/stats.ts';
import { EDGE, type BatchObservation, type PolicyContext, type SimPolicy, type SimRequest } from '../types.ts';
import { cloudPlan, meanRatePerMs } from './baselines.ts';
import { EdgeFirstBatcher, type EdgeRule } from './edge-first.ts';
import { STATIC_EDGE_ONLY, type StaticConfig } from './static-best.ts';

/** Edge batches the fit remembers. */
export const ADAPTIVE_WINDOW = 50;
/** Weight of the newest inter-arrival gap in the moving average. */
const GAP_WEIGHT = 0.1;
const MAX_BATCH_CAP = 256;

/** The adaptive edge rule: latency a·n + b (+ the largest recent residual) from recent batches, the profile until then. */
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
    this.tailMs = p.residualQ99Ms;
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
    // Not worth waiting without an arrival rate, when the next request is not expected before
    // then, or when the wait it adds to the n waiting (n · gap) exceeds the fixed cost per batch
    // one more item would share (on an edge with little fixed cost a free worker never waits).
    if (this.gapMs === null || this.lastArrivalMs === null) return null;
    if (this.lastArrivalMs + this.gapMs > lastStartMs || n * this.gapMs > this.fixedMs) return null;
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
    // A line needs two distinct sizes; until then the profile's slope stands and the fixed part
    // is fitted (else a batcher that only ever sent one size could never learn its tail).
    let a: number;
    let k: number;
    if (new Set(this.sizes).size < 2) {
      k = this.perItemMs;
      a = Math.max(0, this.times.reduce((s, t, i) => s + t - k * this.sizes[i], 0) / this.times.length);
    } else ({ a, k } = fitLine(this.sizes, this.times));
    this.fixedMs = a;
    this.perItemMs = k;
    // The worst recent residual: the batch leaves at the last moment, so any batch slower than
    // the margin makes its oldest request late (a q95 margin missed ≈ 5 % at low rates).
    this.tailMs = Math.max(0, ...this.sizes.map((n, i) => this.times[i] - (a + k * n)));
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
