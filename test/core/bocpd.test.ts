import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { Bocpd, ChangeDetector, CoreOptionError, detectChangepoints, NormalGammaModel, PoissonGammaModel } from '../../edge-agent/core/index.ts';

/** log Γ by recurrence + Stirling series (independent of the core's Lanczos). */
function lgammaRef(x: number): number {
  let shift = 0;
  while (x < 10) {
    shift -= Math.log(x);
    x += 1;
  }
  const z = 1 / (x * x);
  return shift + (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + (1 / x) * (1 / 12 - z * (1 / 360 - z * (1 / 1260 - z / 1680)));
}

type Prior = { mu: number; kappa: number; alpha: number; beta: number };

/** Student-t predictive of segment data `xs` under a Normal–Gamma prior, recomputed from scratch. */
function ngLogPred(prior: Prior, xs: number[], x: number): number {
  const n = xs.length;
  const mean = n ? xs.reduce((s, v) => s + v, 0) / n : 0;
  const ss = xs.reduce((s, v) => s + (v - mean) ** 2, 0);
  const kappa = prior.kappa + n;
  const mu = (prior.kappa * prior.mu + n * mean) / kappa;
  const alpha = prior.alpha + n / 2;
  const beta = prior.beta + ss / 2 + (prior.kappa * n * (mean - prior.mu) ** 2) / (2 * kappa);
  const nu = 2 * alpha;
  const s2 = (beta * (kappa + 1)) / (alpha * kappa);
  return lgammaRef((nu + 1) / 2) - lgammaRef(nu / 2) - 0.5 * Math.log(nu * Math.PI * s2) - ((nu + 1) / 2) * Math.log(1 + (x - mu) ** 2 / (nu * s2));
}

function pgLogPred(prior: { alpha: number; beta: number }, xs: number[], k: number): number {
  const a = prior.alpha + xs.reduce((s, v) => s + v, 0);
  const b = prior.beta + xs.length;
  return lgammaRef(k + a) - lgammaRef(a) - lgammaRef(k + 1) + a * Math.log(b / (b + 1)) - k * Math.log(b + 1);
}

/** Plain O(T²) BOCPD over the whole history; returns P(r_T = r | x_1..T) for r = 1..T. */
function naivePosterior(xs: number[], hazard: number, logPred: (seg: number[], x: number) => number): Map<number, number> {
  let post = new Map<number, number>([[1, 1]]);
  for (let t = 2; t <= xs.length; t++) {
    const x = xs[t - 1];
    const next = new Map<number, number>();
    next.set(1, hazard * Math.exp(logPred([], x)));
    for (const [r, p] of post) next.set(r + 1, p * (1 - hazard) * Math.exp(logPred(xs.slice(t - 1 - r, t - 1), x)));
    const z = [...next.values()].reduce((s, v) => s + v, 0);
    for (const [r, p] of next) next.set(r, p / z);
    post = next;
  }
  return post;
}

function piecewiseNormal(rng: Rng, segments: { n: number; mean: number; sd: number }[]): { xs: number[]; changes: number[] } {
  const xs: number[] = [];
  const changes: number[] = [];
  for (const s of segments) {
    if (xs.length) changes.push(xs.length);
    for (let i = 0; i < s.n; i++) xs.push(s.mean + s.sd * rng.normal());
  }
  return { xs, changes };
}

function poisson(rng: Rng, lambda: number): number {
  // Knuth for small λ, normal approximation above (tests only).
  if (lambda > 50) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.normal()));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng.next();
  } while (p > l);
  return k - 1;
}

describe('Bocpd posterior', () => {
  it('equals a plain O(T²) implementation (Normal–Gamma) when K covers every run length', () => {
    const rng = new Rng(7);
    const { xs } = piecewiseNormal(rng, [
      { n: 25, mean: 0, sd: 1 },
      { n: 20, mean: 3, sd: 0.5 },
      { n: 15, mean: -1, sd: 2 },
    ]);
    const prior = { mu: 0.5, kappa: 0.3, alpha: 1.5, beta: 2 };
    const b = new Bocpd(new NormalGammaModel(prior), { hazard: 1 / 30, maxRunLengths: 200, minProbability: 0 });
    for (const x of xs) b.update(x);
    const ref = naivePosterior(xs, 1 / 30, (seg, x) => ngLogPred(prior, seg, x));
    const got = new Map(b.posterior().map((e) => [e.runLength, e.probability]));
    expect(got.size).toBe(ref.size);
    for (const [r, p] of ref) expect(Math.abs((got.get(r) ?? -1) - p)).toBeLessThan(1e-9);
  });

  it('equals a plain O(T²) implementation (Poisson–Gamma) when K covers every run length', () => {
    const rng = new Rng(11);
    const xs = [...Array.from({ length: 30 }, () => poisson(rng, 4)), ...Array.from({ length: 30 }, () => poisson(rng, 12))];
    const prior = { alpha: 2, beta: 0.5 };
    const b = new Bocpd(new PoissonGammaModel(prior), { hazard: 1 / 50, maxRunLengths: 100, minProbability: 0 });
    for (const x of xs) b.update(x);
    const ref = naivePosterior(xs, 1 / 50, (seg, x) => pgLogPred(prior, seg, x));
    const got = new Map(b.posterior().map((e) => [e.runLength, e.probability]));
    for (const [r, p] of ref) expect(Math.abs((got.get(r) ?? 0) - p)).toBeLessThan(1e-9);
  });

  it('keeps at most K run lengths and its probabilities sum to 1', () => {
    const rng = new Rng(3);
    const b = new Bocpd(new NormalGammaModel(), { hazard: 1 / 100, maxRunLengths: 20 });
    for (let i = 0; i < 500; i++) b.update(rng.normal());
    const post = b.posterior();
    expect(post.length).toBeLessThanOrEqual(20);
    expect(post.reduce((s, e) => s + e.probability, 0)).toBeCloseTo(1, 12);
    expect(b.mapRunLength()).toBeGreaterThan(100);
  });

  it('rejects a hazard outside (0, 1) with the option name in the message', () => {
    expect(() => new Bocpd(new NormalGammaModel(), { hazard: 2 })).toThrow(CoreOptionError);
    expect(() => new Bocpd(new NormalGammaModel(), { hazard: 0 })).toThrow(/Expected `hazard` to be a number in \(0, 1\), got `0`/);
  });
});

