// shared/stats.ts: the one quantile, median and line fit every part of the project uses.
import { describe, expect, it } from 'vitest';
import { fitLine, median, quantile, quantileSorted } from '../shared/stats.ts';
import { median as coreMedian, quantileSorted as coreQuantile } from '../edge-agent/core/index.ts';

describe('quantile', () => {
  it('is nearest-rank: always an observed value, sorted[⌈q·n⌉ − 1]', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.95)).toBe(95);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2);
    expect(quantile([5], 0.99)).toBe(5);
  });

  it('clamps q to the array and leaves "no data" to the caller', () => {
    expect(quantileSorted([1, 2, 3], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3], 1)).toBe(3);
    expect(quantileSorted(Float64Array.of(1, 2, 3), 1.5)).toBe(3);
    expect(quantileSorted([], 0.5)).toBeUndefined();
    expect(quantile([], 0.5)).toBeUndefined();
  });

  it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    quantile(xs, 0.5);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones; ignores non-finite values', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([5, Number.NaN, Infinity, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });
});

describe('fitLine', () => {
  it('recovers a line', () => {
    const f = fitLine([1, 2, 3, 4], [12, 17, 22, 27]);
    expect(f.a).toBeCloseTo(7);
    expect(f.k).toBeCloseTo(5);
  });

  it('a downward slope becomes a flat line at the mean', () => {
    expect(fitLine([1, 8], [30, 20])).toEqual({ a: 25, k: 0 });
  });

  it('a negative intercept is clipped to 0, keeping the slope', () => {
    // the line through (2, 10) and (4, 30) is −10 + 10·x
    expect(fitLine([2, 4], [10, 30])).toEqual({ a: 0, k: 10 });
  });

  it('with one distinct x attributes the time per unit of x', () => {
    expect(fitLine([4, 4], [40, 44])).toEqual({ a: 0, k: 10.5 });
    expect(fitLine([0, 0], [5, 7])).toEqual({ a: 6, k: 0 });
  });

  it('refuses no points or mismatched lengths', () => {
    expect(() => fitLine([], [])).toThrow(/at least one/);
    expect(() => fitLine([1, 2], [1])).toThrow(/as many y as x/);
  });
});

describe('the core', () => {
  it('re-exports the shared quantile and median (one definition)', () => {
    expect(coreQuantile).toBe(quantileSorted);
    expect(coreMedian).toBe(median);
  });
});
