/**
 * Over-dispersed counts for BOCPD: within a segment, counts per tick are negative binomial
 * (a Gamma–Poisson mixture: each tick's rate is itself Gamma-distributed around the segment's
 * mean λ, so Var = φ·λ with dispersion φ ≥ 1), with a conjugate Beta prior on p = r / (r + λ),
 * r = λ / (φ − 1). φ is *not* a prior choice: it is learned online from the stream's own
 * tick-to-tick variation ({@link DispersionEstimator}), so bursty traffic is read as noise of
 * its measured size, and a stream as regular as Poisson gets φ = 1 (r → ∞: Poisson–Gamma).
 *
 * Var = φλ at every rate (a stream sped up ×5 keeps its φ, as a time-compressed trace does), so
 * each segment takes r from its own mean. Given r, after n ticks with total S the posterior is
 * Beta(1 + (w + n)·r, w·m + S) (the prior: w pseudo-ticks at mean m), whose rate mean
 * (w·m + S)/(w + n) does not depend on r, and the predictive is beta–negative-binomial:
 * p(k) = Γ(k+r) / (Γ(r) k!) · B(a + r, b + k) / B(a, b). Slots keep (n, S) only, so a new φ
 * applies to every segment at once.
 */
import { logGamma } from './math.ts';
import type { ObservationModel } from './observation-models.ts';
import { checkNumber } from './validate.ts';

/** Options of {@link DispersionEstimator}. */
export interface DispersionOptions {
  /** Ticks over which the estimate forgets (e-folding). @default 600 */
  readonly memoryTicks?: number;
  /** Prior weight of "Poisson" (variance = mean), in ticks. @default 30 */
  readonly priorTicks?: number;
  /** A tick-to-tick change whose square exceeds this many times the current variance estimate is clipped (a rate step is not noise). @default 9 */
  readonly clip?: number;
}

/**
 * Variance-to-mean ratio φ of counts per tick from consecutive differences, E[(kₜ − kₜ₋₁)²] =
 * 2·Var for a stationary stream, so slow rate drifts and steps barely enter (a step is one
 * difference, and clipped). Exponentially forgetting; starts at φ = 1 (Poisson).
 */
export class DispersionEstimator {
  readonly memoryTicks: number;
  readonly priorTicks: number;
  readonly clip: number;
  private readonly decay: number;
  private sumVar = 0;
  private sumMean = 0;
  private weight = 0;
  private last = Number.NaN;

  constructor(opts: DispersionOptions = {}) {
    this.memoryTicks = checkNumber('memoryTicks', opts.memoryTicks ?? 600, 1);
    this.priorTicks = checkNumber('priorTicks', opts.priorTicks ?? 30, 0, Infinity, true);
    this.clip = checkNumber('clip', opts.clip ?? 9, 1);
    this.decay = 1 - 1 / this.memoryTicks;
  }

  /** Absorb one tick's count. */
  observe(count: number): void {
    const prev = this.last;
    this.last = count;
    if (!(prev >= 0)) return;
    const mean = (count + prev) / 2;
    const d = count - prev;
    // Half the squared difference estimates the variance; clip at `clip` × the current estimate.
    const v = Math.min((d * d) / 2, this.clip * Math.max(this.dispersion * mean, 1));
    this.sumVar = this.sumVar * this.decay + v;
    this.sumMean = this.sumMean * this.decay + mean;
    this.weight = this.weight * this.decay + 1;
  }

  /** Ticks behind the estimate (decayed). */
  get ticks(): number {
    return this.weight;
  }

  /** Mean count per tick over the memory (NaN before two ticks). */
  get meanCount(): number {
    return this.weight > 0 ? this.sumMean / this.weight : Number.NaN;
  }

  /**
   * φ = Var / mean (1 = Poisson), the data's ratio shrunk toward 1 by `priorTicks` ticks of a
   * Poisson stream at the same level; never below 1 (under-dispersion is read as Poisson).
   */
  get dispersion(): number {
    if (!(this.weight > 0)) return 1;
    const prior = this.priorTicks * (this.sumMean / this.weight);
    const den = this.sumMean + prior;
    return den > 0 ? Math.max(1, (this.sumVar + prior) / den) : 1;
  }
}

/** A new segment's prior: its mean count per tick, worth `weightTicks` ticks. */
export interface NegativeBinomialPrior {
  /** Prior mean count per tick. @default 20 */
  readonly meanCount: number;
  /** Pseudo-ticks behind it (1 / meanCount = the weight of one arrival). @default 1 */
  readonly weightTicks: number;
}

/** Shapes beyond this many times the mean count are numerically Poisson; capping keeps lgamma differences accurate. */
const MAX_SHAPE_FACTOR = 1e4;

