import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { Bocpd, ChangeDetector, CoreOptionError, NormalGammaModel } from '../../edge-agent/core/index.ts';
import { LinearTrendModel } from '../../edge-agent/core/trend-model.ts';
import { RobustModel } from '../../edge-agent/core/robust-model.ts';
import { detectSeries, robustScale } from '../../edge-agent/core/detect-series.ts';

/** Student-t predictive of a line fit y = a + bτ under a NIG prior, by explicit 2×2 algebra on the raw data. */
function trendLogPred(prior: { mu: number; kappa: number; slopeSd: number; alpha: number; beta: number }, ys: number[], x: number): number {
  const n = ys.length;
  // Λ₀ = diag(κ, 1/slopeSd²), m₀ = (μ, 0); Λₙ = Λ₀ + Σ φφᵀ; mₙ = Λₙ⁻¹(Λ₀m₀ + Σ φy).
  let l00 = prior.kappa, l01 = 0, l11 = 1 / prior.slopeSd ** 2, b0 = prior.kappa * prior.mu, b1 = 0, yy = 0;
  ys.forEach((y, t) => {
    l00 += 1; l01 += t; l11 += t * t; b0 += y; b1 += t * y; yy += y * y;
  });
  const det = l00 * l11 - l01 * l01;
  const m0 = (l11 * b0 - l01 * b1) / det;
  const m1 = (l00 * b1 - l01 * b0) / det;
  const a = prior.alpha + n / 2;
  const b = prior.beta + 0.5 * (yy + prior.kappa * prior.mu ** 2 - (m0 * b0 + m1 * b1));
  // Λₙ⁻¹ = [[l11, −l01], [−l01, l00]] / det
  const quad = (l11 - 2 * n * l01 + n * n * l00) / det;
  const s2 = (b / a) * (1 + quad);
  const nu = 2 * a;
  const d = x - (m0 + m1 * n);
  const lg = (z: number) => {
    let sh = 0;
    while (z < 10) { sh -= Math.log(z); z += 1; }
    return sh + (z - 0.5) * Math.log(z) - z + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * z) - 1 / (360 * z ** 3);
  };
  return lg((nu + 1) / 2) - lg(nu / 2) - 0.5 * Math.log(nu * Math.PI * s2) - ((nu + 1) / 2) * Math.log1p((d * d) / (nu * s2));
}

describe('LinearTrendModel', () => {
  it('predictive equals a from-scratch Bayesian line fit at every step', () => {
    const prior = { mu: 0.3, kappa: 0.5, slopeSd: 0.1, alpha: 2, beta: 1.5 };
    const m = new LinearTrendModel(prior);
    m.resize(1);
    m.setPrior(0);
    const rng = new Rng(1);
    const ys: number[] = [];
    for (let t = 0; t < 60; t++) {
      const x = 1 + 0.2 * t + rng.normal();
      expect(m.logPredictive(0, x)).toBeCloseTo(trendLogPred(prior, ys, x), 7);
      m.update(0, x);
      ys.push(x);
    }
    const line = m.line(0);
    expect(line.slope).toBeGreaterThan(0.15);
    expect(line.slope).toBeLessThan(0.25);
  });

  it('reduces to the Normal–Gamma level model when the slope prior is very tight', () => {
    const t = new LinearTrendModel({ mu: 0, kappa: 0.2, slopeSd: 1e-7, alpha: 2, beta: 2 });
    const g = new NormalGammaModel({ mu: 0, kappa: 0.2, alpha: 2, beta: 2 });
    for (const m of [t, g]) (m.resize(1), m.setPrior(0));
    const rng = new Rng(2);
    for (let i = 0; i < 40; i++) {
      const x = rng.normal();
      expect(t.logPredictive(0, x)).toBeCloseTo(g.logPredictive(0, x), 6);
      t.update(0, x);
      g.update(0, x);
    }
  });

  it('rejects a non-positive slope prior', () => {
    expect(() => new LinearTrendModel({ slopeSd: 0 })).toThrow(CoreOptionError);
  });
});

describe('RobustModel', () => {
  it('one wild value neither fires an alarm nor moves the segment mean', () => {
    const rng = new Rng(3);
    const xs = Array.from({ length: 300 }, () => rng.normal());
    xs[150] = 40;
    const plain = new ChangeDetector(new NormalGammaModel({ kappa: 0.2, alpha: 2, beta: 2 }), { hazard: 1 / 1000, threshold: 0.97, confirmSteps: 1 });
    const robust = new ChangeDetector(new RobustModel(new NormalGammaModel({ kappa: 0.2, alpha: 2, beta: 2 })), { hazard: 1 / 1000, threshold: 0.97, confirmSteps: 1 });
    const alarms = (d: ChangeDetector) => xs.map((x) => d.update(x)?.changeAt).filter((c) => c != null);
    expect(alarms(plain).length).toBeGreaterThan(0);
    expect(alarms(robust)).toEqual([]);
    const mean = robust.bocpd.predictive().mean;
    expect(Math.abs(mean)).toBeLessThan(0.2);
  });

  it('still finds a real level shift', () => {
    const rng = new Rng(4);
    const xs = Array.from({ length: 400 }, (_, i) => (i < 200 ? 0 : 3) + rng.normal());
    const r = detectSeries(xs, { model: 'normal' });
    expect(r.changepoints.length).toBe(1);
    expect(Math.abs(r.changepoints[0] - 200)).toBeLessThanOrEqual(3);
  });

  it('keeps the posterior normalised', () => {
    const b = new Bocpd(new RobustModel(new NormalGammaModel()), { hazard: 1 / 50 });
    const rng = new Rng(5);
    for (let i = 0; i < 300; i++) b.update(i % 37 === 0 ? 25 : rng.normal());
    expect(b.posterior().reduce((s, e) => s + e.probability, 0)).toBeCloseTo(1, 12);
  });
});

describe('detectSeries model: auto', () => {
  it('chooses the trend model for a series of two slopes, with fewer changepoints than the level model\'s staircase', () => {
    const rng = new Rng(6);
    const xs = Array.from({ length: 300 }, (_, i) => (i < 150 ? 0.5 * i : 75 - 0.5 * (i - 150)) + rng.normal());
    const level = detectSeries(xs, { model: 'normal' });
    const auto = detectSeries(xs);
    expect(auto.model).toBe('trend');
    expect(auto.logEvidence).toBeGreaterThan(level.logEvidence);
    expect(auto.changepoints.length).toBeLessThanOrEqual(2);
    expect(level.changepoints.length).toBeGreaterThan(auto.changepoints.length);
  });

  it('keeps the level model for a flat series with level shifts', () => {
    const rng = new Rng(7);
    const xs = Array.from({ length: 300 }, (_, i) => (i < 100 ? 0 : i < 200 ? 4 : 1) + rng.normal());
    const r = detectSeries(xs);
    expect(r.model).toBe('normal');
    expect(r.changepoints.map((c) => Math.round(c / 10) * 10)).toEqual([100, 200]);
  });

  it('robustScale ignores a steady trend when measuring noise', () => {
    const rng = new Rng(8);
    const xs = Array.from({ length: 500 }, (_, i) => 10 * i + 2 * rng.normal());
    expect(robustScale(xs).scale).toBeGreaterThan(1.6);
    expect(robustScale(xs).scale).toBeLessThan(2.4);
  });

  it('rejects an unknown model with the allowed values in the message', () => {
    expect(() => detectSeries([1, 2, 3], { model: 'cubic' as never })).toThrow(/Expected `model` to be one of 'auto', 'normal', 'trend', 'poisson'/);
  });
});
