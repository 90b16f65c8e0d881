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
