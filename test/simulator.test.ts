import { describe, expect, it } from 'vitest';
import { Rng } from '../shared/rng.ts';
import { constantBandwidth, makeBandwidthTrace } from '../shared/traces/bandwidth.ts';
import { EventQueue } from '../simulator/heap.ts';
import { maxWindowCounts } from '../simulator/oracle.ts';
import { targetFromMeasuredTsv, tiersFromHarmonyBatch } from '../simulator/profiles.ts';
import { computeOracle, runSimulation, type SimConfig } from '../simulator/run.ts';
import { World } from '../simulator/world.ts';
import { runEngine } from '../simulator/engine.ts';
import type { BatchObservation, SimPolicy } from '../simulator/types.ts';
import { poisson as poissonMs, profile, simConfig, tiers } from './helpers/sim-fixtures.ts';

/** Poisson arrivals at `ratePerS` for `durationS` from `startMs`. */
const poisson = (rng: Rng, ratePerS: number, durationS: number, startMs = 0) => poissonMs(rng, ratePerS, startMs, startMs + durationS * 1000);

const BASELINES = ['seed', 'static-best', 'triton', 'no-batching', 'edge-only', 'cloud-only'];

const config = (arrivalsMs: number[], over: Partial<SimConfig> = {}): SimConfig =>
  simConfig(arrivalsMs, { keepAliveMs: 60_000, policies: BASELINES, ...over });

describe('EventQueue', () => {
  it('pops by time, then completions before arrivals before wakes, then insertion order', () => {
    const q = new EventQueue();
    q.push({ tMs: 5, kind: 'wake', ref: 1 });
    q.push({ tMs: 5, kind: 'arrival', ref: 2 });
    q.push({ tMs: 1, kind: 'wake', ref: 3 });
    q.push({ tMs: 5, kind: 'complete', ref: 4 });
    q.push({ tMs: 5, kind: 'arrival', ref: 5 });
    const order: number[] = [];
    for (let e = q.pop(); e; e = q.pop()) order.push(e.ref);
    expect(order).toEqual([3, 4, 2, 5, 1]);
  });

  it('sorts many random times', () => {
    const rng = new Rng(5);
    const q = new EventQueue();
    const ts = Array.from({ length: 500 }, () => rng.next() * 1000);
    for (const t of ts) q.push({ tMs: t, kind: 'arrival', ref: 0 });
    const out: number[] = [];
    for (let e = q.pop(); e; e = q.pop()) out.push(e.tMs);
    expect(out).toEqual([...ts].sort((a, b) => a - b));
  });
});

describe('World', () => {
  it('charges a cold start after the keep-alive and not within it', () => {
    const w = new World({ tiers, profile, bandwidth: constantBandwidth(8e6), edgeWorkers: 1, rttMs: 30, keepAliveMs: 1000, seed: 1, noiseScale: 0 });
    const tier = 'tier-c1-m2048';
    const a = w.run(tier, 4, 4000, 0);
    expect(a.obs.coldStart).toBe(true);
    const b = w.run(tier, 4, 4000, a.endMs + 500);
    expect(b.obs.coldStart).toBe(false);
    const c = w.run(tier, 4, 4000, b.endMs + 5000);
    expect(c.obs.coldStart).toBe(true);
    // transfer = rtt + 4000 B at 8 Mbit/s = 30 + 4 ms; warm latency = a + 4k
    const p = profile.targets[tier];
    expect(b.obs.transferMs).toBeCloseTo(34);
    expect(b.endMs - (a.endMs + 500)).toBeCloseTo(34 + p.aMs + 4 * p.kMs);
    expect(c.obs.costUsd).toBeGreaterThan(b.obs.costUsd);
  });

  it('shares one uplink: a second upload sent meanwhile waits for the first one\'s bytes', () => {
    const w = new World({ tiers, profile, bandwidth: constantBandwidth(8e6), edgeWorkers: 1, rttMs: 30, keepAliveMs: 1000, seed: 1, noiseScale: 0 });
    // 100 KB at 8 Mbit/s = 100 ms on the wire, then the 30 ms round trip.
    const a = w.run('tier-c1-m2048', 5, 100_000, 0);
    const b = w.run('tier-c2-m4096', 5, 100_000, 10);
    expect(a.obs.transferMs).toBeCloseTo(130);
    expect(b.obs.transferMs).toBeCloseTo(100 - 10 + 100 + 30);
    // Once the pipe is idle again, a transfer is back to rtt + bytes / bandwidth.
    const c = w.run('tier-c1-m2048', 5, 100_000, 1000);
    expect(c.obs.transferMs).toBeCloseTo(130);
  });

  it('queues batches on a busy edge worker', () => {
    const w = new World({ tiers, profile, bandwidth: constantBandwidth(8e6), edgeWorkers: 1, rttMs: 30, keepAliveMs: 1000, seed: 1, noiseScale: 0 });
    const a = w.run('edge', 2, 0, 0);
    const b = w.run('edge', 2, 0, 1);
    expect(b.endMs).toBeCloseTo(a.endMs + profile.targets.edge.aMs + 2 * profile.targets.edge.kMs);
  });
});