/**
 * Negative-binomial counts with a learned dispersion φ (set by the owner with {@link setDispersion}).
 * @example
 * const nb = new NegativeBinomialModel({ meanCount: 20, weightTicks: 1 });
 * const d = new ChangeDetector(nb, { hazard: 1 / 3600 });
 * nb.setDispersion(phi.dispersion); d.update(count); phi.observe(count);
 * nb.setSegmentPrior({ meanCount: phi.meanCount, weightTicks: 1 / phi.meanCount }); // empirical Bayes
 */
export class NegativeBinomialModel implements ObservationModel {
  private segmentPrior: NegativeBinomialPrior;
  private phi = 1;
  private n = new Float64Array(0);
  private s = new Float64Array(0);
  private lastX = Number.NaN;
  private lgX1 = 0;

  constructor(prior: Partial<NegativeBinomialPrior> = {}) {
    this.segmentPrior = { meanCount: 20, weightTicks: 1 };
    this.setSegmentPrior(prior);
  }

  /** The prior new segments start from. */
  get prior(): NegativeBinomialPrior {
    return this.segmentPrior;
  }

  /**
   * Change the prior of segments that start from now on (running segments keep theirs: each
   * slot holds its prior as pseudo-ticks and pseudo-counts).
   */
  setSegmentPrior(prior: Partial<NegativeBinomialPrior>): void {
    this.segmentPrior = {
      meanCount: checkNumber('meanCount', prior.meanCount ?? this.segmentPrior.meanCount, 0, Infinity, true),
      weightTicks: checkNumber('weightTicks', prior.weightTicks ?? this.segmentPrior.weightTicks, 0, Infinity, true),
    };
  }

  /** The dispersion φ = Var / mean in use (1 = Poisson). */
  get dispersion(): number {
    return this.phi;
  }

  /** Set φ for every segment. */
  setDispersion(phi: number): void {
    this.phi = checkNumber('dispersion', phi, 1);
  }

  /** Shape r = λ/(φ − 1) for a segment of mean count λ, capped where NB is numerically Poisson. */
  private shapeFor(lambda: number): number {
    const cap = MAX_SHAPE_FACTOR * Math.max(lambda, 1);
    const excess = this.phi - 1;
    return excess * cap > lambda ? lambda / excess : cap;
  }

  resize(capacity: number): void {
    this.n = new Float64Array(capacity);
    this.s = new Float64Array(capacity);
  }

  /** Slot i holds (pseudo-)ticks n and counts S, the prior included. */
  setPrior(i: number): void {
    this.n[i] = this.segmentPrior.weightTicks;
    this.s[i] = this.segmentPrior.weightTicks * this.segmentPrior.meanCount;
  }

  logPredictive(i: number, x: number): number {
    if (x < 0) return -Infinity;
    if (x !== this.lastX) {
      this.lastX = x;
      this.lgX1 = logGamma(x + 1);
    }
    const w = this.n[i];
    const b = this.s[i];
    const r = this.shapeFor(b / w);
    const a = 1 + w * r;
    // log[Γ(x+r) / (Γ(r) x!)] + log B(a + r, b + x) − log B(a, b)
    return (
      logGamma(x + r) - logGamma(r) - this.lgX1 +
      logGamma(a + r) + logGamma(b + x) - logGamma(a + b + r + x) -
      (logGamma(a) + logGamma(b) - logGamma(a + b))
    );
  }

  update(i: number, x: number): void {
    this.n[i] += 1;
    this.s[i] += x;
  }

  move(from: number, to: number): void {
    this.n[to] = this.n[from];
    this.s[to] = this.s[from];
  }

  /** Posterior of the segment's mean count per tick: λ = r(1−p)/p, p ~ Beta(a, b) (a beta-prime law). */
  rate(i: number): { mean: number; sd: number } {
    return this.rateAfter(this.n[i], this.s[i]);
  }

  private rateAfter(w: number, b: number): { mean: number; sd: number } {
    const r = this.shapeFor(b / w);
    const a = 1 + w * r;
    const v = a > 2 ? (r * r * b * (a + b - 1)) / ((a - 2) * (a - 1) * (a - 1)) : Infinity;
    return { mean: b / w, sd: Math.sqrt(v) };
  }

  mean(i: number): number {
    return this.rate(i).mean;
  }

  /** Predictive variance: φ·E[λ] plus the rate's own posterior variance. */
  variance(i: number): number {
    const { mean, sd } = this.rate(i);
    return this.phi * mean + sd * sd;
  }

  priorMean(): number {
    return this.segmentPrior.meanCount;
  }

  priorVariance(): number {
    const { mean, sd } = this.rateAfter(this.segmentPrior.weightTicks, this.segmentPrior.weightTicks * this.segmentPrior.meanCount);
    return this.phi * mean + sd * sd;
  }
}
