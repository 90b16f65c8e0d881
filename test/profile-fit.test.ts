import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProfile, chartSpec, cheapestByDeadline, costPerRequestUsd, fitLink, fitLinear, renderSvg, type Sample } from '../cli/profile.ts';
import { costOf } from '../shared/pricing.ts';
import { loadProfile, profileSchema, type Profile } from '../shared/profile.ts';
import { Rng } from '../shared/rng.ts';
import { loadTiers } from '../shared/tiers.ts';

const tiers = loadTiers();

function sample(target: string, batchSize: number, latencyMs: number, extra: Partial<Sample> = {}): Sample {
  return { target, batchSize, latencyMs, wallMs: latencyMs, transferMs: 0, bytesSent: 0, coldStart: false, warmup: false, ...extra };
}

describe('fitLinear', () => {
  it('recovers a and k from noisy samples and puts the tail in the residual quantiles', () => {
    const rng = new Rng(7);
    const pts = [];
    for (const b of [1, 2, 4, 8, 16]) for (let i = 0; i < 40; i++) pts.push({ batchSize: b, latencyMs: 12 + 7.5 * b + rng.normal() * 2 });
    const fit = fitLinear(pts);
    expect(fit.aMs).toBeCloseTo(12, 0);
    expect(fit.kMs).toBeCloseTo(7.5, 0);
    expect(fit.residualQ95Ms).toBeGreaterThan(2); // ≈ 1.64 σ
    expect(fit.residualQ99Ms).toBeGreaterThanOrEqual(fit.residualQ95Ms);
    expect(fit.samples).toBe(200);
    expect(fit.relativeResiduals).toHaveLength(200);
  });

  it('keeps a and k ≥ 0 when the data slope downwards or the intercept would be negative', () => {
    const down = fitLinear([sample('x', 1, 30), sample('x', 8, 20)]);
    expect(down.kMs).toBe(0);
    expect(down.aMs).toBe(25);
    const steep = fitLinear([sample('x', 2, 10), sample('x', 4, 30)]); // line through (2,10),(4,30) has a = -10
    expect(steep.aMs).toBe(0);
    expect(steep.kMs).toBe(10); // the slope is kept (shared/stats.ts fitLine, as the simulator fits)
  });

  it('with a single batch size attributes the time per item', () => {
    expect(fitLinear([sample('x', 4, 40), sample('x', 4, 44)])).toMatchObject({ aMs: 0, kMs: 10.5 });
  });

  it('refuses an empty sample', () => {
    expect(() => fitLinear([])).toThrow(/at least one sample/);
  });
});

describe('fitLink', () => {
  it('turns transfer time against bytes into rtt and Mbit/s', () => {
    // 40 ms rtt, 8 Mbit/s = 1 byte per µs = 0.001 ms per byte.
    const s = [10_000, 40_000, 80_000].map((bytes) => sample('tier-c1-m2048', 1, 50, { bytesSent: bytes, transferMs: 40 + bytes * 0.001 }));
    const link = fitLink(s)!;
    expect(link.rttMs).toBeCloseTo(40, 1);
    expect(link.uplinkMbps).toBeCloseTo(8, 1);
  });
  it('leaves the bandwidth undefined when transfer does not grow with size (loopback)', () => {
    const s = [10_000, 40_000].map((bytes) => sample('t', 1, 50, { bytesSent: bytes, transferMs: 2 }));
    expect(fitLink(s)).toEqual({ rttMs: 2, uplinkMbps: undefined });
  });
});

describe('buildProfile', () => {
  it('writes a profile loadProfile accepts, without warm-up or cold calls in the fits', () => {
    const samples: Sample[] = [
      sample('edge', 1, 500, { warmup: true }),
      sample('edge', 1, 20),
      sample('edge', 4, 65),
      sample('tier-c1-m2048', 1, 30, { coldStart: true, wallMs: 1530 }),
      sample('tier-c1-m2048', 1, 30),
      sample('tier-c1-m2048', 4, 102),
    ];
    const fallback = loadProfile();
    const p = buildProfile(samples, { model: 'ocr-rec', source: 'unit test', itemBytes: 1234.4, createdAt: '2026-11-24T00:00:00Z', fallback });
    expect(p.targets.edge).toMatchObject({ aMs: 5, kMs: 15, samples: 2 });
    expect(p.targets['tier-c1-m2048']).toMatchObject({ aMs: 6, kMs: 24, samples: 2, coldStartMs: 1500 });
    expect(p.itemBytes).toBe(1234);
    expect(p.rttMs).toBe(fallback.rttMs); // no transfer measured → keeps the default link
    const dir = mkdtempSync(join(tmpdir(), 'profile-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify(p));
    expect(loadProfile(join(dir, 'p.json'))).toEqual(p);
  });
});

describe('cheapestByDeadline', () => {
  const profile: Profile = profileSchema.parse({
    version: 1,
    model: 'm',
    source: 's',
    createdAt: 'now',
    itemBytes: 10_000,
    rttMs: 20,
    uplinkMbps: 80, // 1 ms per 10 kB item
    targets: {
      edge: { aMs: 5, kMs: 300 },
      'tier-c0_5-m1024': { aMs: 10, kMs: 100 },
      'tier-c2-m4096': { aMs: 10, kMs: 20 },
    },
  });

  it('picks the feasible tier and batch size with the lowest cost per request', () => {
    const [loose, tight, impossible] = cheapestByDeadline(profile, tiers, [1, 2, 4, 8], [2000, 120, 25]);
    // Brute force over the same candidates: the choice must be the minimum among feasible ones.
    const candidates = [];
    for (const key of ['tier-c0_5-m1024', 'tier-c2-m4096'])
      for (const b of [1, 2, 4, 8]) {
        const p = profile.targets[key];
        const ms = p.aMs + p.kMs * b + 20 + b;
        if (ms <= 2000) candidates.push({ key, b, cost: costPerRequestUsd(tiers.find((t) => t.key === key)!, p.aMs + p.kMs * b, b) });
      }
    candidates.sort((x, y) => x.cost - y.cost);
    expect(loose).toMatchObject({ tier: candidates[0].key, batchSize: candidates[0].b, edgeMeets: true });
    expect(loose.costPer1000Usd).toBeCloseTo(candidates[0].cost * 1000, 12);
    // 120 ms: the 0.5 vCPU tier needs 10 + 100 + 21 = 131 ms even at batch 1.
    expect(tight).toMatchObject({ tier: 'tier-c2-m4096', edgeMeets: false });
    expect(tight.predictedMs).toBeLessThanOrEqual(120);
    expect(impossible.tier).toBeUndefined();
  });

  it('prices a batch with the pricing table', () => {
    const tier = tiers.find((t) => t.key === 'tier-c1-m2048')!;
    expect(costPerRequestUsd(tier, 100, 4)).toBeCloseTo(costOf(tier, 100, 1).usd / 4, 15);
  });
});

describe('chartSpec + renderSvg', () => {
  it('draws one latency line per target and one cost line per tier', async () => {
    const fallback = loadProfile();
    const samples = [sample('edge', 1, 20), sample('edge', 2, 35), sample('tier-c1-m2048', 1, 30), sample('tier-c1-m2048', 2, 50)];
    const p = buildProfile(samples, { model: 'ocr-rec', source: 'unit: test', itemBytes: 1000, createdAt: 'now', fallback });
    const svg = await renderSvg(chartSpec(p, samples, tiers, [1, 2]));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('tier-c1-m2048');
    expect(svg).toContain('edge');
    expect(svg).toContain('USD per 1,000 requests');
  });
});
