import { describe, expect, it } from 'vitest';
import { drive } from './drive.ts';

describe('admission at capacity counts the batch a newcomer rides in', () => {
  // Edge alone, two workers at 2 + 15·b ms (batches up to 32: ≈ 131 items/s), 260 req/s for 30 s
  // of virtual time, 1000 ms budgets. Counted as one item (17 ms) after those ahead, a newcomer
  // was admitted whose only service left was at risk or late: 17 of 134 batches at risk, 127
  // late, 2,392 admitted then refused in the queue (37 %). Counted in its batch: 0, 51, 8 %.
  it('edge alone under 2× overload: few batches at risk, few admitted requests late or refused after admission', () => {
    const r = drive({ seed: 7, durationMs: 30_000, rateAt: () => 260, budgetMs: 1000, scheduler: { tiers: [], edgeWorkers: 2 } });
    expect(r.served).toBeGreaterThan(3800); // the edge's capacity is kept
    expect(r.atRiskDispatches).toBeLessThanOrEqual(0.03 * r.dispatches);
    expect(r.late).toBeLessThanOrEqual(0.025 * r.served);
    expect(r.admitted.size - r.served).toBeLessThanOrEqual(0.15 * r.admitted.size);
  });
});