describe('runEngine', () => {
  it('runs probe orders outside the queue, bills them and reports them back marked as probes', () => {
    const seen: BatchObservation[] = [];
    let probed = false;
    const queue: string[] = [];
    const policy: SimPolicy = {
      name: 'probe-once',
      admit: (r) => (queue.push(r.id), { ok: true }),
      decide: () => {
        const probe = probed ? [] : [{ target: 'tier-c1-m2048', reason: 'prewarm' as const, timeoutMs: 5000 }];
        probed = true;
        return { dispatch: queue.length ? [{ target: 'edge', requestIds: queue.splice(0) }] : [], reject: [], wakeAtMs: null, probe };
      },
      onComplete: (obs) => void seen.push(obs),
      replans: () => 0,
    };
    const world = new World({ tiers, profile, bandwidth: constantBandwidth(8e6), edgeWorkers: 1, rttMs: 30, keepAliveMs: 1000, seed: 1, noiseScale: 0 });
    const t = runEngine(policy, world, { arrivalsMs: [0, 10, 20], sloMs: 1000, itemBytes: 20000 });
    const probes = seen.filter((o) => o.probe);
    expect(probes.length).toBe(1);
    expect(probes[0]).toMatchObject({ target: 'tier-c1-m2048', ok: true, coldStart: true });
    expect(t.probes).toBe(1);
    expect(t.costUsd).toBeCloseTo(probes[0].costUsd);
    expect(t.costUsd).toBeGreaterThan(0);
    expect(t.servedAt.every((x) => x === 1)).toBe(true); // the requests themselves stayed on the edge
  });
});

describe('runSimulation', () => {
  const rng = new Rng(11);
  const arrivals = [...poisson(rng, 30, 20), ...poisson(rng, 120, 20, 20_000)];

  it('is deterministic for a seed', () => {
    const a = runSimulation(config(arrivals));
    const b = runSimulation(config(arrivals));
    expect(a.policies).toEqual(b.policies);
    const c = runSimulation(config(arrivals, { seed: 2, policies: ['triton'] }));
    expect(c.policies.triton.p99Ms).not.toBe(a.policies.triton.p99Ms);
  });

  it('books every request exactly once: served + rejected = requests, nothing stranded', () => {
    for (const over of [{}, { sloMs: 300 }, { edgeWorkers: 0, policies: BASELINES.filter((p) => p !== 'edge-only') }, { bandwidth: makeBandwidthTrace([{ tMs: 0, bps: 2e6 }, { tMs: 3000, bps: 0 }], 5000) }]) {
      const r = runSimulation(config(arrivals, over));
      for (const [name, s] of Object.entries(r.policies)) {
        expect(s.served + s.rejected, name).toBe(arrivals.length);
        expect(s.stranded, name).toBe(0);
      }
    }
  });

  it('serves an edge-only load entirely on the edge', () => {
    const light = poisson(new Rng(3), 5, 30);
    const r = runSimulation(config(light, { policies: ['edge-only'] }));
    expect(r.policies['edge-only'].sloAttainment).toBe(1);
    expect(r.policies['edge-only'].costUsd).toBe(0);
  });
});

