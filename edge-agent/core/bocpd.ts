/**
 * Bayesian online changepoint detection (Adams & MacKay 2007) with a constant hazard, in log
 * space, with the run-length posterior truncated to the K most probable run lengths (and those
 * under a relative probability floor), so one update costs O(K).
 *
 * Convention: after t observations, run length r means "the current segment holds the last r
 * observations" (1 ≤ r ≤ t). A new segment's first observation is scored by the prior
 * predictive, so P(r_t = 1) ∝ H · p_prior(x_t) and P(r_t = r + 1) ∝ (1 − H) · P(r_{t−1} = r) ·
 * p(x_t | the r previous observations).
 */
import { logAddExp } from './math.ts';
import { checkInt, checkNumber, checkProbability } from './validate.ts';
import type { ObservationModel } from './observation-models.ts';

/** Options of {@link Bocpd}. */
export interface BocpdOptions {
  /** Constant hazard H = 1 / expected segment length (per observation). @default 1/250 */
  readonly hazard?: number;
  /** K: run lengths kept after each update (the most probable). @default 100 */
  readonly maxRunLengths?: number;
  /** Run lengths whose posterior falls under this are dropped (0 keeps all K). @default 1e-12 */
  readonly minProbability?: number;
}

/** One posterior entry, for inspection and tests. */
export interface RunLengthProbability {
  readonly runLength: number;
  readonly probability: number;
}

/**
 * The run-length posterior of one stream.
 * @example
 * const b = new Bocpd(new NormalGammaModel(), { hazard: 1 / 100 });
 * for (const x of xs) b.update(x);
 * b.probabilityOfChangeWithin(5); b.mapRunLength();
 */
export class Bocpd {
  readonly hazard: number;
  readonly maxRunLengths: number;
  readonly minProbability: number;
  private readonly logH: number;
  private readonly log1mH: number;
  private readonly logMinP: number;
  private runLen: Float64Array;
  private logp: Float64Array;
  private n = 0;
  private steps = 0;
  private logEvidenceSum = 0;

  constructor(
    readonly model: ObservationModel,
    opts: BocpdOptions = {},
  ) {
    this.hazard = checkProbability('hazard', opts.hazard ?? 1 / 250);
    this.maxRunLengths = checkInt('maxRunLengths', opts.maxRunLengths ?? 100, 1);
    this.minProbability = checkNumber('minProbability', opts.minProbability ?? 1e-12, 0, 0.5);
    this.logH = Math.log(this.hazard);
    this.log1mH = Math.log1p(-this.hazard);
    this.logMinP = this.minProbability > 0 ? Math.log(this.minProbability) : -Infinity;
    // +1: the new run length lives in the extra slot until truncation.
    const cap = this.maxRunLengths + 1;
    this.runLen = new Float64Array(cap);
    this.logp = new Float64Array(cap);
    model.resize(cap);
  }

  /** Observations seen since construction or the last reset. */
  get t(): number {
    return this.steps;
  }

  /** Run lengths currently tracked (≤ K). */
  get size(): number {
    return this.n;
  }

  /** log p(x_1..x_t) under the (truncated) model; for tests and model comparison. */
  get logEvidence(): number {
    return this.logEvidenceSum;
  }

  /** Forget everything (the next observation starts a new, certain segment). */
  reset(): void {
    this.n = 0;
    this.steps = 0;
    this.logEvidenceSum = 0;
  }

