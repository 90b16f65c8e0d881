// The regime matrix's parts: world ≠ prior, the edge rules of the baselines, and the verdicts.
import { describe, expect, it } from 'vitest';
import { Rng } from '../shared/rng.ts';
import { constantBandwidth, meanBps } from '../shared/traces/bandwidth.ts';
import type { Profile } from '../shared/profile.ts';
import { parseWorldScale } from '../simulator/config.ts';
import type { PolicySummary } from '../simulator/metrics.ts';
import { AdaptiveEdgeRule } from '../simulator/policies/bentoml.ts';
import { fixedEdgeRule } from '../simulator/policies/edge-first.ts';
import { staticEdgeGrid } from '../simulator/policies/static-best.ts';
import { policyContext, runSimulation, type SimConfig } from '../simulator/run.ts';
import { scaleBandwidth, scaleProfile } from '../simulator/world.ts';
import { costVerdict, dominates, frontier, oracleVerdict, replanVerdict, attainmentVerdict, runVerdicts } from '../bench/verdicts.ts';
import { formatRow, summaryLine, type MatrixRow } from '../bench/matrix.ts';
import { poisson, profile, simConfig } from './helpers/sim-fixtures.ts';

const config = (arrivalsMs: number[], over: Partial<SimConfig> = {}): SimConfig => simConfig(arrivalsMs, { keepAliveMs: 60_000, policies: ['edge-only'], ...over });

/** A Jetson-like edge: a large fixed cost per batch, little per item. */
const slowFixed: Profile = { ...profile, targets: { ...profile.targets, edge: { aMs: 400, kMs: 5, residualQ95Ms: 10, residualQ99Ms: 20, coldStartMs: 0, samples: 0 } } };

const summary = (sloAttainment: number, costUsd: number, replans: number | null = 0): PolicySummary => ({
  requests: 1000,
  served: 1000,
  rejected: 0,
  sloAttainment,
  costUsd,
  costPerMillionUsd: costUsd * 1000,
  p50Ms: null,
  p95Ms: null,
  p99Ms: null,
  edgeShare: null,
  invocations: null,
  coldStarts: null,
  replans,
});

describe('world and prior', () => {
  it('scaleProfile slows the named targets only and rejects unknown ones', () => {
    const w = scaleProfile(profile, { edge: 1.5, 'tier-c1-m2048': 2 });
    expect(w.targets.edge.kMs).toBeCloseTo(profile.targets.edge.kMs * 1.5);
    expect(w.targets['tier-c1-m2048'].aMs).toBeCloseTo(profile.targets['tier-c1-m2048'].aMs * 2);
    expect(w.targets['tier-c2-m4096']).toEqual(profile.targets['tier-c2-m4096']);
    expect(w.targets.edge.coldStartMs).toBe(profile.targets.edge.coldStartMs);
    expect(() => scaleProfile(profile, { nope: 2 })).toThrow(/nope/);
    expect(meanBps(scaleBandwidth(constantBandwidth(8e6), 0.5))).toBeCloseTo(4e6);
  });

  it('parseWorldScale reads target=factor lists and names a bad entry', () => {
    expect(parseWorldScale('edge=1.5, link=0.5')).toEqual({ edge: 1.5, link: 0.5 });
    expect(() => parseWorldScale('edge=-1')).toThrow(/edge=-1/);
  });

  it('a world slower than the prior moves the figures; a world equal to it moves nothing', () => {
    const arr = poisson(new Rng(5), 40, 0, 20_000);
    const base = runSimulation(config(arr, { policies: ['edge-only', 'no-batching'] }));
    const same = runSimulation(config(arr, { policies: ['edge-only', 'no-batching'], worldProfile: profile }));
    expect(same.policies).toEqual(base.policies);
    const slow = runSimulation(config(arr, { policies: ['edge-only', 'no-batching'], worldProfile: scaleProfile(profile, { edge: 3 }) }));
    expect(slow.policies['edge-only'].p50Ms!).toBeGreaterThan(base.policies['edge-only'].p50Ms!);
  });

  it('offline planners see the prior link, the world and probes the real one', () => {
    const ctx = policyContext(config([1], { bandwidth: constantBandwidth(5e6), priorMeanBps: 10e6 }));
    expect(ctx.meanBps).toBe(10e6);
    expect(ctx.probeBps(0)).toBe(5e6);
  });
});