describe('oracle', () => {
  it('maxWindowCounts matches brute force', () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 20; trial++) {
      const a = poisson(rng, 50, 2);
      const w = rng.next() * 200;
      const out = new Int32Array(a.length);
      maxWindowCounts(a, w, out);
      for (let i = 0; i < a.length; i++) {
        let best = 0;
        for (const s of a) if (s <= a[i] && s >= a[i] - w) best = Math.max(best, a.filter((x) => x >= s && x <= s + w).length);
        expect(out[i]).toBe(best);
      }
    }
  });

  it('costs no more than any policy that serves every request on time (random small traces, no noise)', () => {
    // No cold starts: on 8 s traces they would make every FC policy miss, leaving nothing to compare.
    const warm = structuredClone(profile);
    for (const t of Object.values(warm.targets)) t.coldStartMs = 0;
    const rng = new Rng(21);
    let compared = 0;
    for (let trial = 0; trial < 12; trial++) {
      const rate = 5 + rng.next() * 150;
      const arr = poisson(rng, rate, 8);
      const over: Partial<SimConfig> = {
        noiseScale: 0,
        profile: warm,
        sloMs: 400 + rng.int(1600),
        edgeWorkers: rng.int(3),
        bandwidth: constantBandwidth(5e6 + rng.next() * 50e6),
        policies: ['static-best', 'triton', 'no-batching', 'cloud-only', 'seed', 'oracle'],
      };
      const r = runSimulation(config(arr, over));
      const bound = r.policies.oracle.costUsd;
      for (const [name, s] of Object.entries(r.policies)) {
        if (name === 'oracle' || s.sloAttainment < 1) continue;
        if (s.costUsd > 0) compared++;
        expect(bound, `${name} trial ${trial}`).toBeLessThanOrEqual(s.costUsd + 1e-12);
      }
    }
    expect(compared).toBeGreaterThan(10); // enough non-trivial comparisons to mean something
  });

  it('is positive when there is no edge and shrinks as edge workers are added', () => {
    const arr = poisson(new Rng(4), 80, 10);
    const costs = [0, 1, 2, 4].map((w) => computeOracle(config(arr, { edgeWorkers: w, noiseScale: 0 })).costUsd);
    expect(costs[0]).toBeGreaterThan(0);
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeLessThanOrEqual(costs[i - 1]);
  });
});

describe('reference profile conversion', () => {
  it('fits a measurement TSV target and keeps its relative residuals', () => {
    const rows = ['target\tbatch\tmemory_mb\tseconds'];
    for (const b of [1, 2, 4, 8]) rows.push(`box\t${b}\t1024\t${(0.1 + 0.02 * b).toFixed(3)}`, `other\t${b}\t1024\t9`);
    const t = targetFromMeasuredTsv(rows.join('\n'), 'box');
    expect(t.aMs).toBeCloseTo(100);
    expect(t.kMs).toBeCloseTo(20);
    expect(t.relativeResiduals?.length).toBe(4);
  });

  it('converts a HarmonyBatch model per tier vCPU: more vCPU, less latency', () => {
    const coef = (alpha: number, gamma: number) => [alpha, 0.5, gamma];
    const json = { M: { CPU: { avg: { Exponential: [coef(2, 0.2), coef(4, 0.35), coef(6, 0.5)] }, max: { Exponential: [coef(3, 0.25), coef(5, 0.4), coef(7, 0.6)] } } } };
    const out = tiersFromHarmonyBatch(json, tiers, () => 1000);
    const lat = tiers.map((t) => out[t.key].aMs + 2 * out[t.key].kMs);
    for (let i = 1; i < lat.length; i++) expect(lat[i]).toBeLessThan(lat[i - 1]);
    // at c = 1: latency(b=2) = 4·exp(−2) + 0.35 s
    const c1 = tiers.find((t) => t.vcpu === 1)!;
    expect(out[c1.key].aMs + 2 * out[c1.key].kMs).toBeCloseTo((4 * Math.exp(-2) + 0.35) * 1000, -1);
    expect(out[c1.key].residualQ99Ms).toBeGreaterThan(0);
  });
});

