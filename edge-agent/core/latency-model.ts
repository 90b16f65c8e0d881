/**
 * Batch latency of one target: l(b) = a + k·b fitted online (RLS with forgetting, prior from the
 * profile), residual quantiles for the tail, and the cold-start penalty of a new instance.
 */
import type { TargetProfile } from '../../shared/profile.ts';
import { DecayedLinearFit, ResidualWindow, type LinearFitOptions } from './linear-fit.ts';

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
  private q95 = 0;
  private q99 = 0;
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
    this.refreshQuantiles();
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
    return quantile === 'q95' ? m + this.q95 : quantile === 'q99' ? m + this.q99 : m;
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
    this.residuals.push(serviceMs - expected);
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
    // Blend toward the profile while samples are few; never below zero.
    this.q95 = Math.max(0, (w0 * this.prior.residualQ95Ms + n * emp.q95) / (w0 + n));
    this.q99 = Math.max(this.q95, (w0 * this.prior.residualQ99Ms + n * emp.q99) / (w0 + n));
  }

  snapshot(): LatencyFitSnapshot {
    return { aMs: this.fit.a, kMs: this.fit.k, q95Ms: this.q95, q99Ms: this.q99, coldStartMs: this.coldMs, samples: this.fit.samples };
  }
}
