/**
 * The project's one quantile, one median and one least-squares line fit. The core's latency and
 * link models, the simulator's metrics and profile loader, and the CLIs all use these, so a
 * "q95" or a fitted `a + k·b` means the same thing in every figure the project prints.
 * Pure, no dependencies.
 */

/**
 * Nearest-rank quantile of ascending-sorted values: the smallest observed value with at least
 * q of the values at or below it (`sorted[⌈q·n⌉ − 1]`, clamped to the array). Always an observed
 * value, never an interpolation. `undefined` when empty, so each caller says what "no data" is.
 * @example quantileSorted([10, 20, 30, 40], 0.5) // 20
 * @example quantileSorted(Float64Array.from(xs).sort(), 0.99) ?? 0
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number | undefined {
  const n = sorted.length;
  if (n === 0) return undefined;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
}

/**
 * {@link quantileSorted} of unsorted values (sorts a copy).
 * @example quantile([40, 10, 30, 20], 0.95) // 40
 */
export function quantile(values: ArrayLike<number>, q: number): number | undefined {
  return quantileSorted(Float64Array.from(values).sort(), q);
}

/**
 * Median of the finite values: the middle one, or the mean of the two middle ones for an even
 * count (so not `quantile(…, 0.5)`, which is an observed value). NaN when there is none.
 * @example median([4, 1, 3, 2]) // 2.5
 */
export function median(values: readonly number[]): number {
  const v = Float64Array.from(values.filter(Number.isFinite)).sort();
  const n = v.length;
  if (n === 0) return Number.NaN;
  const mid = (n - 1) / 2;
  const lo = Math.floor(mid);
  return lo === mid ? v[lo] : v[lo] + (v[lo + 1] - v[lo]) * 0.5;
}

/** A fitted line y ≈ a + k·x. */
export interface LineFit {
  readonly a: number;
  readonly k: number;
}

/**
 * Least-squares line y ≈ a + k·x with a, k ≥ 0 (latency and transfer time never shrink with
 * size or start below zero: a negative term is noise, not physics). A negative slope becomes
 * 0 with a at the mean of y; a negative intercept is then clipped to 0, keeping the slope (the
 * line stays on or above the unconstrained fit for x ≥ 0, i.e. pessimistic). With a single
 * distinct x no slope is identifiable: the time is attributed per unit of x (a = 0,
 * k = mean y / x), never to a flat line that would make size look free.
 * @example fitLine([1, 2, 3, 4], [12, 17, 22, 27]) // { a: 7, k: 5 }
 */
export function fitLine(xs: readonly number[], ys: readonly number[]): LineFit {
  const n = xs.length;
  if (n === 0 || ys.length !== n) throw new RangeError(`Expected as many y as x values and at least one, got ${n} x and ${ys.length} y`);
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i];
    my += ys[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  if (!(sxx > 0)) return mx > 0 ? { a: 0, k: Math.max(0, my / mx) } : { a: Math.max(0, my), k: 0 };
  const k = Math.max(0, sxy / sxx);
  return { a: Math.max(0, my - k * mx), k };
}
