/**
 * The original prototype's rule ("seed"): every 5 s, from the mean arrival rate of the last
 * window and one bandwidth sample, the edge takes batches up to the largest size whose latency
 * ≤ SLO/2, at the rate that allows; the remaining rate goes to the (tier, batch) with the lowest
 * cost per item whose latency + batch filling wait + transfer ≤ SLO. Requests are split between
 * the two by a deterministic credit counter in the planned proportion.
 */
import { EDGE, type BatchObservation, type Decision, type DispatchOrder, type PolicyContext, type RejectOrder, type SimPolicy, type SimRequest } from '../types.ts';
import { batchCostUsd, cheapestTierFor, edgeBatchWithin, Fifo, latencyMs, transferMs } from './common.ts';

export const SEED_REPLAN_MS = 5000;

interface SeedPlan {
  edgeFraction: number;
  edgeBatch: number;
  tier: string;
  cloudBatch: number;
  cloudWaitMs: number;
}

export class SeedPolicy implements SimPolicy {
  readonly name = 'seed';
  private readonly edgeQ = new Fifo();
  private readonly cloudQ = new Fifo();
  private edgeBusy = 0;
  private credit = 0;
  private windowStartMs = 0;
  private windowArrivals = 0;
  private nextPlanMs = 0;
  private plans = 0;
  private plan: SeedPlan;

  constructor(private readonly ctx: PolicyContext) {
    this.plan = this.makePlan(0, ctx.probeBps(0));
  }

  private makePlan(ratePerMs: number, bps: number): SeedPlan {
    const ctx = this.ctx;
    const edgeBatch = ctx.edgeWorkers > 0 ? edgeBatchWithin(ctx, ctx.sloMs / 2, 'mean') : 0;
    const edgeCap = edgeBatch > 0 ? (ctx.edgeWorkers * edgeBatch) / latencyMs(ctx, EDGE, edgeBatch, 'mean') : 0;
    const edgeRate = Math.min(ratePerMs, edgeCap);
    const cloudRate = ratePerMs - edgeRate;
    let best: { tier: string; b: number; wait: number; perItem: number } | null = null;
    if (cloudRate > 0) {
      for (const t of ctx.tiers) {
        for (let b = 1; b <= 256; b++) {
          const wait = (b - 1) / cloudRate;
          const total = latencyMs(ctx, t.key, b, 'mean') + wait + transferMs(ctx, b * ctx.itemBytes, bps);
          if (total > ctx.sloMs) break;
          const perItem = batchCostUsd(ctx, t.key, b) / b;
          if (!best || perItem < best.perItem) best = { tier: t.key, b, wait, perItem };
        }
      }
    }
    const fallback = cheapestTierFor(ctx, 1, ctx.sloMs, bps, 'mean').key;
    return {
      edgeFraction: ratePerMs > 0 ? edgeRate / ratePerMs : ctx.edgeWorkers > 0 ? 1 : 0,
      edgeBatch: Math.max(1, edgeBatch),
      tier: best?.tier ?? fallback,
      cloudBatch: best?.b ?? 1,
      cloudWaitMs: best?.wait ?? 0,
    };
  }

  private maybeReplan(nowMs: number): void {
    while (nowMs >= this.nextPlanMs) {
      const elapsed = this.nextPlanMs - this.windowStartMs;
      if (this.nextPlanMs > 0) {
        const rate = elapsed > 0 ? this.windowArrivals / elapsed : 0;
        this.plan = this.makePlan(rate, this.ctx.probeBps(this.nextPlanMs));
        this.plans++;
      }
      this.windowStartMs = this.nextPlanMs;
      this.windowArrivals = 0;
      this.nextPlanMs += SEED_REPLAN_MS;
    }
  }

  admit(req: SimRequest, nowMs: number): { ok: true } {
    this.maybeReplan(nowMs);
    this.windowArrivals++;
    this.credit += this.plan.edgeFraction;
    if (this.credit >= 1 && this.ctx.edgeWorkers > 0) {
      this.credit -= 1;
      this.edgeQ.push(req);
    } else this.cloudQ.push(req);
    return { ok: true };
  }

  decide(nowMs: number): Decision {
    this.maybeReplan(nowMs);
    const reject: RejectOrder[] = [];
    const dispatch: DispatchOrder[] = [];
    this.edgeQ.expire(nowMs, reject);
    this.cloudQ.expire(nowMs, reject);
    while (this.edgeBusy < this.ctx.edgeWorkers && this.edgeQ.length > 0) {
      dispatch.push({ target: EDGE, requestIds: this.edgeQ.take(this.plan.edgeBatch).map((r) => r.id) });
      this.edgeBusy++;
    }
    const p = this.plan;
    while (this.cloudQ.length >= p.cloudBatch) dispatch.push({ target: p.tier, requestIds: this.cloudQ.take(p.cloudBatch).map((r) => r.id) });
    let wakeAtMs: number | null = this.nextPlanMs;
    const oldest = this.cloudQ.peek();
    if (oldest) {
      const due = oldest.arrivalMs + p.cloudWaitMs;
      if (due <= nowMs) dispatch.push({ target: p.tier, requestIds: this.cloudQ.take(p.cloudBatch).map((r) => r.id) });
      else wakeAtMs = Math.min(wakeAtMs, due);
    }
    const oldestEdge = this.edgeQ.peek();
    if (oldestEdge) wakeAtMs = Math.min(wakeAtMs, oldestEdge.deadlineMs + 1);
    // No wake-ups for re-planning once nothing is waiting: the run must be able to end.
    if (this.edgeQ.length === 0 && this.cloudQ.length === 0) wakeAtMs = null;
    return { dispatch, reject, wakeAtMs };
  }

  onComplete(obs: BatchObservation): void {
    if (obs.target === EDGE) this.edgeBusy--;
  }

  replans(): number {
    return this.plans;
  }
}

export function seed(ctx: PolicyContext): SimPolicy {
  return new SeedPolicy(ctx);
}
