import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { decide, fixedLink, linePredictor, type DecideState } from '../../edge-agent/core/index.ts';

function state(tierFree: number, warmIdle = 0, queueLen = 4): DecideState {
  const queue = Array.from({ length: queueLen }, (_, i) => ({ id: `r${i}`, arrivalMs: 0, deadlineMs: 900, bytes: 20000 }));
  return {
    queue,
    targets: [
      { id: 'edge', isEdge: true, freeSlots: 0, warmIdle: Infinity, busy: 1, latency: linePredictor({ aMs: 2, kMs: 15, residualQ95Ms: 8 }) },
      // Cold unless warmIdle > 0: its cold start misses every deadline here.
      { id: 't', isEdge: false, freeSlots: tierFree, warmIdle, busy: 0, latency: linePredictor({ aMs: 5, kMs: 24, residualQ95Ms: 10, coldStartMs: 1400 }), tier: { vcpu: 1, memoryMb: 2048 } },
    ],
    link: fixedLink(30, 20e6),
    plan: { edgeBatchSize: 1, classes: [{ budgetMs: 900, tier: 't', batchSize: 4 }], sendWhenFull: true },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 32,
    pricing: FC3_PRICING,
    prewarmed: true,
  };
}

describe('decide: saturated', () => {
  it('is not set when a warm tier has headroom (it takes the head)', () => {
    const d = decide(state(100, 1), 500);
    expect(d.dispatch.length).toBeGreaterThan(0);
    expect(d.saturated).toBeUndefined();
  });
  it('is set when every slot that could serve in time is in use (a prewarmed cold tier cannot)', () => {
    expect(decide(state(100, 0), 500).saturated).toBe(true);
    expect(decide(state(0, 0), 500).saturated).toBe(true);
  });
});

describe('decide: overloaded (refused in the queue, not left to turn impossible)', () => {
  // Edge-less: one tier, every instance busy (freeSlots 0, busy 1); one item takes 30 + 1 (upload) + 29 ms at the mean.
  function busyTier(deadlineMs: number, busyUntilMeanMs?: number[]): DecideState {
    const st = state(0, 0, 1);
    const tier = { ...st.targets[1], freeSlots: 0, busy: 1, ...(busyUntilMeanMs ? { busyUntilMeanMs } : {}) };
    return { ...st, targets: [tier], queue: [{ id: 'h', arrivalMs: 0, deadlineMs, bytes: 20000 }] };
  }

  it('refuses the head as overloaded, with when to retry, when the busy tier frees (at its mean) too late for it', () => {
    const d = decide(busyTier(400, [600]), 0);
    expect(d.dispatch).toEqual([]);
    expect(d.reject).toHaveLength(1);
    expect(d.reject[0]).toMatchObject({ requestId: 'h', code: 'overloaded' });
    expect(d.reject[0].retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(d.saturated).toBe(true);
  });

  it('keeps the head waiting when the tier frees in time, or when its calls’ ends are unknown', () => {
    for (const d of [decide(busyTier(400, [100]), 0), decide(busyTier(400), 0)]) {
      expect(d.reject).toEqual([]);
      expect(d.saturated).toBe(true);
      expect(d.wakeAtMs).not.toBeNull();
    }
  });
});

describe('decide: overloaded waits for a target out of service', () => {
  it('does not refuse while a target taken out comes back before the deadline', () => {
    const st = state(0, 0, 1);
    const tier = { ...st.targets[1], freeSlots: 0, busy: 1, busyUntilMeanMs: [600] };
    const at = (backInServiceAtMs?: number): DecideState => ({ ...st, targets: [tier], queue: [{ id: 'h', arrivalMs: 0, deadlineMs: 400, bytes: 20000 }], ...(backInServiceAtMs === undefined ? {} : { backInServiceAtMs }) });
    expect(decide(at(), 0).reject.map((r) => r.code)).toEqual(['overloaded']);
    expect(decide(at(200), 0).reject).toEqual([]);
    expect(decide(at(500), 0).reject.map((r) => r.code)).toEqual(['overloaded']);
  });
});

describe('decide: at capacity, the edge sheds a head it would only gamble on', () => {
  // Edge only, one free worker: one item takes 17 ms at the mean, 25 at q95 (+10 margin).
  function edgeOnly(behind: number, behindDeadlineMs: number): DecideState {
    const st = state(0, 0, 0);
    const edge = { ...st.targets[0], freeSlots: 1, busy: 0 };
    const queue = [{ id: 'h', arrivalMs: 0, deadlineMs: 30, bytes: 20000 }, ...Array.from({ length: behind }, (_, k) => ({ id: `b${k}`, arrivalMs: 0, deadlineMs: behindDeadlineMs, bytes: 20000 }))];
    return { ...st, targets: [edge], queue, plan: { edgeBatchSize: 8, classes: [], sendWhenFull: true } };
  }

  it('refuses the head (503 overloaded) when those behind it are more than the edge drains in time, and serves them', () => {
    // 40 behind due in 300 ms; the edge drains 8 per 122 ms: 610 ms of work.
    const d = decide(edgeOnly(40, 300), 0);
    expect(d.reject).toHaveLength(1);
    expect(d.reject[0]).toMatchObject({ requestId: 'h', code: 'overloaded' });
    expect(d.reject[0].retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(d.dispatch).toHaveLength(1);
    expect(d.dispatch[0]).toMatchObject({ target: 'edge', atRisk: false });
    expect(d.dispatch[0].requestIds).not.toContain('h');
  });

  it('still runs it at risk when the edge has time for everyone, or nobody else waits', () => {
    for (const d of [decide(edgeOnly(4, 300), 0), decide(edgeOnly(0, 300), 0)]) {
      expect(d.reject).toEqual([]);
      expect(d.dispatch[0]).toMatchObject({ target: 'edge', atRisk: true });
      expect(d.dispatch[0].requestIds[0]).toBe('h');
    }
  });
});
