/**
 * A burst over a plan made for a quiet cloud (class batch 1): what the edge cannot drain in time
 * goes out at once in cloud batches that grow with it, spread over the warm instances, stay at the plan's size on a link-bound route, and
 * every upload waits for the ones sent before it.
 */
import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { decide, fixedLink, linePredictor, type DecideState } from '../../edge-agent/core/index.ts';

// Tier: 6 + 48·b ms (0.5 vCPU), q95 residual 0; cold start 1300 ms. Safety margin 10 ms.
const tierLatency = linePredictor({ aMs: 6, kMs: 48, coldStartMs: 1300 });
const ITEM = 20_000;

function burst(o: { waiting: number; deadlineMs: number; warm: number; mbps: number; sendWhenFull?: boolean }): DecideState {
  return {
    queue: Array.from({ length: o.waiting }, (_, i) => ({ id: `r${i}`, arrivalMs: 0, deadlineMs: o.deadlineMs, bytes: ITEM })),
    // The edge is busy; the plan was made while it took everything (cloud batches leave on deadline pressure).
    targets: [
      { id: 'edge', isEdge: true, freeSlots: 0, warmIdle: Infinity, busy: 1, latency: linePredictor({ aMs: 2, kMs: 15 }) },
      { id: 't0', isEdge: false, freeSlots: 10, warmIdle: o.warm, busy: 0, latency: tierLatency, tier: { vcpu: 0.5, memoryMb: 1024 } },
    ],
    link: fixedLink(30, o.mbps * 1e6),
    plan: { edgeBatchSize: 1, edgeMaxBatchSize: 16, classes: [{ budgetMs: o.deadlineMs, tier: 't0', batchSize: 1 }], sendWhenFull: o.sendWhenFull ?? false },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 32,
    pricing: FC3_PRICING,
  };
}

const sizes = (st: DecideState) => decide(st, 0).dispatch.map((d) => d.requestIds.length);

describe('cloud under a backlog', () => {
  // The busy edge drains 16 per 2 + 15·16 = 242 ms ≈ 66.1 req/s: in the head's 1000 − 10 ms it
  // reaches 65 requests. Only what waits beyond that is the cloud's.
  it('what the edge cannot reach in time stays with the edge and the planned batch', () => {
    expect(sizes(burst({ waiting: 60, deadlineMs: 1000, warm: 1, mbps: 40 }))).toEqual([]);
  });

  it('one warm instance takes the largest batch of the excess that meets the deadline, now', () => {
    // 100 waiting: excess 35. 40 Mbit/s: 20 kB = 4 ms of upload < 48 ms of inference per item.
    // 30 + 4·n + 6 + 48·n + 10 ≤ 1000 → n = 18.
    const d = decide(burst({ waiting: 100, deadlineMs: 1000, warm: 1, mbps: 40 }), 0);
    expect(d.dispatch[0].requestIds.length).toBe(18);
    expect(d.dispatch[0].atRisk).toBe(false);
    // The other instances are cold (1300 ms > 1000): nothing else goes out as on time.
    expect(d.dispatch.slice(1).every((o) => o.atRisk)).toBe(true);
  });

  it('spreads the excess over the warm idle instances', () => {
    // 4 warm: ⌈35 / 4⌉ = 9, then ⌈26 / 3⌉ = 9, ⌈17 / 2⌉ = 9, 8 — not 18 on one and the rest queued.
    expect(sizes(burst({ waiting: 100, deadlineMs: 1000, warm: 4, mbps: 40 })).slice(0, 4)).toEqual([9, 9, 9, 8]);
  });

  it('keeps the planned size when the link, not the tier, is the bottleneck', () => {
    // 1 Mbit/s: 20 kB = 160 ms of upload per item > 48 ms of inference.
    const d = decide(burst({ waiting: 200, deadlineMs: 2000, warm: 1, mbps: 1 }), 0);
    // Nothing leaves early as a big upload: the planned single waits for its send-by time,
    // 2000 − 10 − (30 + 160 + 54) ms.
    expect(d.dispatch).toEqual([]);
    expect(d.wakeAtMs).toBeCloseTo(1746, 6);
  });

  it('a batch uploads after the batches sent before it in the same decision', () => {
    // sendWhenFull, planned batch 1, 3 warm instances, 8 Mbit/s: 20 kB = 20 ms of upload each.
    const d = decide(burst({ waiting: 3, deadlineMs: 1000, warm: 3, mbps: 8, sendWhenFull: true }), 0);
    expect(d.dispatch.map((o) => o.requestIds.length)).toEqual([1, 1, 1]);
    const ms = d.dispatch.map((o) => o.predictedMs ?? NaN);
    // 30 + 20·k + 54 ms: the k-th upload waits for the k − 1 before it.
    expect(ms[0]).toBeCloseTo(104, 6);
    expect(ms[1] - ms[0]).toBeCloseTo(20, 6);
    expect(ms[2] - ms[1]).toBeCloseTo(20, 6);
  });
});
