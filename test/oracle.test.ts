import { describe, expect, it } from 'vitest';
import { Rng } from '../shared/rng.ts';
import type { Profile } from '../shared/profile.ts';
import { constantBandwidth } from '../shared/traces/bandwidth.ts';
import { largestBatches, maxWindowCounts, oracleBound } from '../simulator/oracle.ts';
import { computeOracle, runSimulation, type SimConfig } from '../simulator/run.ts';
import { World } from '../simulator/world.ts';
import { poisson, profile, simConfig, tiers } from './helpers/sim-fixtures.ts';

/** A Jetson-like edge: a large fixed cost per batch, little per item, noisy (resampled residuals). */
function slowEdgeProfile(rng: Rng): Profile {
  const p = structuredClone(profile) as Profile & { targets: Record<string, Profile['targets'][string]> };
  const relativeResiduals = Array.from({ length: 30 }, () => -0.25 + rng.next() * 0.6);
  p.targets.edge = { ...p.targets.edge, aMs: 450 + rng.int(150), kMs: 6 + rng.next() * 6, residualQ95Ms: 100, relativeResiduals, coldStartMs: 0 };
  return p;
}

describe('oracle bound', () => {
  it('largestBatches: the largest b whose b arrivals fit a window of width(b) around a_i', () => {
    const rng = new Rng(3);
    const a = poisson(rng, 40, 0, 3000);
    const width = (b: number) => 600 - 20 * b;
    const got = largestBatches(a, width);
    const counts = new Int32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      let want = 0;
      for (let b = 1; width(b) >= 0; b++) {
        maxWindowCounts(a, width(b), counts);
        if (counts[i] >= b) want = b;
        else break;
      }
      expect(got[i]).toBe(want);
    }
  });

  it('the world draws one edge factor per run, whatever its size (the draw-sequence argument relies on it)', () => {
    const p = slowEdgeProfile(new Rng(4));
    const mk = () => new World({ tiers, profile: p, bandwidth: constantBandwidth(1e7), edgeWorkers: 1, rttMs: 30, keepAliveMs: 1000, seed: 7 });
    const w1 = mk();
    const w2 = mk();
    const e = p.targets.edge;
    for (let k = 0; k < 50; k++) {
      const b = 1 + (k % 9);
      const f1 = w1.run('edge', 1, 0, 0).obs.inferMs / (e.aMs + e.kMs);
      const f2 = w2.run('edge', b, 0, 0).obs.inferMs / (e.aMs + e.kMs * b);
      expect(f2).toBeCloseTo(f1, 9);
    }
  });

  it('the edge never absorbs more than any real single-worker schedule can (brute force over tiny traces)', () => {
    // Every sequence of edge runs (batches of any subset, in any order, started as early as
    // possible, plus probes that burn a draw), each run taking the next factor of a fixed sequence.
    const rng = new Rng(17);
    const e = { aMs: 300, kMs: 40 };
    for (let trial = 0; trial < 40; trial++) {
      const n = 4 + rng.int(4);
      const slo = 700 + rng.int(600);
      const a = Array.from({ length: n }, () => rng.next() * 2500).sort((x, y) => x - y);
      const phi = Array.from({ length: 12 }, () => 0.6 + rng.next() * 0.8);
      const fmin = Math.min(...phi);
      const p = structuredClone(profile) as Profile;
      (p.targets as Record<string, Profile['targets'][string]>).edge = { ...p.targets.edge, ...e };
      const r = oracleBound({ arrivalsMs: a, sloMs: slo, itemBytes: 20000, tiers, profile: p, rttMs: 30, maxBps: 2e7, edgeWorkers: 1, minLatencyFactor: (t) => (t === 'edge' ? fmin : 1), edgeFactors: phi });
      const w = r.perRequestUsd;
      let absorbed = 0;
      for (let i = 0; i < n; i++) if (Number.isFinite(w[i])) absorbed += w[i] * r.edgeFraction[i];
      let best = 0;
      const go = (left: number, free: number, k: number, got: number): void => {
        best = Math.max(best, got);
        if (k >= phi.length || left === 0) return;
        go(left, free + phi[k] * (e.aMs + e.kMs), k + 1, got); // a probe
        for (let s = left; s > 0; s = (s - 1) & left) {
          let lo = Infinity;
          let hi = -Infinity;
          let b = 0;
          let wt = 0;
          for (let i = 0; i < n; i++) {
            if (!(s & (1 << i))) continue;
            lo = Math.min(lo, a[i]);
            hi = Math.max(hi, a[i]);
            b++;
            wt += Number.isFinite(w[i]) ? w[i] : 0;
          }
          const end = Math.max(free, hi) + phi[k] * (e.aMs + e.kMs * b);
          if (end <= lo + slo) go(left & ~s, end, k + 1, got + wt);
        }
      };
      go((1 << n) - 1, 0, 0, 0);
      expect(absorbed, `trial ${trial}`).toBeGreaterThanOrEqual(best - 1e-15);
    }
  });

  it('costs no more than any policy that serves every request on time (noise and cold starts on, slow and fast edges)', () => {
    const rng = new Rng(41);
    let compared = 0;
    let positive = 0;
    for (let trial = 0; trial < 10; trial++) {
      const slow = trial % 2 === 0;
      const arr = poisson(rng, slow ? 20 + rng.next() * 70 : 20 + rng.next() * 120, 0, 10_000);
      const workers = slow ? 1 : rng.int(3);
      const cfg: SimConfig = simConfig(arr, {
        keepAliveMs: 60_000,
        seed: 1 + trial,
        noiseScale: 1,
        profile: slow ? slowEdgeProfile(rng) : profile,
        sloMs: 1800 + rng.int(800), // room for a cold start (1.3–1.5 s), so FC policies can be punctual
        edgeWorkers: workers,
        bandwidth: constantBandwidth(5e6 + rng.next() * 40e6),
        policies: ['ours', 'seed', 'static-best', 'triton', 'no-batching', 'cloud-only', ...(workers > 0 ? ['edge-only'] : []), 'oracle'],
      });
      const r = runSimulation(cfg);
      const bound = r.policies.oracle.costUsd;
      if (bound > 0) positive++;
      for (const [name, s] of Object.entries(r.policies)) {
        if (name === 'oracle' || s.sloAttainment < 1) continue;
        if (s.costUsd > 0) compared++;
        expect(bound, `${name} trial ${trial}`).toBeLessThanOrEqual(s.costUsd + 1e-12);
      }
    }
    expect(compared).toBeGreaterThan(10);
    expect(positive).toBeGreaterThanOrEqual(2); // the bound bites (FC-heavy trials); on 10 s traces the slow edge's run slack is loose
  });

  it('is positive for a slow edge that cannot keep up, and grows as the edge slows', () => {
    const rng = new Rng(5);
    const arr = poisson(rng, 40, 0, 20_000);
    const p = slowEdgeProfile(new Rng(6));
    const costs = [1, 1.5, 2].map((s) => {
      const q = structuredClone(p) as Profile;
      (q.targets as Record<string, Profile['targets'][string]>).edge = { ...p.targets.edge, aMs: p.targets.edge.aMs * s, kMs: p.targets.edge.kMs * s };
      return computeOracle(simConfig(arr, { keepAliveMs: 60_000, policies: ['oracle'], profile: q, sloMs: 1000 })).costUsd;
    });
    expect(costs[0]).toBeGreaterThan(0);
    expect(costs[1]).toBeGreaterThanOrEqual(costs[0]);
    expect(costs[2]).toBeGreaterThanOrEqual(costs[1]);
  });
});
