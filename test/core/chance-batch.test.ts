/**
 * A backlog behind a tight head on an edge whose fixed cost dominates: the batch with the most
 * requests on time in expectation (this round and the next), not the head-sized one.
 */
import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { chanceBatch, type EdgeView } from '../../edge-agent/core/edge-dispatch.ts';
import { decide, fixedLink, linePredictor, type DecideState } from '../../edge-agent/core/index.ts';

// ResNet-50 on a Jetson, roughly: 577 + 8·b ms, q95 60 ms above the mean.
const jetson = linePredictor({ aMs: 577, kMs: 8, residualQ95Ms: 60 });
// The OCR CPU edge: 2 + 15·b ms.
const ocr = linePredictor({ aMs: 2, kMs: 15, residualQ95Ms: 8 });
const view = (latency: EdgeView['latency']): EdgeView => ({ latency, quantile: 'q95', marginMs: 10, cap: 64, workers: 1 });

// 5 tight requests (due at 750 ms), then a burst of 45 due at 1300 ms.
const deadlines = [...Array(5).fill(750), ...Array(45).fill(1300)] as number[];
const dl = (k: number) => deadlines[k];

describe('the batch by chance', () => {
  it('a burst behind a tight head goes in one large batch: the head-sized one (12) leaves 37 with no round in time', () => {
    // 12 is what the head allows at q95 (577 + 96 + 60 + 10 = 743 ≤ 750). Its next round, sized
    // to r12 (due 1300), starts at 673 on the mean and holds one; 50 at once ends at 977 on the
    // mean: the 5 tight ones miss, the 45 make it.
    expect(chanceBatch(view(jetson), 12, 50, 0, 0, dl)).toBe(50);
  });

  it('a cloud that takes what the edge leaves keeps the head-sized batch', () => {
    expect(chanceBatch(view(jetson), 12, 50, 0, 0, dl, (from) => 50 - from)).toBe(12);
  });

  it('later rounds that still make the deadlines keep it too: the laxer requests are not lost behind a small batch', () => {
    const lax = (k: number) => (k < 5 ? 750 : 60_000);
    expect(chanceBatch(view(jetson), 12, 50, 0, 0, lax)).toBe(12);
  });

  it('not on an edge whose per-item cost is not small against its fixed cost (2 + 15·b ms)', () => {
    expect(chanceBatch(view(ocr), 3, 50, 0, 0, dl)).toBe(3);
  });

  it('decide() gives a free Jetson worker the large batch, with no tier to take the rest', () => {
    const st: DecideState = {
      queue: deadlines.map((d, i) => ({ id: `r${i}`, arrivalMs: 0, deadlineMs: d, bytes: 100_000 })),
      targets: [{ id: 'edge', isEdge: true, freeSlots: 1, warmIdle: Infinity, busy: 0, latency: jetson }],
      link: fixedLink(30, 1e6),
      plan: { edgeBatchSize: 8, edgeMaxBatchSize: 64, classes: [], sendWhenFull: true },
      quantile: 'q95',
      safetyMarginMs: 10,
      maxBatch: 32,
      pricing: FC3_PRICING,
    };
    const d = decide(st, 0);
    expect(d.dispatch.map((o) => [o.target, o.requestIds.length])).toEqual([['edge', 50]]);
    expect(d.dispatch[0].requestIds).toEqual(deadlines.map((_, i) => `r${i}`));
    expect(d.reject).toEqual([]);
  });
});
