/** Small numeric helpers for the core (pure, no allocation in hot paths); quantile and median are shared/stats.ts's. */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0 (Stirling series from 10 up, Lanczos g = 7 below). */
export function logGamma(x: number): number {
  if (x >= 10) {
    // Stirling series: one log instead of Lanczos' two logs and eight divisions (abs. error < 1e-12).
    const z2 = 1 / (x * x);
    return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + (1 / x) * (1 / 12 - z2 * (1 / 360 - z2 * (1 / 1260 - z2 / 1680)));
  }
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let s = LANCZOS[0];
  for (let i = 1; i < 9; i++) s += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return HALF_LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** log(exp(a) + exp(b)) without overflow. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

// The one quantile and median of the project (shared/stats.ts), part of the core's surface.
export { median, quantileSorted } from '../../shared/stats.ts';

/** Insert `x` into the ascending array `xs` in place, after any equal values. */
export function insertSorted(xs: number[], x: number): void {
  let k = xs.length;
  xs.push(x);
  while (k > 0 && xs[k - 1] > x) {
    xs[k] = xs[k - 1];
    k--;
  }
  xs[k] = x;
}

/**
 * Standard normal CDF Φ(x), by the logistic approximation 1 / (1 + e^(−1.702·x)) (absolute
 * error < 0.0095; Bowling et al., "A logistic approximation to the cumulative normal
 * distribution", 2009): enough for weighing chances, one exp.
 */
export function normalCdf(x: number): number {
  return 1 / (1 + Math.exp(-1.702 * x));
}

/** z of the quantile names the core predicts at (one-sided). */
export const Z_OF: Readonly<Record<'q95' | 'q99', number>> = { q95: 1.645, q99: 2.326 };