describe('edge rules of the baselines', () => {
  const req = (arrivalMs: number) => ({ id: '0', arrivalMs, deadlineMs: arrivalMs + 1000, bytes: 1 });

  it('fixedEdgeRule holds until the oldest has waited its delay, and not at delay 0', () => {
    expect(fixedEdgeRule(8, 100).holdUntilMs(req(0), 3, 40)).toBe(100);
    expect(fixedEdgeRule(8, 100).holdUntilMs(req(0), 3, 120)).toBeNull();
    expect(fixedEdgeRule(8, 0).holdUntilMs(req(0), 3, 40)).toBeNull();
  });

  it('the adaptive rule waits on an edge with a large fixed cost, not on one with none, and learns a slower edge', () => {
    const ctx = policyContext(config([1], { profile: slowFixed }));
    const rule = new AdaptiveEdgeRule(ctx, 1000);
    for (let t = 0; t <= 200; t += 50) rule.onArrival(req(t), t);
    expect(rule.holdUntilMs(req(200), 1, 200)).toBeGreaterThan(200);
    const fast = new AdaptiveEdgeRule(policyContext(config([1])), 1000);
    for (let t = 0; t <= 200; t += 50) fast.onArrival(req(t), t);
    expect(fast.holdUntilMs(req(200), 1, 200)).toBeNull(); // 2 ms fixed cost: not worth 50 ms
    const before = rule.maxBatch();
    for (const n of [1, 4, 8, 1, 4, 8]) rule.observe({ target: 'edge', batchSize: n, bytes: n, ok: true, wallMs: 0, inferMs: 600 + 10 * n, transferMs: 0, coldStart: false, costUsd: 0 });
    expect(rule.maxBatch()).toBeLessThan(before);
  });

  it('a held edge batches more: fewer, larger edge batches on a large-fixed-cost edge, every request booked once', () => {
    const arr = poisson(new Rng(7), 4, 0, 30_000);
    const r = runSimulation(config(arr, { profile: slowFixed, policies: ['triton', 'bentoml', 'static-best', 'no-batching'] }));
    for (const [name, s] of Object.entries(r.policies)) {
      expect(s.served + s.rejected, name).toBe(arr.length);
      expect(s.stranded, name).toBe(0);
    }
    const edgeBatches = (p: string) => r.runs[p].batches.filter((b) => b.target === 'edge');
    const mean = (p: string) => edgeBatches(p).reduce((s, b) => s + b.size, 0) / edgeBatches(p).length;
    expect(mean('triton')).toBeGreaterThan(mean('no-batching'));
    expect(mean('bentoml')).toBeGreaterThan(mean('no-batching'));
    expect(r.policies.bentoml.sloAttainment).toBeGreaterThanOrEqual(r.policies['no-batching'].sloAttainment - 0.002);
  });

  it('static-best tries edge batches and waits that fit the SLO', () => {
    const ctx = policyContext(config([1], { profile: slowFixed }));
    const grid = staticEdgeGrid(ctx, { tier: 'none', batch: 0, timeoutMs: Infinity });
    expect(grid.some((c) => (c.edgeWaitMs ?? 0) > 0 && (c.edgeBatch ?? 0) > 1)).toBe(true);
    for (const c of grid) expect((c.edgeWaitMs ?? 0) + 400 + 5 * c.edgeBatch! + 10).toBeLessThanOrEqual(1000);
  });
});

describe('verdicts', () => {
  it('compare cost only at equal punctuality; a cheaper, less punctual policy dominates nothing', () => {
    expect(dominates(summary(0.999, 1), summary(0.998, 2))).toBe(true); // within 0.2 pt: cheaper wins
    expect(dominates(summary(0.99, 1), summary(0.999, 2))).toBe(false); // cheaper but less punctual
    expect(dominates(summary(0.999, 2), summary(0.99, 2))).toBe(true); // more punctual, no dearer
    expect(frontier({ ours: summary(0.999, 2), seed: summary(0.99, 1), triton: summary(0.998, 3), oracle: summary(1, 0) })).toEqual(['ours', 'seed']);
  });

  it('(b): ≤ static-best and ≤ 0.9× others when equally punctual; n/a when none is; failed when dominated', () => {
    expect(costVerdict({ ours: summary(0.999, 0.85), 'static-best': summary(0.998, 0.9), triton: summary(0.9985, 1) }).ok).toBe(true);
    expect(costVerdict({ ours: summary(0.999, 0.95), 'static-best': summary(0.998, 1), triton: summary(0.9985, 1) }).ok).toBe(false); // 0.95 > 0.9 × triton
    expect(costVerdict({ ours: summary(0.999, 5), seed: summary(0.95, 1) }).ok).toBeNull();
    expect(costVerdict({ ours: summary(0.95, 5), seed: summary(0.999, 1) }).ok).toBe(false);
  });

  it('(a), (c), (d) follow the issue', () => {
    expect(attainmentVerdict({ ours: summary(0.97, 0), seed: summary(0.971, 0) }).ok).toBe(true); // 99.5 % out of reach, within 0.2 pt
    expect(attainmentVerdict({ ours: summary(0.97, 0), seed: summary(0.996, 0) }).ok).toBe(false);
    expect(oracleVerdict({ ours: summary(1, 1.2), seed: summary(1, 1.1), oracle: summary(1, 1) }).ok).toBe(true);
    expect(oracleVerdict({ ours: summary(1, 1.4), oracle: summary(1, 1) }).ok).toBe(false); // 1.4 × the bound
    expect(oracleVerdict({ ours: summary(0.9, 0), seed: summary(1, 0.5), oracle: summary(1, 1) }).detail).toMatch(/INVALID: seed/);
    expect(replanVerdict({ ours: summary(0.999, 1, 5), 'ours-periodic': summary(0.999, 1, 100) }).ok).toBe(true);
    expect(replanVerdict({ ours: summary(0.999, 1.1, 5), 'ours-periodic': summary(0.999, 1, 100) }).ok).toBe(false);
  });

  it('the matrix prints a block per run and one summary line per regime', () => {
    const policies = { ours: summary(0.999, 1, 5), 'ours-periodic': summary(0.999, 1, 100), 'static-best': summary(0.999, 2), oracle: summary(1, 0.9) };
    const row: MatrixRow = { regime: 'r', arrivals: 'a.txt', bandwidth: 'b.log', sloMs: 1000, wallS: 1, policies, staticBest: null, verdicts: runVerdicts(policies) };
    expect(formatRow(row)).toMatch(/\(b\) ✓ static-best 0\.50×/);
    expect(summaryLine('r', [row])).toMatch(/^r: 1 runs .*\(a\) 1\/1, \(b\) 1\/1, \(c\) 1\/1, \(d\) 1\/1; ours on the frontier 1\/1/);
  });
});
