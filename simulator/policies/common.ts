/** Small pieces the baseline policies share: a FIFO of waiting requests and latency/cost predictions. */
import { costOf } from '../../shared/pricing.ts';
import { predictMs } from '../../shared/profile.ts';
import { transferTimeMs } from '../../edge-agent/core/index.ts';
import type { PolicyContext, RejectOrder, SimRequest, TargetId } from '../types.ts';

/** FIFO with O(1) amortised take from the head. */
export class Fifo {
  private items: SimRequest[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(r: SimRequest): void {
    this.items.push(r);
  }
  peek(): SimRequest | undefined {
    return this.items[this.head];
  }
  /** Remove and return up to n requests from the head. */
  take(n: number): SimRequest[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }
  /** Reject requests at the head whose deadline has already passed. */
  expire(nowMs: number, out: RejectOrder[]): void {
    for (let r = this.peek(); r && r.deadlineMs < nowMs; r = this.peek()) {
      this.take(1);
      out.push({ requestId: r.id, code: 'expired', reason: `deadline ${r.deadlineMs.toFixed(0)} ms passed while queued` });
    }
  }
}

/** Batch latency on a target from the profile. */
export function latencyMs(ctx: PolicyContext, target: TargetId, b: number, q: 'mean' | 'q95' | 'q99' = 'q95'): number {
  const p = ctx.profile.targets[target];
  if (!p) throw new RangeError(`profile has no target ${target}`);
  return predictMs(p, b, q);
}

/** rtt + bytes over a link of `bps`. */
export function transferMs(ctx: PolicyContext, bytes: number, bps: number): number {
  return transferTimeMs(ctx.rttMs, bytes, Math.max(bps, 1));
}

/** Expected FC cost of one batch of b on a tier (mean latency, warm). */
export function batchCostUsd(ctx: PolicyContext, tierKey: TargetId, b: number): number {
  const tier = ctx.tiers.find((t) => t.key === tierKey);
  if (!tier) throw new RangeError(`unknown tier ${tierKey}`);
  return costOf(tier, latencyMs(ctx, tierKey, b, 'mean'), 1, ctx.pricing).usd;
}

/** Largest b (≥ 1, ≤ cap) with edge latency at quantile q within budgetMs. */
export function edgeBatchWithin(ctx: PolicyContext, budgetMs: number, q: 'mean' | 'q95' = 'q95', cap = 256): number {
  let b = 1;
  while (b < cap && latencyMs(ctx, 'edge', b + 1, q) <= budgetMs) b++;
  return b;
}

/**
 * Cheapest tier for a batch of b whose latency (at q) plus transfer at `bps` fits `budgetMs`;
 * the fastest tier when none fits.
 */
export function cheapestTierFor(ctx: PolicyContext, b: number, budgetMs: number, bps: number, q: 'mean' | 'q95' = 'q95'): { key: TargetId; fits: boolean } {
  let best: { key: TargetId; cost: number } | null = null;
  let fastest: { key: TargetId; ms: number } | null = null;
  for (const t of ctx.tiers) {
    if (!ctx.profile.targets[t.key]) continue;
    const ms = latencyMs(ctx, t.key, b, q) + transferMs(ctx, b * ctx.itemBytes, bps);
    if (!fastest || ms < fastest.ms) fastest = { key: t.key, ms };
    if (ms > budgetMs) continue;
    const c = batchCostUsd(ctx, t.key, b);
    if (!best || c < best.cost) best = { key: t.key, cost: c };
  }
  if (best) return { key: best.key, fits: true };
  if (!fastest) throw new RangeError('the profile covers none of the tiers');
  return { key: fastest.key, fits: false };
}
