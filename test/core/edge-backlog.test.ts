import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { decide, fixedLink, linePredictor, makePlan, type DecideState } from '../../edge-agent/core/index.ts';

// Edge: 2 + 15·b ms, q95 residual 8 ms; safety margin 10 ms.
const edgeLatency = linePredictor({ aMs: 2, kMs: 15, residualQ95Ms: 8 });

function edgeOnly(queueLen: number, deadlineMs: number, edgeMaxBatchSize?: number): DecideState {
  return {
    queue: Array.from({ length: queueLen }, (_, i) => ({ id: `r${i}`, arrivalMs: 0, deadlineMs, bytes: 20000 })),
    targets: [{ id: 'edge', isEdge: true, freeSlots: 1, warmIdle: Infinity, busy: 0, latency: edgeLatency }],
    link: fixedLink(30, 20e6),
    plan: { edgeBatchSize: 2, ...(edgeMaxBatchSize === undefined ? {} : { edgeMaxBatchSize }), classes: [], sendWhenFull: true },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 64,
    pricing: FC3_PRICING,
  };
}

describe('edge under a backlog', () => {
  it('the planner keeps the small batch that covers the rate and bounds the backlog batch by the tightest class', () => {
    const plan = makePlan({
      rateRps: 10,
      link: fixedLink(30, 20e6),
      itemBytes: 20000,
      classBudgetsMs: [500, 2000],
      edge: { workers: 1, latency: edgeLatency },
      tiers: [],
      pricing: FC3_PRICING,
      maxBatch: 64,
      quantile: 'q95',
      safetyMarginMs: 10,
      edgeUtilisationCap: 0.8,
      tierMaxInstances: 5,
    });
    // b = 1 serves 1000 / 17 ≈ 58.8 req/s, 0.8 of it covers 10 req/s.
    expect(plan.edge.batchSize).toBe(1);
    // Largest b with 2 + 15 b + 8 + 10 ≤ 500: b = 32.
    expect(plan.edge.maxBatchSize).toBe(32);
  });

  it('a free worker takes what waits, up to the backlog maximum, as long as the head meets its deadline', () => {
    // 40 waiting, deadline 1000 ms: capped by the maximum (16), not the planned batch (2).
    const d = decide(edgeOnly(40, 1000, 16), 0);
    expect(d.dispatch.map((o) => o.requestIds.length)).toEqual([16]);
    // Deadline 200 ms: 2 + 15 b + 8 + 10 ≤ 200 → b = 12.
    expect(decide(edgeOnly(40, 200, 16), 0).dispatch.map((o) => o.requestIds.length)).toEqual([12]);
    // Fewer waiting than the maximum: all of them.
    expect(decide(edgeOnly(5, 1000, 16), 0).dispatch.map((o) => o.requestIds.length)).toEqual([5]);
  });

  it('without a backlog maximum the planned batch is the cap', () => {
    expect(decide(edgeOnly(40, 1000), 0).dispatch.map((o) => o.requestIds.length)).toEqual([2]);
  });

  // 3 urgent requests (deadline 40 ms: a batch of 1 only, 2 + 15 + 8 + 10 = 35 ms) before 20 lax
  // ones (1000 ms); the backlog batch is 8 (2 + 120 + 8 + 10 = 140 ms).
  function urgentThenLax(rateRps: number): DecideState {
    const st = edgeOnly(0, 0, 8);
    const queue = [
      ...Array.from({ length: 3 }, (_, i) => ({ id: `u${i}`, arrivalMs: 0, deadlineMs: 40, bytes: 20000 })),
      ...Array.from({ length: 20 }, (_, i) => ({ id: `l${i}`, arrivalMs: 0, deadlineMs: 1000, bytes: 20000 })),
    ];
    return { ...st, queue, plan: { ...st.plan, rateRps } };
  }

  it('behind the rate even at its backlog batch, a free worker takes a full batch of the laxer requests, not the urgent head alone', () => {
    // Throughput at 8: 8 / 130 ms ≈ 61 req/s < 200 req/s.
    const d = decide(urgentThenLax(200), 0);
    expect(d.dispatch).toHaveLength(1);
    expect(d.dispatch[0]).toMatchObject({ target: 'edge', atRisk: false });
    expect(d.dispatch[0].requestIds).toEqual(['l0', 'l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7']);
    // The urgent ones: nothing is free before they would miss (the edge's batch of 8 ends at
    // 122 ms on its mean): refused now as overloaded, with when to retry, not left to turn
    // impossible in the queue. At capacity.
    expect(d.saturated).toBe(true);
    expect(d.reject.map((r) => [r.requestId, r.code])).toEqual([
      ['u0', 'overloaded'],
      ['u1', 'overloaded'],
      ['u2', 'overloaded'],
    ]);
    for (const r of d.reject) expect(r.retryAfterMs).toBeGreaterThanOrEqual(1000);
  });

  it('a request the busy edge still serves at its mean waits; one it serves only after its deadline is refused as overloaded', () => {
    // The worker is busy until 100 ms (mean 90 ms). One item then ends at its mean by 107 ms.
    const st = edgeOnly(0, 0, 8);
    const busy = { ...st.targets[0], freeSlots: 0, busy: 1, busyUntilMs: [100], busyUntilMeanMs: [90] };
    const at = (deadlineMs: number): DecideState => ({ ...st, targets: [busy], queue: [{ id: 'h', arrivalMs: 0, deadlineMs, bytes: 20000 }] });
    expect(decide(at(120), 0).reject).toEqual([]); // 107 ≤ 120: waits for the worker
    expect(decide(at(100), 0).reject.map((r) => r.code)).toEqual(['overloaded']); // 107 > 100
    // A tier with a call running may free up in time: no refusal, the head waits.
    const tier = { id: 'fc', isEdge: false, freeSlots: 0, warmIdle: 0, busy: 1, latency: edgeLatency, tier: { vcpu: 1, memoryMb: 2048 } };
    expect(decide({ ...at(100), targets: [busy, tier] }, 0).reject).toEqual([]);
  });

  it('when the edge keeps up, the head is served first, in the batch its deadline allows', () => {
    const d = decide(urgentThenLax(20), 0);
    expect(d.dispatch.map((o) => o.requestIds)).toEqual([['u0']]);
  });
});
