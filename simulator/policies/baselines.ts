/**
 * Fixed-rule baselines built on {@link EdgeFirstBatcher}: edge-only, cloud-only, Triton-style
 * and no-batching. Each picks its fixed parameters from the profile, the SLO and the mean link
 * when it is built; none re-plans.
 */
import type { PolicyContext, SimPolicy } from '../types.ts';
import { batchCostUsd, cheapestTierFor, edgeBatchWithin, latencyMs, transferMs } from './common.ts';
import { EdgeFirstBatcher } from './edge-first.ts';

/** Every request on the edge, batches as large as the SLO allows (q95); late ones are still served. */
export function edgeOnly(ctx: PolicyContext): SimPolicy {
  return new EdgeFirstBatcher(ctx, { name: 'edge-only', edgeMaxBatch: edgeBatchWithin(ctx, ctx.sloMs), cloudTier: null, cloudMaxBatch: 1, maxDelayMs: Infinity });
}

/**
 * The cheapest fixed (tier, batch) per item over FC only, sized for the trace's mean rate:
 * filling time (b−1)/rate + q95 latency + transfer at the mean link ≤ SLO.
 */
export function cloudPlan(ctx: PolicyContext, ratePerMs: number): { tier: string; batch: number; maxDelayMs: number } {
  let best: { tier: string; batch: number; maxDelayMs: number; perItem: number } | null = null;
  for (const t of ctx.tiers) {
    for (let b = 1; b <= 256; b++) {
      const serviceMs = latencyMs(ctx, t.key, b) + transferMs(ctx, b * ctx.itemBytes, ctx.meanBps);
      const fillMs = ratePerMs > 0 ? (b - 1) / ratePerMs : Infinity;
      if (b > 1 && serviceMs + fillMs > ctx.sloMs) break;
      if (serviceMs > ctx.sloMs) break;
      const perItem = batchCostUsd(ctx, t.key, b) / b;
      if (!best || perItem < best.perItem) best = { tier: t.key, batch: b, maxDelayMs: Math.max(0, ctx.sloMs - serviceMs), perItem };
    }
  }
  if (!best) {
    const f = cheapestTierFor(ctx, 1, ctx.sloMs, ctx.meanBps);
    return { tier: f.key, batch: 1, maxDelayMs: 0 };
  }
  return best;
}

export function meanRatePerMs(ctx: PolicyContext): number {
  const a = ctx.arrivalsMs;
  return a.length > 1 ? (a.length - 1) / Math.max(1, a[a.length - 1] - a[0]) : 0;
}

/** Everything to FC with one fixed (tier, batch, timeout) from the mean rate. */
export function cloudOnly(ctx: PolicyContext): SimPolicy {
  const p = cloudPlan(ctx, meanRatePerMs(ctx));
  return new EdgeFirstBatcher(ctx, { name: 'cloud-only', edgeMaxBatch: 0, cloudTier: p.tier, cloudMaxBatch: p.batch, maxDelayMs: p.maxDelayMs });
}

/** Triton's dynamic batcher defaults used for the baseline. */
export const TRITON_MAX_BATCH = 8;
export function tritonMaxDelayMs(sloMs: number): number {
  return Math.min(100, sloMs / 10);
}

/**
 * Triton-style: a dynamic batcher with max queue delay min(100 ms, SLO/10) on both sides. The
 * edge's batcher takes batches as large as the SLO allows (q95 latency + delay ≤ SLO) and, where
 * a batch's fixed cost outweighs an item's (profile a > k, as on a Jetson), a free worker holds up
 * to the delay for a fuller batch, as Triton's `max_queue_delay` does; on an edge with little
 * fixed cost (the OCR CPU edge) an operator would leave the delay at 0 — holding there only idles
 * the worker (Twitter ×1, LTE car-1, 1000 ms: 99.97 → 99.0 % on time with the delay). The
 * overflow goes to one fixed tier with max batch 8: the cheapest whose q95 latency for a full
 * batch plus transfer at the mean link plus the delay fits the SLO.
 */
export function triton(ctx: PolicyContext): SimPolicy {
  const delay = tritonMaxDelayMs(ctx.sloMs);
  const tier = cheapestTierFor(ctx, TRITON_MAX_BATCH, ctx.sloMs - delay, ctx.meanBps).key;
  const edge = ctx.profile.targets.edge;
  const edgeMaxBatch = ctx.edgeWorkers > 0 && edge ? edgeBatchWithin(ctx, Math.max(1, ctx.sloMs - delay)) : 0;
  const edgeWaitMs = edge && edge.aMs > edge.kMs ? delay : 0;
  return new EdgeFirstBatcher(ctx, { name: 'triton', edgeMaxBatch, edgeWaitMs, cloudTier: tier, cloudMaxBatch: TRITON_MAX_BATCH, maxDelayMs: delay });
}

/** Each request alone: the edge when a worker is free, else the cheapest tier meeting the deadline on average. */
export function noBatching(ctx: PolicyContext): SimPolicy {
  const tier = cheapestTierFor(ctx, 1, ctx.sloMs, ctx.meanBps, 'mean').key;
  return new EdgeFirstBatcher(ctx, { name: 'no-batching', edgeMaxBatch: ctx.edgeWorkers > 0 ? 1 : 0, cloudTier: tier, cloudMaxBatch: 1, maxDelayMs: 0 });
}