describe('ChangeDetector', () => {
  it('finds each change of a piecewise-stationary Normal series within a few samples, and nothing else', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rng = new Rng(seed);
      const { xs, changes } = piecewiseNormal(rng, [
        { n: 150, mean: 0, sd: 1 },
        { n: 120, mean: 4, sd: 1 },
        { n: 200, mean: 1, sd: 1 },
        { n: 100, mean: 5, sd: 3 },
        { n: 150, mean: -3, sd: 1 },
      ]);
      // The conjugate detector alone places each change within 3 samples.
      const found = detectChangepoints(xs, { outlierProbability: 0 });
      expect(found.length, `seed ${seed}: ${JSON.stringify(found)}`).toBe(changes.length);
      changes.forEach((c, i) => expect(Math.abs(found[i] - c), `seed ${seed} change ${c}`).toBeLessThanOrEqual(3));
      // With the outlier component (the default), the first few points of a new regime that
      // are within reach of the old one can be read as outliers: seed 4 places 470 at 476.
      const robust = detectChangepoints(xs);
      expect(robust.length, `seed ${seed}: ${JSON.stringify(robust)}`).toBe(changes.length);
      changes.forEach((c, i) => expect(Math.abs(robust[i] - c), `seed ${seed} change ${c}`).toBeLessThanOrEqual(6));
    }
  });

  it('finds rate changes in Poisson counts within a few ticks', () => {
    const rng = new Rng(9);
    const rates = [5, 15, 40, 10];
    const xs: number[] = [];
    const truth: number[] = [];
    for (const r of rates) {
      if (xs.length) truth.push(xs.length);
      for (let i = 0; i < 200; i++) xs.push(poisson(rng, r));
    }
    const d = new ChangeDetector(new PoissonGammaModel({ alpha: 1, beta: 0.05 }), { hazard: 1 / 500 });
    const found: { at: number; detectedAt: number }[] = [];
    xs.forEach((x, i) => {
      const s = d.update(x);
      if (s?.changeAt != null) found.push({ at: s.changeAt, detectedAt: i });
    });
    expect(found.map((f) => f.at).length).toBe(truth.length);
    found.forEach((f, i) => {
      expect(Math.abs(f.at - truth[i])).toBeLessThanOrEqual(2);
      expect(f.detectedAt - truth[i]).toBeLessThanOrEqual(6);
    });
  });

  it('raises no alarm on 10,000 stationary Normal points at the default settings', () => {
    const rng = new Rng(2024);
    const xs = Array.from({ length: 10_000 }, () => 50 + 7 * rng.normal());
    expect(detectChangepoints(xs)).toEqual([]);
  });

  it('raises no alarm on 10,000 stationary Poisson ticks at the arrival defaults', () => {
    const rng = new Rng(77);
    const d = new ChangeDetector(new PoissonGammaModel({ alpha: 20, beta: 1 }), { hazard: 1 / 3600, threshold: 0.6 });
    let alarms = 0;
    for (let i = 0; i < 10_000; i++) if (d.update(poisson(rng, 30))?.changeAt != null) alarms++;
    expect(alarms).toBe(0);
  });

  it('detectChangepoints keeps indices aligned across missing values', () => {
    const rng = new Rng(5);
    const xs: (number | null)[] = [];
    for (let i = 0; i < 100; i++) xs.push(i % 10 === 3 ? null : rng.normal());
    for (let i = 0; i < 100; i++) xs.push(i % 10 === 3 ? null : 6 + rng.normal());
    const found = detectChangepoints(xs);
    expect(found.length).toBe(1);
    expect(Math.abs(found[0] - 100)).toBeLessThanOrEqual(2);
  });
});
