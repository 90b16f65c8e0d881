/**
 * Changepoints of a whole series with the same online detector the agent runs: the series is
 * standardised by a robust location and scale first, so one prior fits series of any unit.
 */
import { ChangeDetector, type ChangeDetectorOptions } from './change-detector.ts';
import { median } from './math.ts';
import { NormalGammaModel, PoissonGammaModel } from './observation-models.ts';

/** Options of {@link detectChangepoints}. */
export interface SeriesDetectOptions extends ChangeDetectorOptions {
  /** `normal` (Normal–Gamma, standardised) or `poisson` (Poisson–Gamma, raw counts). @default 'normal' */
  readonly model?: 'normal' | 'poisson';
  /** Normal model: prior pseudo-observations behind the segment mean. @default 0.2 */
  readonly kappa?: number;
  /** Normal model: shape of the precision prior (larger = stronger belief the noise scale is 1). @default 2 */
  readonly alpha?: number;
}

/** Defaults tuned on the TCPD annotated series (see bench/cpd-f1.ts). */
export const SERIES_DEFAULTS = {
  hazard: 1 / 1000,
  threshold: 0.9,
  windowSteps: 10,
  confirmSteps: 3,
  kappa: 0.2,
  alpha: 2,
} as const;

/**
 * Robust location and noise scale: the median, and the MAD of first differences / (√2 · 0.6745),
 * which level shifts barely move (a difference spans a shift only once per change).
 */
export function robustScale(values: readonly number[]): { location: number; scale: number } {
  const v = values.filter(Number.isFinite);
  const location = median(v);
  const diffs: number[] = [];
  for (let i = 1; i < v.length; i++) diffs.push(Math.abs(v[i] - v[i - 1]));
  let scale = median(diffs) / (Math.SQRT2 * 0.6745);
  if (!(scale > 0)) {
    const dev = v.map((x) => Math.abs(x - location));
    scale = median(dev) / 0.6745;
  }
  return { location, scale: scale > 0 ? scale : 1 };
}

/**
 * Detected changepoint indices (0-based, into the original series; missing values keep their
 * index and are skipped). Index 0 is not reported: the series start is implicit.
 */
export function detectChangepoints(raw: readonly (number | null)[], opts: SeriesDetectOptions = {}): number[] {
  const kind = opts.model ?? 'normal';
  const o = { ...SERIES_DEFAULTS, ...opts };
  const present: number[] = [];
  const values: number[] = [];
  raw.forEach((x, i) => {
    if (typeof x === 'number' && Number.isFinite(x)) {
      present.push(i);
      values.push(x);
    }
  });
  let detector: ChangeDetector;
  let transform: (x: number) => number;
  if (kind === 'poisson') {
    const mean = values.reduce((s, x) => s + x, 0) / Math.max(1, values.length);
    // Weak prior centred on the series mean: one pseudo-interval.
    detector = new ChangeDetector(new PoissonGammaModel({ alpha: Math.max(mean, 0.1), beta: 1 }), o);
    transform = (x) => Math.max(0, Math.round(x));
  } else {
    const { location, scale } = robustScale(values);
    detector = new ChangeDetector(new NormalGammaModel({ mu: 0, kappa: o.kappa, alpha: o.alpha, beta: o.alpha }), o);
    transform = (x) => (x - location) / scale;
  }
  const out: number[] = [];
  for (const x of values) {
    const step = detector.update(transform(x));
    if (step?.changeAt != null) out.push(present[step.changeAt]);
  }
  return out;
}
