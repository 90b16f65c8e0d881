/**
 * A segment with its own straight line: y = a + b·τ + ε, τ = 0, 1, … the position inside the
 * segment, ε ~ N(0, σ²), with a conjugate Normal–inverse-Gamma prior on (a, b, σ²). A series
 * that trends (population, inventories, ozone) is then one segment per *slope*, not a staircase
 * of level shifts. The level-only {@link NormalGammaModel} is the special case b ≡ 0.
 *
 * Per slot the sufficient statistics are n, Σy, Σy², Στy (Στ and Στ² follow from n), so an
 * update is O(1) and allocates nothing. Posterior (Λ the precision in units of 1/σ²):
 *   Λₙ = Λ₀ + XᵀX,  mₙ = Λₙ⁻¹(Λ₀m₀ + Xᵀy),  aₙ = a₀ + n/2,
 *   bₙ = b₀ + ½(Σy² + m₀ᵀΛ₀m₀ − mₙᵀΛₙmₙ);
 * the predictive at τ = n is a Student-t with 2aₙ degrees of freedom, location φᵀmₙ and
 * scale² (bₙ/aₙ)(1 + φᵀΛₙ⁻¹φ), φ = (1, n).
 */
import { logGamma } from './math.ts';
import { studentTLogPdf, type ObservationModel } from './observation-models.ts';
import { checkNumber } from './validate.ts';

/** Prior of {@link LinearTrendModel} (data in the units the caller feeds, typically standardised). */
export interface LinearTrendPrior {
  /** Prior mean of the segment's level at its first observation. @default 0 */
  readonly mu: number;
  /** Pseudo-observations behind that level. @default 0.2 */
  readonly kappa: number;
  /** Prior sd of the slope per observation, in noise sds (0.05 = a drift of one sd per 20 steps is typical). @default 0.05 */
  readonly slopeSd: number;
  /** Shape of the noise precision's Gamma. @default 2 */
  readonly alpha: number;
  /** Rate of the noise precision's Gamma (α/β is the prior precision). @default 2 */
  readonly beta: number;
}

/**
 * Bayesian linear regression on the position inside the segment.
 * @example
 * const d = new ChangeDetector(new LinearTrendModel({ slopeSd: 0.05 }), { hazard: 1 / 500 });
 */
export class LinearTrendModel implements ObservationModel {
  readonly prior: LinearTrendPrior;
  private readonly slopePrecision: number;
  private n = new Float64Array(0);
  private sy = new Float64Array(0);
  private syy = new Float64Array(0);
  private sty = new Float64Array(0);
  /** lgamma(a + ½) − lgamma(a) by observation count (a depends only on the count); NaN = not yet. */
  private readonly constByCount = new Float64Array(1 << 16).fill(Number.NaN);

  constructor(prior: Partial<LinearTrendPrior> = {}) {
    this.prior = {
      mu: checkNumber('mu', prior.mu ?? 0, -Infinity),
      kappa: checkNumber('kappa', prior.kappa ?? 0.2, 0, Infinity, true),
      slopeSd: checkNumber('slopeSd', prior.slopeSd ?? 0.05, 0, Infinity, true),
      alpha: checkNumber('alpha', prior.alpha ?? 2, 0, Infinity, true),
      beta: checkNumber('beta', prior.beta ?? 2, 0, Infinity, true),
    };
    this.slopePrecision = 1 / (this.prior.slopeSd * this.prior.slopeSd);
  }

  resize(capacity: number): void {
    this.n = new Float64Array(capacity);
    this.sy = new Float64Array(capacity);
    this.syy = new Float64Array(capacity);
    this.sty = new Float64Array(capacity);
  }

  setPrior(i: number): void {
    this.n[i] = 0;
    this.sy[i] = 0;
    this.syy[i] = 0;
    this.sty[i] = 0;
  }

  private gammaConst(c: number): number {
    if (c < this.constByCount.length) {
      const v = this.constByCount[c];
      if (v === v) return v;
    }
    const a = this.prior.alpha + c / 2;
    const v = a > 2000 ? 0.5 * Math.log(a) - 1 / (8 * a) + 1 / (192 * a * a * a) : logGamma(a + 0.5) - logGamma(a);
    if (c < this.constByCount.length) this.constByCount[c] = v;
    return v;
  }

  // Scratch output of posterior(): the predictive of the slot it was last called for.
  private loc = 0;
  private nuS2 = 1;
  private a = 1;
  private level = 0;
  private slope = 0;

  /**
   * Posterior of slot i into the scratch fields: location and ν·scale² of the predictive at
   * τ = n, a = α + n/2, and the line. Written out for 2×2 (Λₙ = [[p, q], [q, r]]); no allocation.
   */
  private posterior(i: number): void {
    const { mu, kappa, alpha, beta } = this.prior;
    const n = this.n[i];
    const q = (n * (n - 1)) / 2;
    const p = kappa + n;
    const r = this.slopePrecision + ((n - 1) * n * (2 * n - 1)) / 6;
    const det = p * r - q * q;
    const u = kappa * mu + this.sy[i];
    const v = this.sty[i];
    const level = (r * u - q * v) / det;
    const slope = (p * v - q * u) / det;
    const a = alpha + n / 2;
    const b = beta + 0.5 * Math.max(0, this.syy[i] + kappa * mu * mu - (u * level + v * slope));
    // φ = (1, n): φᵀΛₙ⁻¹φ = (r − 2qn + pn²) / det; ν·scale² = 2a · (b/a)(1 + φᵀΛₙ⁻¹φ).
    this.nuS2 = 2 * b * (1 + (r - 2 * q * n + p * n * n) / det);
    this.loc = level + slope * n;
    this.a = a;
    this.level = level;
    this.slope = slope;
  }

  logPredictive(i: number, x: number): number {
    this.posterior(i);
    return studentTLogPdf(x - this.loc, this.a, this.nuS2, this.gammaConst(this.n[i]));
  }

  update(i: number, x: number): void {
    this.sty[i] += this.n[i] * x;
    this.sy[i] += x;
    this.syy[i] += x * x;
    this.n[i] += 1;
  }

  move(from: number, to: number): void {
    this.n[to] = this.n[from];
    this.sy[to] = this.sy[from];
    this.syy[to] = this.syy[from];
    this.sty[to] = this.sty[from];
  }

  mean(i: number): number {
    this.posterior(i);
    return this.loc;
  }

  /** Student-t variance ν/(ν−2)·scale² (infinite while a ≤ 1). */
  variance(i: number): number {
    this.posterior(i);
    return this.a <= 1 ? Infinity : this.nuS2 / (2 * this.a - 2);
  }

  /** The segment's fitted line (level at its first observation, slope per observation). */
  line(i: number): { level: number; slope: number } {
    this.posterior(i);
    return { level: this.level, slope: this.slope };
  }

  priorMean(): number {
    return this.prior.mu;
  }

  priorVariance(): number {
    const { alpha: a, beta: b, kappa: k } = this.prior;
    return a <= 1 ? Infinity : (b * (k + 1)) / (k * (a - 1));
  }
}
