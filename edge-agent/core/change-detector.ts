/**
 * Turns a BOCPD run-length posterior into discrete changepoint alarms.
 *
 * An alarm fires when P(the current segment began between `confirmSteps` and `windowSteps`
 * observations ago) ≥ `threshold`. Requiring `confirmSteps` observations of the new regime
 * keeps a single outlier from firing; the location reported is the start of the most probable
 * such segment. A second alarm needs its segment to start more than `minGapSteps` after the
 * previous one, so one change is not reported twice while its location estimate wobbles.
 */
import { Bocpd, type BocpdOptions } from './bocpd.ts';
import type { ObservationModel } from './observation-models.ts';
import { checkInt, checkProbability } from './validate.ts';

/** Options of {@link ChangeDetector}. */
export interface ChangeDetectorOptions extends BocpdOptions {
  /** Alarm threshold on the windowed change probability. @default 0.5 */
  readonly threshold?: number;
  /** L: how far back a change may have started to count as "recent", in observations. @default 10 */
  readonly windowSteps?: number;
  /** Observations of the new regime needed before an alarm. @default 3 */
  readonly confirmSteps?: number;
  /** Minimum distance between reported changepoints, in observations. @default windowSteps */
  readonly minGapSteps?: number;
}

/**
 * The estimators' detector settings: their options over the shared defaults (threshold 0.6,
 * window 10, confirm 3, 100 run lengths kept), with each estimator's own hazard.
 */
export function estimatorDetectorOptions(opts: ChangeDetectorOptions, hazard: number): ChangeDetectorOptions {
  return {
    hazard: opts.hazard ?? hazard,
    threshold: opts.threshold ?? 0.6,
    windowSteps: opts.windowSteps ?? 10,
    confirmSteps: opts.confirmSteps ?? 3,
    maxRunLengths: opts.maxRunLengths ?? 100,
    minGapSteps: opts.minGapSteps,
    minProbability: opts.minProbability,
  };
}

/** What one update of a {@link ChangeDetector} says. */
export interface ChangeStep {
  /** 0-based index of this observation among the non-missing ones. */
  readonly index: number;
  /** P(change within the last L observations). */
  readonly pChange: number;
  readonly mapRunLength: number;
  /** Predictive mean / variance of the next observation under the MAP segment. */
  readonly mean: number;
  readonly variance: number;
  /** Set when an alarm fired: the 0-based index of the new segment's first observation. */
  readonly changeAt: number | null;
}

/**
 * BOCPD plus an alarm rule.
 * @example
 * const d = new ChangeDetector(new NormalGammaModel(), { hazard: 1 / 200 });
 * const cps = xs.map((x) => d.update(x).changeAt).filter((c) => c !== null);
 */
export class ChangeDetector {
  readonly bocpd: Bocpd;
  readonly threshold: number;
  readonly windowSteps: number;
  readonly confirmSteps: number;
  readonly minGapSteps: number;
  private lastChangeAt = 0;

  constructor(model: ObservationModel, opts: ChangeDetectorOptions = {}) {
    this.bocpd = new Bocpd(model, opts);
    this.threshold = checkProbability('threshold', opts.threshold ?? 0.5);
    this.windowSteps = checkInt('windowSteps', opts.windowSteps ?? 10, 1);
    this.confirmSteps = checkInt('confirmSteps', opts.confirmSteps ?? 3, 1, this.windowSteps);
    this.minGapSteps = checkInt('minGapSteps', opts.minGapSteps ?? this.windowSteps, 0);
  }

  /** Index of the last reported change (0 = none yet: the series start). */
  get lastChange(): number {
    return this.lastChangeAt;
  }

  /** Absorb one observation (non-finite values are skipped and return null). */
  update(x: number): ChangeStep | null {
    if (!Number.isFinite(x)) return null;
    const b = this.bocpd;
    b.update(x);
    const index = b.t - 1;
    const pConfirmed = b.probabilityOfChangeWithin(this.windowSteps, this.confirmSteps);
    let changeAt: number | null = null;
    if (pConfirmed >= this.threshold) {
      const r = b.mapRunLengthWithin(this.windowSteps, this.confirmSteps);
      const at = b.t - r;
      if (r > 0 && at - this.lastChangeAt > this.minGapSteps) {
        changeAt = at;
        this.lastChangeAt = at;
      }
    }
    const pred = b.predictive();
    return { index, pChange: b.probabilityOfChangeWithin(this.windowSteps), mapRunLength: pred.runLength, mean: pred.mean, variance: pred.variance, changeAt };
  }

  /** Start over (e.g. after the stream's meaning changed). */
  reset(): void {
    this.bocpd.reset();
    this.lastChangeAt = 0;
  }
}
