/**
 * Uplink model: transfer time of n bytes = rttMs + n·8000 / bandwidthBps (bandwidth in bits/s),
 * fitted online with exponential forgetting from observed calls. BOCPD watches log throughput
 * relative to the regime's reference line: x = log(transferMs / (rtt₀ + bytes·8000/bw₀)), where
 * (rtt₀, bw₀) is the fit frozen when the regime began. Relative to a fixed line, calls of every
 * batch size share one level and one (multiplicative) noise, so a new batch-size mix is not a
 * change; a new bandwidth is. When BOCPD fires, the fit is rebuilt from the new regime's calls
 * only and becomes the new reference. A failed call that spent long on the wire counts as a
 * (very low) throughput sample, so an outage is a change.
 */
import { ChangeDetector, estimatorDetectorOptions, type ChangeDetectorOptions } from './change-detector.ts';
import { DecayedLinearFit, ResidualWindow } from './linear-fit.ts';
import type { LatencyQuantile } from './latency-model.ts';
import { NormalGammaModel } from './observation-models.ts';
import { checkNumber } from './validate.ts';

/** Options of {@link LinkEstimator}. */
export interface LinkEstimatorOptions extends ChangeDetectorOptions {
  /** Prior round-trip time. @default 30 */
  readonly rttMs?: number;
  /** Prior uplink bandwidth, bits/s. @default 20e6 */
  readonly bandwidthBps?: number;
  /** Weight kept by older calls per new call. @default 0.9 */
  readonly forgetting?: number;
  /** Typical noise of log transfer time around the regime's line (natural log units). @default 0.25 */
  readonly logThroughputSd?: number;
}

/** JSON view of the link estimate. */
export interface LinkSnapshot {
  readonly rttMs: number;
  readonly bandwidthBps: number;
  readonly uplinkMbps: number;
  readonly samples: number;
  readonly runLength: number;
  readonly pChange: number;
  readonly residualQ95Ms: number;
  readonly residualQ99Ms: number;
}

interface Call {
  bytes: number;
  transferMs: number;
  ok: boolean;
}

const HISTORY = 128;
/** A call under this fraction of the predicted mean counts toward a stale-pessimism streak. */
const FAST_FRACTION = 0.5;
/** Consecutive such calls that start a new regime. */
const FAST_STREAK = 2;

/**
 * Online link estimator.
 * @example
 * const link = new LinkEstimator({ rttMs: 30, bandwidthBps: 20e6 });
 * if (link.observe(640_000, 290)) replan();
 * link.transferMs(320_000, 'q95');
 */
export class LinkEstimator {
  private readonly fit: DecayedLinearFit;
  private readonly residuals: ResidualWindow;
  private readonly detector: ChangeDetector;
  private readonly history: Call[] = [];
  private lastP = 0;
  private fastStreak = 0;
  private refA: number;
  private refK: number;

  constructor(opts: LinkEstimatorOptions = {}) {
    const rtt = checkNumber('rttMs', opts.rttMs ?? 30, 0);
    const bps = checkNumber('bandwidthBps', opts.bandwidthBps ?? 20e6, 0, Infinity, true);
    this.refA = rtt;
    this.refK = 8000 / bps;
    const sd = checkNumber('logThroughputSd', opts.logThroughputSd ?? 0.25, 0, Infinity, true);
    // Slope in ms per byte. The rtt prior is firm, the bandwidth prior weak (it moves).
    const forgetting = opts.forgetting ?? 0.9;
    this.fit = new DecayedLinearFit(rtt, 8000 / bps, { forgetting, priorWeightA: 4, priorWeightK: 0.02, xRef: 100_000 });
    // The spread forgets at the fit's rate: links are observed sparsely (probes every few s).
    this.residuals = new ResidualWindow(128, forgetting);
    const alpha = 3;
    this.detector = new ChangeDetector(new NormalGammaModel({ mu: 0, kappa: 0.05, alpha, beta: alpha * sd * sd }), estimatorDetectorOptions({ minGapSteps: 3, ...opts }, 1 / 500));
  }

  get rttMs(): number {
    return this.fit.a;
  }

  /** Current bandwidth estimate, bits/s. */
  get bandwidthBps(): number {
    return this.fit.k > 0 ? 8000 / this.fit.k : Infinity;
  }

  /** Predicted transfer time of `bytes` at the mean or a residual quantile. */
  transferMs(bytes: number, quantile: LatencyQuantile = 'mean'): number {
    const m = this.fit.predict(bytes);
    if (quantile === 'mean') return m;
    const q = this.residuals.quantiles();
    return m + Math.max(0, quantile === 'q95' ? q.q95 : q.q99);
  }

  /**
   * One call's transfer: `ok` false with a long `transferMs` is an outage sample.
   * @returns true when a link change was detected (the fit now holds only the new regime).
   */
  observe(bytes: number, transferMs: number, ok = true): boolean {
    if (!(bytes > 0) || !Number.isFinite(transferMs) || transferMs < 0) return false;
    const refMs = Math.max(this.refA + this.refK * bytes, 0.01);
    const step = this.detector.update(Math.log(Math.max(transferMs, 0.01) / refMs));
    this.lastP = step?.pChange ?? this.lastP;
    this.history.push({ bytes, transferMs, ok });
    if (this.history.length > HISTORY) this.history.shift();
    // Much faster than predicted, several calls in a row: the estimate is stale-pessimistic (a link
    // back from an outage). A pessimistic link is observed only by sparse probes, so waiting for
    // the detector would keep the cloud out for many probe periods; an optimistic one corrects
    // itself (traffic flows and is measured), so only this side gets the rule.
    this.fastStreak = ok && transferMs < FAST_FRACTION * this.fit.predict(bytes) ? this.fastStreak + 1 : 0;
    if (step?.changeAt != null || this.fastStreak >= FAST_STREAK) {
      // Old regime's calls stop counting: refit from the calls of the new segment only.
      const segment = step?.changeAt != null ? this.detector.bocpd.t - step.changeAt : this.fastStreak;
      this.refit(Math.min(this.history.length, segment));
      return true;
    }
    if (ok) this.absorb(bytes, transferMs);
    return false;
  }

  /** A new regime of the last `keep` calls: refit from them only; the refit is the detector's new reference. */
  private refit(keep: number): void {
    this.fit.reset();
    this.residuals.clear();
    for (const c of this.history.slice(this.history.length - keep)) if (c.ok) this.absorb(c.bytes, c.transferMs);
    this.refA = this.fit.a;
    this.refK = this.fit.k;
    this.detector.reset();
    this.fastStreak = 0;
  }

  private absorb(bytes: number, transferMs: number): void {
    this.residuals.push(transferMs - this.fit.predict(bytes));
    this.fit.observe(bytes, transferMs);
  }

  snapshot(): LinkSnapshot {
    const q = this.residuals.quantiles();
    const bw = this.bandwidthBps;
    return {
      rttMs: this.rttMs,
      bandwidthBps: Number.isFinite(bw) ? bw : Number.MAX_VALUE,
      uplinkMbps: Number.isFinite(bw) ? bw / 1e6 : Number.MAX_VALUE,
      samples: this.fit.samples,
      runLength: this.detector.bocpd.mapRunLength(),
      pChange: this.lastP,
      residualQ95Ms: Math.max(0, q.q95),
      residualQ99Ms: Math.max(0, q.q99),
    };
  }
}
