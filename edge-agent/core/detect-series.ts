/**
 * Changepoints of a whole series with the same online detector the agent runs: the series is
 * standardised by a robust location and scale first, so one prior fits series of any unit.
 *
 * `model: 'auto'` (the default) is empirical Bayes over the segment model: the series is run
 * under a level-only and a linear-trend segment model, and the run whose marginal likelihood
 * p(x₁..x_T) is larger gives the changepoints. No label is involved: the data choose whether
 * their segments are flat or sloped (the trend model pays for its extra parameter through the
 * evidence, so flat series keep the level model).
 */
import { ChangeDetector, type ChangeDetectorOptions } from './change-detector.ts';
import { median } from './math.ts';
import { NormalGammaModel, PoissonGammaModel, type ObservationModel } from './observation-models.ts';
import { RobustModel } from './robust-model.ts';
import { LinearTrendModel } from './trend-model.ts';
import { checkNumber, checkOneOf } from './validate.ts';

/** Segment models of {@link detectChangepoints}. */
export const SERIES_MODELS = ['auto', 'normal', 'trend', 'poisson'] as const;
export type SeriesModel = (typeof SERIES_MODELS)[number];

/** Options of {@link detectChangepoints}. */
export interface SeriesDetectOptions extends ChangeDetectorOptions {
  /**
   * `normal` (Normal–Gamma level per segment, standardised), `trend` (a line per segment,
   * standardised), `auto` (whichever of the two has the larger evidence) or `poisson`
   * (Poisson–Gamma, raw counts). @default 'auto'
   */
  readonly model?: SeriesModel;
  /** Prior pseudo-observations behind a segment's level. @default 0.2 */
  readonly kappa?: number;
  /** Shape of the noise precision prior (larger = stronger belief the noise scale is 1). @default 2 */
  readonly alpha?: number;
  /** Trend model: prior sd of a segment's slope per observation, in noise sds. @default 0.05 */
  readonly slopeSd?: number;
  /** ε of the outlier component ({@link RobustModel}); 0 turns it off. @default 0.01 */
  readonly outlierProbability?: number;
  /**
   * Empirical Bayes over the hazard: run each of these hazards and keep the run with the largest
   * evidence (jointly with the model when `model` is `auto`); `hazard` is then ignored. Off by
   * default: on the TCPD series the evidence prefers high hazards (a misfit segment model is
   * patched with extra changes) and F1 drops (bench:cpd grid). @default undefined
   */
  readonly hazardCandidates?: readonly number[];
  /** Outliers in a row the outlier component may explain ({@link RobustModel}). @default 65535 (unbounded; 1 was tried: see core/README) */
  readonly maxOutlierRun?: number;
}

/** Defaults chosen on the TCPD annotated series (leave-one-out figures: bench/cpd-f1.ts). */
export const SERIES_DEFAULTS = {
  model: 'auto',
  hazard: 1 / 1000,
  threshold: 0.97,
  windowSteps: 10,
  confirmSteps: 1,
  kappa: 0.2,
  alpha: 2,
  slopeSd: 0.05,
  outlierProbability: 0.01,
  maxOutlierRun: 65_535,
} as const;

/**
 * Robust location and noise scale: the median, and the MAD of first differences (around their
 * median, so a steady trend is not noise) / (√2 · 0.6745), which level shifts barely move (a
 * difference spans a shift only once per change).
 */
export function robustScale(values: readonly number[]): { location: number; scale: number } {
  const v = values.filter(Number.isFinite);
  const location = median(v);
  const diffs: number[] = [];
  for (let i = 1; i < v.length; i++) diffs.push(v[i] - v[i - 1]);
  const mid = median(diffs);
  let scale = median(diffs.map((d) => Math.abs(d - mid))) / (Math.SQRT2 * 0.6745);
  if (!(scale > 0)) {
    const dev = v.map((x) => Math.abs(x - location));
    scale = median(dev) / 0.6745;
  }
  return { location, scale: scale > 0 ? scale : 1 };
}

/** What one run over a series found. */
export interface SeriesDetection {
  /** Changepoint indices (0-based, into the original series; index 0 is implicit and not listed). */
  readonly changepoints: number[];
  /** The segment model that produced them (the winner when `model` is `auto`). */
  readonly model: Exclude<SeriesModel, 'auto'>;
  /** log p(x₁..x_T) of that run, in the units it was fed (standardised for normal/trend). */
  readonly logEvidence: number;
}

/**
 * The run with the largest evidence (the first on a tie). Only runs over the same values (all
 * normal/trend runs of one series see the same standardised values) are comparable.
 */
export function chooseByEvidence(runs: readonly SeriesDetection[]): SeriesDetection {
  let best = runs[0];
  for (const r of runs) if (r.logEvidence > best.logEvidence) best = r;
  return best;
}

/**
 * Detected changepoint indices (0-based, into the original series; missing values keep their
 * index and are skipped). Index 0 is not reported: the series start is implicit.
 */
export function detectChangepoints(raw: readonly (number | null)[], opts: SeriesDetectOptions = {}): number[] {
  return detectSeries(raw, opts).changepoints;
}

/** {@link detectChangepoints} with the model that won and its evidence. */
export function detectSeries(raw: readonly (number | null)[], opts: SeriesDetectOptions = {}): SeriesDetection {
  const o = { ...SERIES_DEFAULTS, ...opts };
  const kind = checkOneOf('model', o.model, SERIES_MODELS);
  checkNumber('outlierProbability', o.outlierProbability, 0, 0.5);
  const present: number[] = [];
  const values: number[] = [];
  raw.forEach((x, i) => {
    if (typeof x === 'number' && Number.isFinite(x)) {
      present.push(i);
      values.push(x);
    }
  });
  if (kind === 'auto' || o.hazardCandidates) {
    const runs: SeriesDetection[] = [];
    for (const model of kind === 'auto' ? (['normal', 'trend'] as const) : [kind])
      for (const hazard of o.hazardCandidates ?? [o.hazard]) runs.push(detectSeries(raw, { ...opts, model, hazard, hazardCandidates: undefined }));
    return chooseByEvidence(runs);
  }
  let model: ObservationModel;
  let transform: (x: number) => number;
  if (kind === 'poisson') {
    const mean = values.reduce((s, x) => s + x, 0) / Math.max(1, values.length);
    // Weak prior centred on the series mean: one pseudo-interval.
    model = new PoissonGammaModel({ alpha: Math.max(mean, 0.1), beta: 1 });
    transform = (x) => Math.max(0, Math.round(x));
  } else {
    const { location, scale } = robustScale(values);
    model =
      kind === 'trend'
        ? new LinearTrendModel({ mu: 0, kappa: o.kappa, slopeSd: o.slopeSd, alpha: o.alpha, beta: o.alpha })
        : new NormalGammaModel({ mu: 0, kappa: o.kappa, alpha: o.alpha, beta: o.alpha });
    transform = (x) => (x - location) / scale;
  }
  if (o.outlierProbability > 0) model = new RobustModel(model, { outlierProbability: o.outlierProbability, maxOutlierRun: o.maxOutlierRun });
  const detector = new ChangeDetector(model, o);
  const out: number[] = [];
  for (const x of values) {
    const step = detector.update(transform(x));
    if (step?.changeAt != null) out.push(present[step.changeAt]);
  }
  return { changepoints: out, model: kind, logEvidence: detector.bocpd.logEvidence };
}
