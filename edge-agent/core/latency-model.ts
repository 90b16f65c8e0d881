/**
 * Batch latency of one target: l(b) = a + k·b fitted online (RLS with forgetting, prior from the
 * profile), residual quantiles for the tail, and the cold-start penalty of a new instance.
 */
import type { TargetProfile } from '../../shared/profile.ts';
import { DecayedLinearFit, ResidualWindow, type LinearFitOptions } from './linear-fit.ts';
import { quantileSorted } from './math.ts';

/** A latency quantile the scheduler plans with. */
export type LatencyQuantile = 'mean' | 'q95' | 'q99';

/** Options of {@link LatencyModel}. */
export interface LatencyModelOptions extends LinearFitOptions {
  /** Residuals kept for the quantiles. @default 256 */
  readonly residualWindow?: number;
  /** Pseudo-samples behind the profile's residual quantiles and cold start. @default 20 */
  readonly priorResidualWeight?: number;
}

/** JSON view of a fit. */
export interface LatencyFitSnapshot {
  readonly aMs: number;
  readonly kMs: number;
  readonly q95Ms: number;
  readonly q99Ms: number;
  readonly coldStartMs: number;
  readonly samples: number;
}

/**
 * Online latency model of one target (service time without transfer).
 *
 * The tail is additive (q = l(b) + residual quantile, one for every b) unless the profile carries
 * its measured relative residuals (measured / fitted − 1): then it is multiplicative,
 * q = l(b) · (1 + relative quantile), and the window keeps relative residuals. A profile fitted
 * over batches of 1–128 (the Jetson's ResNet-50 TSV) has an absolute q95 residual of 586 ms,
 * set by its large batches; at one image its measured relative q95 is 32 % of 539 ms (171 ms), so
 * an additive tail put one image at 1,125 ms and kept the edge out of a 1000 ms plan.
 * @example
 * const m = new LatencyModel(profile.targets['tier-c1-m2048']);
 * m.observe(8, 210, false);
 * m.predict(16, 'q95'); // ms
 */
export class LatencyModel {
  private readonly fit: DecayedLinearFit;
  private readonly residuals: ResidualWindow;
  private readonly priorWeight: number;
  private coldMs: number;
  private coldSamples = 0;
  /** Tail quantiles: ms (additive) or fractions of l(b) (relative). */
  private q95 = 0;
  private q99 = 0;
  /** Multiplicative tail, and the prior's relative quantiles (from the profile's residuals). */
  private readonly relative: boolean;
  private readonly priorRel95: number = 0;
  private readonly priorRel99: number = 0;
  /** Warm samples since the quantiles were last recomputed (amortised refresh). */
  private stale = 0;

  constructor(
    readonly prior: TargetProfile,
    opts: LatencyModelOptions = {},
  ) {
    this.fit = new DecayedLinearFit(prior.aMs, prior.kMs, opts);
    this.residuals = new ResidualWindow(opts.residualWindow ?? 256);
    this.priorWeight = opts.priorResidualWeight ?? 20;
    this.coldMs = prior.coldStartMs;
    const rel = prior.relativeResiduals;
    this.relative = Array.isArray(rel) && rel.length >= 5;
    if (this.relative) {
      const s = Float64Array.from(rel!).sort();
      this.priorRel95 = Math.max(0, quantileSorted(s, 0.95) ?? 0);
      this.priorRel99 = Math.max(this.priorRel95, quantileSorted(s, 0.99) ?? 0);
    }
    this.refreshQuantiles();
  }

  /** The tail is multiplicative (the profile carried its relative residuals). */
  get relativeTail(): boolean {
    return this.relative;
  }

  get samples(): number {
    return this.fit.samples;
  }

  /** Extra latency of a batch on a cold instance. */
  get coldStartMs(): number {
    return this.coldMs;
  }

  /** Predicted batch latency at the mean or a quantile (warm instance). */
  predict(batchSize: number, quantile: LatencyQuantile = 'mean'): number {
    const m = this.fit.predict(batchSize);
    if (quantile === 'mean') return m;
    const t = quantile === 'q95' ? this.q95 : this.q99;
    return this.relative ? m * (1 + t) : m + t;
  }

  /** One finished batch: `serviceMs` is its time on the target, transfer excluded. */
  observe(batchSize: number, serviceMs: number, coldStart: boolean): void {
    if (!(batchSize >= 1) || !Number.isFinite(serviceMs) || serviceMs < 0) return;
    const expected = this.fit.predict(batchSize);
    if (coldStart) {
      // Cold calls would bias the warm line; they only teach the penalty.
      const excess = Math.max(0, serviceMs - expected);
      const w = Math.min(this.coldSamples, 9) + 1;
      this.coldMs = this.coldSamples === 0 && this.prior.coldStartMs === 0 ? excess : this.coldMs + (excess - this.coldMs) / (w + 1);
      this.coldSamples++;
      return;
    }
    this.residuals.push(this.relative ? (expected > 0 ? serviceMs / expected - 1 : 0) : serviceMs - expected);
    this.fit.observe(batchSize, serviceMs);
    // Sorting the window on every sample was ~10% of the agent's main thread. Recompute after
    // every sample while the window is small (the prior blend moves fast), then every
    // size/16 samples: O(log n) amortised per sample, and a quantile lags ≤ 6% of the window.
    if (++this.stale >= Math.max(1, this.residuals.size >> 4)) this.refreshQuantiles();
  }

  private refreshQuantiles(): void {
    this.stale = 0;
    const n = this.residuals.size;
    const emp = this.residuals.quantiles();
    const w0 = this.priorWeight;
    const p95 = this.relative ? this.priorRel95 : this.prior.residualQ95Ms;
    const p99 = this.relative ? this.priorRel99 : this.prior.residualQ99Ms;
    // Blend toward the profile while samples are few; never below zero.
    this.q95 = Math.max(0, (w0 * p95 + n * emp.q95) / (w0 + n));
    this.q99 = Math.max(this.q95, (w0 * p99 + n * emp.q99) / (w0 + n));
  }

  snapshot(): LatencyFitSnapshot {
    // A relative tail is reported at one item.
    const at1 = this.relative ? this.fit.predict(1) : 1;
    return { aMs: this.fit.a, kMs: this.fit.k, q95Ms: this.q95 * at1, q99Ms: this.q99 * at1, coldStartMs: this.coldMs, samples: this.fit.samples };
  }
}
