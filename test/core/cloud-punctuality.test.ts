/**
 * The cloud's real punctuality weighs what decide() counts the tiers to serve against an edge
 * batch: where recent cloud calls ran late, a burst stays on the Jetson in one large batch.
 */
import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { CloudPunctuality } from '../../edge-agent/core/cloud-punctuality.ts';
import { decide, fixedLink, linePredictor, Scheduler, type DecideState } from '../../edge-agent/core/index.ts';
import { testProfile, testTiers } from './drive.ts';

describe('CloudPunctuality', () => {
  it('starts at 1, falls with late or failed calls matched to their dispatch, and ignores calls it never saw leave', () => {
    const p = new CloudPunctuality();
    expect(p.onTimeShare).toBe(1);
    p.finished('t', 1, 0, 500, true); // no dispatch recorded: not counted
    expect(p.onTimeShare).toBe(1);
    for (let k = 0; k < 10; k++) p.dispatched('t', k * 100, 1, k * 100 + 400);
    // Calls report with their start (now − wall time): the first five late, the rest failed.
    for (let k = 0; k < 5; k++) p.finished('t', 1, k * 100 + 3, k * 100 + 900, true);
    for (let k = 5; k < 10; k++) p.finished('t', 1, k * 100 - 2, k * 100 + 100, false);
    expect(p.onTimeShare).toBeLessThan(0.4);
    // On-time calls bring it back.
    for (let k = 0; k < 20; k++) p.dispatched('t', 10_000 + k * 100, 2, 10_000 + k * 100 + 400);
    for (let k = 0; k < 20; k++) p.finished('t', 2, 10_000 + k * 100, 10_000 + k * 100 + 300, true);
    expect(p.onTimeShare).toBeGreaterThan(0.8);
  });

  it('matches by size and target: another size of call at the same time is not this one', () => {
    const p = new CloudPunctuality();
    p.dispatched('t', 0, 4, 400);
    p.finished('t', 1, 0, 900, true);
    p.finished('u', 4, 0, 900, true);
    expect(p.onTimeShare).toBe(1);
    p.finished('t', 4, 10, 900, true);
    expect(p.onTimeShare).toBeLessThan(1);
  });
});

describe('decide: the edge or the cloud for a burst behind a tight head', () => {
  // ResNet-50 on a Jetson, roughly: 577 + 8·b ms; a warm tier at 212 ms an item on a fast link.
  const jetson = linePredictor({ aMs: 577, kMs: 8, residualQ95Ms: 60 });
  const tier = linePredictor({ aMs: 0, kMs: 212, residualQ95Ms: 80 });
  // 5 tight requests (due at 750 ms), then a burst of 45 due at 1300 ms.
  const deadlines = [...Array(5).fill(750), ...Array(45).fill(1300)] as number[];
  const state = (cloudOnTimeShare?: number): DecideState => ({
    queue: deadlines.map((d, i) => ({ id: `r${i}`, arrivalMs: 0, deadlineMs: d, bytes: 20_000 })),
    targets: [
      { id: 'edge', isEdge: true, freeSlots: 1, warmIdle: Infinity, busy: 0, latency: jetson },
      { id: 't', isEdge: false, freeSlots: 100, warmIdle: 100, busy: 0, latency: tier, tier: { vcpu: 2, memoryMb: 4096 } },
    ],
    link: fixedLink(30, 100e6),
    plan: { edgeBatchSize: 8, edgeMaxBatchSize: 64, classes: [{ budgetMs: 750, tier: 't', batchSize: 1 }], sendWhenFull: true },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 32,
    pricing: FC3_PRICING,
    ...(cloudOnTimeShare === undefined ? {} : { cloudOnTimeShare }),
  });
  const edgeBatch = (st: DecideState) => decide(st, 0).dispatch.find((o) => o.target === 'edge')?.requestIds.length ?? 0;

  it('a cloud that has been punctual takes what the head-sized edge batch leaves', () => {
    expect(edgeBatch(state())).toBeLessThan(20);
    expect(edgeBatch(state(1))).toBe(edgeBatch(state()));
  });

  it('a cloud whose recent calls ran late leaves the burst to one large edge batch', () => {
    expect(edgeBatch(state(0.3))).toBe(50);
  });
});

describe('Scheduler: the cloud punctuality it hands decide()', () => {
  it('falls when cloud batches predicted on time come back after their deadline; at-risk ones do not count', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 0 }, 0);
    expect(s.decideState(0).cloudOnTimeShare).toBe(1);
    // Each call is back `backMs` after it left, with its whole wall time.
    const round = (t: number, budgetMs: number, backMs: number, id: string) => {
      s.admit({ id, arrivalMs: t, deadlineMs: t + budgetMs, bytes: 20000 }, t);
      const d = s.decide(t);
      for (const o of d.dispatch) s.onComplete({ target: o.target, batchSize: o.requestIds.length, bytes: 20000 * o.requestIds.length, ok: true, wallMs: backMs, inferMs: 40, transferMs: 30, coldStart: false, costUsd: 0 }, t + backMs);
      return d.dispatch;
    };
    // 300 ms: only a cold tier (1.4 s cold start) is there, so the call goes at risk; it is late, not counted.
    const atRisk = round(0, 300, 600, 'a');
    expect(atRisk.map((o) => o.atRisk)).toEqual([true]);
    expect(s.decideState(1000).cloudOnTimeShare).toBe(1);
    // 3 s budgets, predicted on time on the now warm tier, each back after 3.5 s.
    for (let k = 0; k < 8; k++) {
      const sent = round(10_000 + k * 5000, 3000, 3500, `r${k}`);
      expect(sent.map((o) => o.atRisk ?? false)).toEqual([false]);
    }
    expect(s.decideState(60_000).cloudOnTimeShare).toBeLessThan(0.6);
  });
});
