/** The edge ahead: requests a busy edge worker can still serve on time once free wait for it instead of paying for the cloud. */
import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { decide, fixedLink, linePredictor, type DecideState } from '../../edge-agent/core/index.ts';

// A slow edge with a large fixed cost (ResNet-50 on a Jetson, roughly): 500 + 10·b ms, q95 residual 20 ms.
const edge = linePredictor({ aMs: 500, kMs: 10, residualQ95Ms: 20 });
// One warm tier: 40 + 20·b ms; link 30 ms + 20 Mbit/s (20 kB ≈ 8 ms).
const tier = linePredictor({ aMs: 40, kMs: 20, residualQ95Ms: 5 });

function state(waiting: number, deadlineMs: number, edgeFreeAtMs: number | null, rateRps = 0): DecideState {
  return {
    queue: Array.from({ length: waiting }, (_, i) => ({ id: `r${i}`, arrivalMs: 0, deadlineMs: deadlineMs + i, bytes: 20_000 })),
    targets: [
      { id: 'edge', isEdge: true, freeSlots: edgeFreeAtMs === null ? 1 : 0, warmIdle: Infinity, busy: edgeFreeAtMs === null ? 0 : 1, ...(edgeFreeAtMs === null ? {} : { busyUntilMs: [edgeFreeAtMs] }), latency: edge },
      { id: 'tier', isEdge: false, freeSlots: 20, warmIdle: 20, busy: 0, latency: tier, tier: { vcpu: 1, memoryMb: 2048 } },
    ],
    link: fixedLink(30, 20e6),
    plan: { edgeBatchSize: 16, edgeMaxBatchSize: 32, classes: [{ budgetMs: 1000, tier: 'tier', batchSize: 1 }], sendWhenFull: true, rateRps },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 32,
    pricing: FC3_PRICING,
    prewarmed: true,
  };
}

describe('the edge ahead', () => {
  it('requests the busy edge still serves on time once free wait for it, and a wake-up is set', () => {
    // Free at 200 ms: 200 + 500 + 10·6 + 20 + 10 = 790 ≤ 1000 for all six.
    const d = decide(state(6, 1000, 200), 0);
    expect(d.dispatch).toEqual([]);
    expect(d.reject).toEqual([]);
    // At the latest when the head could no longer start on it: 1000 − 10 − (500 + 60 + 20) = 410.
    expect(d.wakeAtMs).toBeCloseTo(410, 6);
  });

  it('what the edge cannot serve in time once free goes to the cloud now', () => {
    // Free at 600 ms: 600 + 530 + 10 > 1000 — the cloud is the head's only way.
    const d = decide(state(3, 1000, 600), 0);
    expect(d.dispatch.map((o) => o.target)).toEqual(['tier', 'tier', 'tier']);
  });

  it('one round ahead only: beyond what that round takes, the cloud serves', () => {
    // 40 waiting, the worker's next round takes at most 32 (the backlog maximum) and fits the head:
    // 200 + 500 + 320 + 20 + 10 = 1050 > 1000 → 27 (200 + 500 + 270 + 30 = 1000).
    const d = decide(state(40, 1000, 200), 0);
    const toCloud = d.dispatch.flatMap((o) => o.requestIds);
    expect(d.dispatch.every((o) => o.target === 'tier')).toBe(true);
    // The cloud took the 13 after the round's 27 (r27…r39), not the round's own.
    expect(toCloud[0]).toBe('r27');
    expect(toCloud).toHaveLength(13);
  });

  it('without a busy worker nothing waits for the edge: a free worker takes the batch now', () => {
    const d = decide(state(6, 1000, null), 0);
    expect(d.dispatch.map((o) => [o.target, o.requestIds.length])).toEqual([['edge', 6]]);
  });

  it('a free worker with a large fixed cost waits for the next request while it cannot keep up, and only then', () => {
    // 20 req/s: gap 50 ms; 2 waiting cost 100 ms ≤ fixed cost 490 ms; the edge does 2 / 520 ms ≈ 3.8 req/s < 20.
    const d = decide(state(2, 1000, null, 20), 0);
    expect(d.dispatch).toEqual([]);
    expect(d.wakeAtMs).toBeCloseTo(50, 6);
    // 2 req/s: at batches of 2 it keeps up (3.8 req/s) — no waiting.
    expect(decide(state(2, 1000, null, 2), 0).dispatch.map((o) => o.requestIds.length)).toEqual([2]);
    // At 420 ms the next one would come too late for the head: 1000 − 10 − (500 + 30 + 20) = 440 < 420 + 50.
    expect(decide(state(2, 1000, null, 20), 420).dispatch.map((o) => o.requestIds.length)).toEqual([2]);
  });
});
