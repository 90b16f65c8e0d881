/**
 * Conjugate observation models for BOCPD. Each keeps its sufficient statistics in columns (one
 * slot per tracked run length) so updates allocate nothing.
 */
import { logGamma } from './math.ts';
import { checkNumber } from './validate.ts';

/** What BOCPD needs of a conjugate model: per-slot prior, predictive, update, move. */
export interface ObservationModel {
  /** Make room for `capacity` slots. */
  resize(capacity: number): void;
  /** Put the prior into slot i. */
  setPrior(i: number): void;
  /** log p(x | slot i's posterior). */
  logPredictive(i: number, x: number): number;
  /** Absorb x into slot i. */
  update(i: number, x: number): void;
  /** Copy slot `from` into slot `to`. */
  move(from: number, to: number): void;
  /** Predictive mean / variance of the next observation under slot i. */
  mean(i: number): number;
  variance(i: number): number;
  priorMean(): number;
  priorVariance(): number;
}

/**
 * log density of a Student-t with ν = 2a degrees of freedom at distance `d` from its location,
 * given ν·scale² and lgamma(a + ½) − lgamma(a) (callers cache it: it depends only on a).
 */
export function studentTLogPdf(d: number, a: number, nuScale2: number, lgammaRatio: number): number {
  return lgammaRatio - 0.5 * Math.log(Math.PI * nuScale2) - (a + 0.5) * Math.log1p((d * d) / nuScale2);
}

/** Normal–Gamma prior on (mean, precision) of Gaussian data. */
export interface NormalGammaPrior {
  /** Prior mean. @default 0 */
  readonly mu: number;
  /** Pseudo-observations behind the mean. @default 1 */
  readonly kappa: number;
  /** Shape of the precision's Gamma. @default 1 */
  readonly alpha: number;
  /** Rate of the precision's Gamma (α/β is the prior precision). @default 1 */
  readonly beta: number;
}

/**
 * Normal observations, unknown mean and variance; the predictive is a Student-t with 2α
 * degrees of freedom, location μ and scale² β(κ+1)/(ακ).
 */
export class NormalGammaModel implements ObservationModel {
  readonly prior: NormalGammaPrior;
  private mu = new Float64Array(0);
  private kappa = new Float64Array(0);
  private alpha = new Float64Array(0);
  private beta = new Float64Array(0);
  private count = new Float64Array(0);
  /** lgamma(α + ½) − lgamma(α) by observation count (α depends only on the count); NaN = not yet. */
  private readonly constByCount = new Float64Array(1 << 16).fill(Number.NaN);

  constructor(prior: Partial<NormalGammaPrior> = {}) {
    this.prior = {
      mu: checkNumber('mu', prior.mu ?? 0, -Infinity),
      kappa: checkNumber('kappa', prior.kappa ?? 1, 0, Infinity, true),
      alpha: checkNumber('alpha', prior.alpha ?? 1, 0, Infinity, true),
      beta: checkNumber('beta', prior.beta ?? 1, 0, Infinity, true),
    };
  }

  resize(capacity: number): void {
    this.mu = new Float64Array(capacity);
    this.kappa = new Float64Array(capacity);
    this.alpha = new Float64Array(capacity);
    this.beta = new Float64Array(capacity);
    this.count = new Float64Array(capacity);
  }

  setPrior(i: number): void {
    this.mu[i] = this.prior.mu;
    this.kappa[i] = this.prior.kappa;
    this.alpha[i] = this.prior.alpha;
    this.beta[i] = this.prior.beta;
    this.count[i] = 0;
  }

  private gammaConst(c: number): number {
    if (c < this.constByCount.length) {
      const v = this.constByCount[c];
      if (v === v) return v; // not NaN
    }
    const a = this.prior.alpha + c / 2;
    // Long runs: the asymptotic series ½ln a − 1/(8a) + 1/(192a³) is exact to ~1e-15 here.
    const v = a > 2000 ? 0.5 * Math.log(a) - 1 / (8 * a) + 1 / (192 * a * a * a) : logGamma(a + 0.5) - logGamma(a);
    if (c < this.constByCount.length) this.constByCount[c] = v;
    return v;
  }

  logPredictive(i: number, x: number): number {
    const k = this.kappa[i];
    const a = this.alpha[i];
    const b = this.beta[i];
    const d = x - this.mu[i];
    // ν·scale² = 2β(κ+1)/κ
    return studentTLogPdf(d, a, (2 * b * (k + 1)) / k, this.gammaConst(this.count[i]));
  }

  update(i: number, x: number): void {
    const k = this.kappa[i];
    const mu = this.mu[i];
    const d = x - mu;
    this.beta[i] += (k * d * d) / (2 * (k + 1));
    this.mu[i] = (k * mu + x) / (k + 1);
    this.kappa[i] = k + 1;
    this.alpha[i] += 0.5;
    this.count[i] += 1;
  }

  move(from: number, to: number): void {
    this.mu[to] = this.mu[from];
    this.kappa[to] = this.kappa[from];
    this.alpha[to] = this.alpha[from];
    this.beta[to] = this.beta[from];
    this.count[to] = this.count[from];
  }

