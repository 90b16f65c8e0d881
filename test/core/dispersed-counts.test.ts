import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/rng.ts';
import { ArrivalRateEstimator, Bocpd, logGamma } from '../../edge-agent/core/index.ts';
import { DispersionEstimator, NegativeBinomialModel } from '../../edge-agent/core/dispersed-counts.ts';
import { negBinDraw } from '../../bench/detector-delay.ts';

/** Beta–negative-binomial log pmf from its textbook form, for a segment of prior (w, w·m) plus data. */
function bnbRef(phi: number, w: number, m: number, xs: number[], k: number): number {
  const n = w + xs.length;
  const s = w * m + xs.reduce((a, b) => a + b, 0);
  const r = s / n / (phi - 1);
  const a = 1 + n * r;
  const b = s;
  const lbeta = (x: number, y: number) => logGamma(x) + logGamma(y) - logGamma(x + y);
  return logGamma(k + r) - logGamma(r) - logGamma(k + 1) + lbeta(a + r, b + k) - lbeta(a, b);
}

function sumsToOne(model: NegativeBinomialModel, slot: number, upTo: number): number {
  let p = 0;
  for (let k = 0; k <= upTo; k++) p += Math.exp(model.logPredictive(slot, k));
  return p;
}

describe('NegativeBinomialModel', () => {
  it('predictive equals the beta–negative-binomial pmf and sums to 1', () => {
    const m = new NegativeBinomialModel({ meanCount: 10, weightTicks: 0.5 });
    m.setDispersion(2.5);
    m.resize(1);
    m.setPrior(0);
    const xs: number[] = [];
    for (const x of [12, 7, 15, 9, 11]) {
      expect(m.logPredictive(0, 8)).toBeCloseTo(bnbRef(2.5, 0.5, 10, xs, 8), 9);
      m.update(0, x);
      xs.push(x);
    }
    expect(sumsToOne(m, 0, 400)).toBeCloseTo(1, 6);
    expect(m.rate(0).mean).toBeCloseTo((5 + 54) / 5.5, 9);
  });

  it('is the Poisson–Gamma predictive in the limit φ → 1', () => {
    const m = new NegativeBinomialModel({ meanCount: 30, weightTicks: 1 });
    m.resize(1);
    m.setPrior(0);
    for (const x of [28, 35, 31]) m.update(0, x);
    // Poisson–Gamma with α = 30 + 94, β = 4: NB(α, β/(β+1)).
    const a = 124;
    const b = 4;
    const k = 33;
    const ref = logGamma(k + a) - logGamma(a) - logGamma(k + 1) + a * Math.log(b / (b + 1)) - k * Math.log(b + 1);
    expect(m.logPredictive(0, k)).toBeCloseTo(ref, 3);
  });

  it('a new segment prior applies to segments started after it, not to running ones', () => {
    const m = new NegativeBinomialModel({ meanCount: 5, weightTicks: 1 });
    m.resize(2);
    m.setPrior(0);
    m.setSegmentPrior({ meanCount: 50, weightTicks: 1 });
    m.setPrior(1);
    expect(m.rate(0).mean).toBe(5);
    expect(m.rate(1).mean).toBe(50);
  });

  it('rejects a dispersion below 1', () => {
    expect(() => new NegativeBinomialModel().setDispersion(0.5)).toThrow(/Expected `dispersion`/);
  });
});

describe('DispersionEstimator', () => {
  it('learns φ of a negative-binomial stream and stays near 1 on a Poisson one', () => {
    for (const phi of [1, 3]) {
      const rng = new Rng(10 + phi);
      const d = new DispersionEstimator();
      for (let t = 0; t < 3000; t++) d.observe(negBinDraw(rng, 40, phi));
      expect(Math.abs(d.dispersion - phi), `φ ${phi}: got ${d.dispersion}`).toBeLessThan(0.25 * phi);
      expect(d.meanCount).toBeGreaterThan(36);
      expect(d.meanCount).toBeLessThan(44);
    }
  });

  it('a rate step barely moves it (the one large difference is clipped)', () => {
    const rng = new Rng(12);
    const d = new DispersionEstimator();
    for (let t = 0; t < 2000; t++) d.observe(negBinDraw(rng, t < 1000 ? 40 : 200, 1));
    expect(d.dispersion).toBeLessThan(1.3);
  });
});

describe('ArrivalRateEstimator on over-dispersed traffic', () => {
  const run = (phi: number, seconds: number, factorAt: (t: number) => number, seed: number) => {
    const rng = new Rng(seed);
    const e = new ArrivalRateEstimator({}, 0);
    const alarms: { changeAtMs: number; detectedAtMs: number }[] = [];
    for (let t = 0; t < seconds; t++) {
      e.record(t * 1000 + 1, negBinDraw(rng, 40 * factorAt(t), phi));
      alarms.push(...e.advance((t + 1) * 1000));
    }
    return { e, alarms };
  };

  it('raises no alarm in an hour of stationary traffic with φ = 3', () => {
    expect(run(3, 3600, () => 1, 21).alarms).toEqual([]);
  });

  it('finds a ×2 step within 5 s and a +20 % step within 30 s (φ = 1.05)', () => {
    const two = run(1.05, 900, (t) => (t >= 600 ? 2 : 1), 22).alarms;
    expect(two.length).toBe(1);
    expect(two[0].detectedAtMs - 600_000).toBeLessThanOrEqual(5000);
    expect(Math.abs(two[0].changeAtMs - 600_000)).toBeLessThanOrEqual(2000);
    const up = run(1.05, 900, (t) => (t >= 600 ? 1.2 : 1), 23);
    expect(up.alarms.length).toBe(1);
    expect(up.alarms[0].detectedAtMs - 600_000).toBeLessThanOrEqual(30_000);
    expect(up.e.snapshot().rateRps).toBeGreaterThan(44);
  });

  it('keeps the posterior normalised with the dispersion changing under it', () => {
    const m = new NegativeBinomialModel({ meanCount: 20 });
    const b = new Bocpd(m, { hazard: 1 / 100 });
    const rng = new Rng(24);
    for (let t = 0; t < 500; t++) {
      m.setDispersion(1 + (t % 50) / 10);
      b.update(negBinDraw(rng, 20, 2));
    }
    expect(b.posterior().reduce((s, e) => s + e.probability, 0)).toBeCloseTo(1, 12);
  });
});
