/**
 * Outlier-robust observations: each observation is, with probability ε, an outlier drawn from a
 * Cauchy centred on the segment's prediction with `outlierScale` times its predictive sd, and
 * otherwise the wrapped model's observation. The predictive is the two-part mixture; an
 * observation the mixture calls an outlier (responsibility > ½) is not absorbed into the
 * segment's statistics (a hard-EM step, which keeps every slot conjugate and O(1)). One wild
 * value then costs a segment log ε instead of looking like a new regime; a real shift still
 * wins, because the new segment explains every later observation and pays ε for none.
 */
import { logAddExp } from './math.ts';
import type { ObservationModel } from './observation-models.ts';
import { checkInt, checkNumber } from './validate.ts';

/** Options of {@link RobustModel}. */
export interface RobustModelOptions {
  /** ε: prior probability that an observation is an outlier. @default 0.01 */
  readonly outlierProbability?: number;
  /** Cauchy scale of an outlier, in predictive sds. @default 10 */
  readonly outlierScale?: number;
  /**
   * Outliers in a row a segment may explain away; the next one is scored by the segment model
   * alone. Without this bound an old segment explains a new regime as "all outliers" for as long
   * as each point costs it less than a fresh segment, and a slope change is found late; but on
   * the TCPD series a bound of 1 scored lower (bench:cpd grid), so the default is unbounded.
   * @default 65535
   */
  readonly maxOutlierRun?: number;
}

/**
 * Wraps a conjugate model with an outlier component.
 * @example
 * new ChangeDetector(new RobustModel(new NormalGammaModel()), { hazard: 1 / 500 });
 */
export class RobustModel implements ObservationModel {
  readonly outlierProbability: number;
  readonly outlierScale: number;
  readonly maxOutlierRun: number;
  private readonly logInlier: number;
  private readonly logOutlier: number;
  /** Per slot: whether the last scored observation was called an outlier. */
  private outlier = new Uint8Array(0);
  /** Per slot: outliers in a row just before the observation being scored. */
  private run = new Uint16Array(0);

  constructor(
    readonly inner: ObservationModel,
    opts: RobustModelOptions = {},
  ) {
    this.outlierProbability = checkNumber('outlierProbability', opts.outlierProbability ?? 0.01, 0, 0.5, true);
    this.outlierScale = checkNumber('outlierScale', opts.outlierScale ?? 10, 0, Infinity, true);
    this.maxOutlierRun = checkInt('maxOutlierRun', opts.maxOutlierRun ?? 65_535, 1, 65_535);
    this.logInlier = Math.log1p(-this.outlierProbability);
    this.logOutlier = Math.log(this.outlierProbability);
  }

  resize(capacity: number): void {
    this.inner.resize(capacity);
    this.outlier = new Uint8Array(capacity);
    this.run = new Uint16Array(capacity);
  }

  setPrior(i: number): void {
    this.inner.setPrior(i);
    this.outlier[i] = 0;
    this.run[i] = 0;
  }

  logPredictive(i: number, x: number): number {
    const inl = this.logInlier + this.inner.logPredictive(i, x);
    const v = this.inner.variance(i);
    // Before the segment has a finite variance the outlier part cannot be scaled: no outliers yet.
    if (!Number.isFinite(v) || this.run[i] >= this.maxOutlierRun) {
      this.outlier[i] = 0;
      return inl;
    }
    const s = this.outlierScale * Math.sqrt(v);
    const d = (x - this.inner.mean(i)) / s;
    const out = this.logOutlier - Math.log(Math.PI * s) - Math.log1p(d * d);
    this.outlier[i] = out > inl ? 1 : 0;
    return logAddExp(inl, out);
  }

  update(i: number, x: number): void {
    if (this.outlier[i] === 0) {
      this.inner.update(i, x);
      this.run[i] = 0;
    } else this.run[i]++;
    this.outlier[i] = 0;
  }

  move(from: number, to: number): void {
    this.inner.move(from, to);
    this.outlier[to] = this.outlier[from];
    this.run[to] = this.run[from];
  }

  mean(i: number): number {
    return this.inner.mean(i);
  }

  variance(i: number): number {
    return this.inner.variance(i);
  }

  priorMean(): number {
    return this.inner.priorMean();
  }

  priorVariance(): number {
    return this.inner.priorVariance();
  }
}