  mean(i: number): number {
    return this.mu[i];
  }

  /** Student-t variance ν/(ν−2)·scale² (infinite while α ≤ 1). */
  variance(i: number): number {
    const a = this.alpha[i];
    if (a <= 1) return Infinity;
    return (this.beta[i] * (this.kappa[i] + 1)) / (this.kappa[i] * (a - 1));
  }

  priorMean(): number {
    return this.prior.mu;
  }

  priorVariance(): number {
    const { alpha: a, beta: b, kappa: k } = this.prior;
    return a <= 1 ? Infinity : (b * (k + 1)) / (k * (a - 1));
  }
}

/** Gamma prior on a Poisson rate (per observation interval). */
export interface PoissonGammaPrior {
  /** Shape. @default 1 */
  readonly alpha: number;
  /** Rate (pseudo-intervals observed). @default 0.1 */
  readonly beta: number;
}

/**
 * Poisson counts with a Gamma prior on the rate; the predictive is negative binomial:
 * p(k) = Γ(k+α)/(Γ(α) k!) · (β/(β+1))^α · (1/(β+1))^k.
 */
export class PoissonGammaModel implements ObservationModel {
  readonly prior: PoissonGammaPrior;
  private alpha = new Float64Array(0);
  private beta = new Float64Array(0);
  /** Per slot: lgamma(α), log(β/(β+1)), log(β+1) — so a predictive costs one lgamma. */
  private lgA = new Float64Array(0);
  private logRatio = new Float64Array(0);
  private log1pB = new Float64Array(0);
  /** lgamma(x + α) from the last predictive of each slot, reused by update(). */
  private lgXA = new Float64Array(0);
  private lastX = Number.NaN;
  private lgX1 = 0;
  private readonly lgammaAlpha0: number;

  constructor(prior: Partial<PoissonGammaPrior> = {}) {
    this.prior = {
      alpha: checkNumber('alpha', prior.alpha ?? 1, 0, Infinity, true),
      beta: checkNumber('beta', prior.beta ?? 0.1, 0, Infinity, true),
    };
    this.lgammaAlpha0 = logGamma(this.prior.alpha);
  }

  resize(capacity: number): void {
    this.alpha = new Float64Array(capacity);
    this.beta = new Float64Array(capacity);
    this.lgA = new Float64Array(capacity);
    this.logRatio = new Float64Array(capacity);
    this.log1pB = new Float64Array(capacity);
    this.lgXA = new Float64Array(capacity).fill(Number.NaN);
  }

  private setBeta(i: number, b: number): void {
    this.beta[i] = b;
    this.logRatio[i] = Math.log(b / (b + 1));
    this.log1pB[i] = Math.log1p(b);
  }

  setPrior(i: number): void {
    this.alpha[i] = this.prior.alpha;
    this.lgA[i] = this.lgammaAlpha0;
    this.setBeta(i, this.prior.beta);
  }

  logPredictive(i: number, x: number): number {
    if (x < 0) return -Infinity;
    if (x !== this.lastX) {
      this.lastX = x;
      this.lgX1 = logGamma(x + 1);
    }
    const a = this.alpha[i];
    const lgXA = logGamma(x + a);
    this.lgXA[i] = lgXA;
    return lgXA - this.lgA[i] - this.lgX1 + a * this.logRatio[i] - x * this.log1pB[i];
  }

  update(i: number, x: number): void {
    const a = this.alpha[i] + x;
    // update() follows logPredictive(i, x) in BOCPD: reuse its lgamma(x + α).
    this.lgA[i] = x === this.lastX && this.lgXA[i] === this.lgXA[i] ? this.lgXA[i] : logGamma(a);
    this.lgXA[i] = Number.NaN;
    this.alpha[i] = a;
    this.setBeta(i, this.beta[i] + 1);
  }

  move(from: number, to: number): void {
    this.alpha[to] = this.alpha[from];
    this.beta[to] = this.beta[from];
    this.lgA[to] = this.lgA[from];
    this.logRatio[to] = this.logRatio[from];
    this.log1pB[to] = this.log1pB[from];
    this.lgXA[to] = this.lgXA[from];
  }

  mean(i: number): number {
    return this.alpha[i] / this.beta[i];
  }

  /** Negative-binomial predictive variance α/β·(1 + 1/β). */
  variance(i: number): number {
    const b = this.beta[i];
    return (this.alpha[i] / b) * (1 + 1 / b);
  }

  /** Posterior of the rate itself (mean α/β, sd √α/β) in slot i. */
  rate(i: number): { mean: number; sd: number } {
    return { mean: this.alpha[i] / this.beta[i], sd: Math.sqrt(this.alpha[i]) / this.beta[i] };
  }

  priorMean(): number {
    return this.prior.alpha / this.prior.beta;
  }

  priorVariance(): number {
    const { alpha: a, beta: b } = this.prior;
    return (a / b) * (1 + 1 / b);
  }
}