  /** Absorb one observation. Non-finite values are ignored (the caller keeps its own index). */
  update(x: number): void {
    if (!Number.isFinite(x)) return;
    const m = this.model;
    const n = this.n;
    this.steps++;
    if (n === 0) {
      m.setPrior(0);
      this.logEvidenceSum += m.logPredictive(0, x);
      m.update(0, x);
      this.runLen[0] = 1;
      this.logp[0] = 0;
      this.n = 1;
      return;
    }
    // New segment starting at x: prior predictive times the hazard (the old posterior sums to 1).
    m.setPrior(n);
    this.logp[n] = this.logH + m.logPredictive(n, x);
    let maxLp = this.logp[n];
    for (let i = 0; i < n; i++) {
      const lp = this.logp[i] + m.logPredictive(i, x) + this.log1mH;
      this.logp[i] = lp;
      if (lp > maxLp) maxLp = lp;
      this.runLen[i] += 1;
      m.update(i, x);
    }
    m.update(n, x);
    this.runLen[n] = 1;
    // log-sum-exp with one exp per entry.
    let sum = 0;
    for (let i = 0; i <= n; i++) sum += Math.exp(this.logp[i] - maxLp);
    const logZ = maxLp + Math.log(sum);
    this.logEvidenceSum += logZ;
    let count = n + 1;
    for (let i = 0; i < count; i++) this.logp[i] -= logZ;
    // Keep the K most probable: only one entry was added, so dropping the least probable suffices.
    if (count > this.maxRunLengths) {
      let worst = 0;
      for (let i = 1; i < count; i++) if (this.logp[i] < this.logp[worst]) worst = i;
      this.removeAt(worst, count);
      count--;
    }
    if (this.logMinP > -Infinity && count > 1) {
      for (let i = count - 1; i >= 0 && count > 1; i--) {
        if (this.logp[i] < this.logMinP) {
          this.removeAt(i, count);
          count--;
        }
      }
    }
    this.n = count;
    if (count < n + 1) this.renormalise();
  }

  private removeAt(i: number, count: number): void {
    const last = count - 1;
    if (i !== last) {
      this.runLen[i] = this.runLen[last];
      this.logp[i] = this.logp[last];
      this.model.move(last, i);
    }
  }

  private renormalise(): void {
    let z = -Infinity;
    for (let i = 0; i < this.n; i++) z = logAddExp(z, this.logp[i]);
    for (let i = 0; i < this.n; i++) this.logp[i] -= z;
  }

  private mapIndex(): number {
    let best = 0;
    for (let i = 1; i < this.n; i++) if (this.logp[i] > this.logp[best]) best = i;
    return best;
  }

  /** Most probable run length (0 before the first observation). */
  mapRunLength(): number {
    return this.n === 0 ? 0 : this.runLen[this.mapIndex()];
  }

  /**
   * P(the current segment began within the last `windowSteps` observations), excluding the
   * initial segment (which began at the first observation and is not a change).
   * `minRunLength` > 1 ignores the newest run lengths (confirmation: a single outlier is not a change).
   */
  probabilityOfChangeWithin(windowSteps: number, minRunLength = 1): number {
    let p = 0;
    for (let i = 0; i < this.n; i++) {
      const r = this.runLen[i];
      if (r >= minRunLength && r <= windowSteps && r < this.steps) p += Math.exp(this.logp[i]);
    }
    return p;
  }

  /** The most probable run length within [minRunLength, windowSteps] (excluding the initial segment), or 0. */
  mapRunLengthWithin(windowSteps: number, minRunLength = 1): number {
    let best = -1;
    for (let i = 0; i < this.n; i++) {
      const r = this.runLen[i];
      if (r >= minRunLength && r <= windowSteps && r < this.steps && (best < 0 || this.logp[i] > this.logp[best])) best = i;
    }
    return best < 0 ? 0 : this.runLen[best];
  }

  /** Predictive mean and variance of the next observation under the MAP segment. */
  predictive(): { mean: number; variance: number; runLength: number } {
    if (this.n === 0) return { mean: this.model.priorMean(), variance: this.model.priorVariance(), runLength: 0 };
    const i = this.mapIndex();
    return { mean: this.model.mean(i), variance: this.model.variance(i), runLength: this.runLen[i] };
  }

  /** Posterior parameter summary of the MAP segment (model-specific, e.g. a rate's mean and sd). */
  mapSegmentIndex(): number {
    return this.n === 0 ? -1 : this.mapIndex();
  }

  /** The run-length posterior, most probable first. */
  posterior(): RunLengthProbability[] {
    const out: RunLengthProbability[] = [];
    for (let i = 0; i < this.n; i++) out.push({ runLength: this.runLen[i], probability: Math.exp(this.logp[i]) });
    return out.sort((a, b) => b.probability - a.probability);
  }
}
