/**
 * Admission and load shedding. A request is refused early — never left to time out — when:
 * - the queue is over `maxQueue` (503 overloaded, Retry-After from the drain rate);
 * - even the fastest healthy target's warm mean misses its deadline (504 deadline_impossible;
 *   when only cold starts stand in the way the class still enters the plan, whose tier is then
 *   prewarmed);
 * - every slot that could serve in time is in use and the requests due before it would not drain
 *   in time, with its own service after them (on the edge, the batch it rides in) (503 overloaded). The drain rate is measured over the saturated stretch (≤ 5 s);
 *   before a second of it, at least the capacity of every healthy target; never below what the
 *   edge alone drains batching the backlog.
 */
import { fastestMeanMs, type DecideSlot } from './decide-slots.ts';
import type { CoreParts } from './parts.ts';
import type { Planning } from './planning.ts';
import { throughputRps } from './predictors.ts';
import { insertSorted } from './math.ts';
import { FinishedLog } from './finished-log.ts';
import { EDGE, type QueuedRequest } from './types.ts';

/** The verdict on one request. `newClass`: it opened a deadline class (the plan should learn of it). */
export type Admission = { ok: true } | { ok: false; code: 'deadline_impossible' | 'overloaded'; reason: string; retryAfterMs?: number };

/** How far back the drain rate is measured, ms. */
const DRAIN_WINDOW_MS = 5000;

export class AdmissionControl {
  /** Items finished (ok) recently, for the drain rate while saturated. */
  private readonly finished = new FinishedLog();
  private saturatedSinceMs: number | null = null;
  private lastSaturatedMs = -Infinity;

  constructor(
    private readonly p: CoreParts,
    private readonly planning: Planning,
  ) {}

  /**
   * The verdict on `req`; on `ok` it is queued. `onNewClass` is told when the request's budget
   * opened a deadline class (also for one refused only because the tiers that could serve it are cold).
   */
  admit(req: QueuedRequest, nowMs: number, prewarmed: boolean, onNewClass: () => void): Admission {
    const p = this.p;
    if (!Number.isFinite(req.deadlineMs)) return { ok: false, code: 'deadline_impossible', reason: `deadline ${String(req.deadlineMs)} is not a finite time` };
    if (p.queue.has(req.id)) return { ok: true }; // idempotent re-admission
    if (p.queue.length >= p.o.maxQueue) {
      const drainRps = Math.max(1, p.rate.snapshot().rateRps, this.planning.current.edge.capacityRps);
      const retryAfterMs = Math.min(30_000, Math.max(100, Math.ceil(((p.queue.length - p.o.maxQueue / 2) * 1000) / drainRps)));
      p.log.emit({ type: 'reject', requestId: req.id, code: 'overloaded', atMs: nowMs });
      return { ok: false, code: 'overloaded', reason: `queue has ${p.queue.length} waiting (max ${p.o.maxQueue})`, retryAfterMs };
    }
    const slack = req.deadlineMs - nowMs;
    const fastest = this.fastestMs(req.bytes, nowMs, prewarmed);
    if (!(fastest <= slack)) {
      p.log.emit({ type: 'reject', requestId: req.id, code: 'deadline_impossible', atMs: nowMs });
      const warm = prewarmed ? this.fastestMs(req.bytes, nowMs, false) : fastest;
      if (warm <= slack) {
        // Only cold starts stand in the way: the class still enters the plan, whose tier is then
        // prewarmed (a probe), so the next such request finds it warm.
        if (p.classes.observe(req.deadlineMs - req.arrivalMs, nowMs)) onNewClass();
        return { ok: false, code: 'deadline_impossible', reason: `deadline in ${slack.toFixed(0)} ms; the tiers that could meet it are cold (a cold start takes longer), one is being warmed up`, retryAfterMs: 2000 };
      }
      return {
        ok: false,
        code: 'deadline_impossible',
        reason: Number.isFinite(fastest) ? `deadline in ${slack.toFixed(0)} ms, the fastest target needs ${fastest.toFixed(0)} ms` : 'no healthy target is available',
      };
    }
    if (p.o.shedOnDrain && this.isSaturated(nowMs)) {
      // Early shedding: at capacity, the requests due before this one drain at the measured rate;
      // if that wait plus the fastest service misses the deadline, say so now (503), not at it.
      const ahead = p.queue.position(req.deadlineMs);
      const waitMs = (ahead * 1000) / this.drainRps(nowMs, ahead);
      // Its own service: on the edge, the batch it rides in with those just ahead (up to the
      // plan's), not one item alone. Counted as one item, under 1.6× overload (OCR edge alone,
      // batches of 16 at ~300 ms against 17 ms for one) newcomers were admitted whose only
      // service left was a single item at risk: 239 of 377 edge batches, 0.75–0.78× capacity.
      const edgeAlone = p.book.edgeUp && !p.book.tierInService();
      const service = edgeAlone ? Math.max(fastest, p.book.model(EDGE)!.predict(Math.min(ahead + 1, Math.max(1, this.planning.current.edge.maxBatchSize)), 'mean')) : fastest;
      // The edge's own finish (model) spares a newcomer only until the drain rate is measured.
      const edgeInTime = this.measuredForMs(nowMs) < 1000 && this.edgeFinishMs(ahead, nowMs) - nowMs <= slack;
      if (waitMs + service > slack && !edgeInTime) {
        const retryAfterMs = Math.min(30_000, Math.max(1000, Math.ceil(waitMs - slack + service)));
        p.log.emit({ type: 'reject', requestId: req.id, code: 'overloaded', atMs: nowMs });
        return { ok: false, code: 'overloaded', reason: `at capacity: ${ahead} requests due earlier would take ~${waitMs.toFixed(0)} ms to drain, the deadline is in ${slack.toFixed(0)} ms`, retryAfterMs };
      }
    }
    const opened = p.classes.observe(req.deadlineMs - req.arrivalMs, nowMs);
    p.item.bytes += (Math.max(0, req.bytes) - p.item.bytes) * 0.01;
    p.queue.insert(req);
    if (opened) onNewClass();
    return { ok: true };
  }

  /** A batch of `items` finished well at `nowMs` (the measured drain rate). */
  served(nowMs: number, items: number): void {
    if (items > 0) this.finished.push(nowMs, items);
    this.finished.trim(nowMs - DRAIN_WINDOW_MS);
  }

  /** What the last decision found: every slot that could serve in time was in use while requests waited. */
  decided(nowMs: number, saturated: boolean): void {
    if (saturated) {
      this.saturatedSinceMs ??= nowMs;
      this.lastSaturatedMs = nowMs;
    } else if (nowMs - this.lastSaturatedMs > this.p.o.tickMs) this.saturatedSinceMs = null;
  }

  /** Every target was busy with requests waiting, within the last tick. */
  isSaturated(nowMs: number): boolean {
    return nowMs - this.lastSaturatedMs <= this.p.o.tickMs && this.p.queue.length > 0;
  }

  /** Mean time of the fastest healthy target for one request (with `prewarmed`, a cold tier pays its cold start). */
  private fastestMs(bytes: number, nowMs: number, prewarmed: boolean): number {
    const slots: DecideSlot[] = this.p.book.decideTargets(nowMs).map((t) => ({ t, free: t.freeSlots, warm: t.warmIdle }));
    return fastestMeanMs(slots, bytes, this.p.link, prewarmed);
  }

  /**
   * Items per second the targets finish while saturated: measured over the saturated stretch
   * (≤ 5 s). Before a second of it exists, not below the capacity of every target (the edge's
   * plus, per healthy tier, instances × batch ÷ latency at the batch its classes plan) nor below
   * what the edge alone drains batching the `ahead` waiting (a burst: the measured rate was taken
   * at smaller batches). After that second the measurement rules: under sustained overload the
   * device's CPU also serves the HTTP traffic being refused, and the edge runs slower than its
   * model says (3× open-loop overload, edge only: admitting by the model's drain rate accepted
   * 683 requests that later missed, 0.34× capacity in goodput; by the measured rate 0.75×).
   */
  /** How long the drain rate has been measured for (the saturated stretch, at most 5 s). */
  private measuredForMs(nowMs: number): number {
    return nowMs - Math.max(this.saturatedSinceMs ?? nowMs, nowMs - DRAIN_WINDOW_MS);
  }

  private drainRps(nowMs: number, ahead: number): number {
    const spanMs = this.measuredForMs(nowMs);
    const since = nowMs - spanMs;
    const items = this.finished.itemsSince(since);
    const measured = spanMs > 0 ? (items * 1000) / spanMs : 0;
    return Math.max(1, spanMs >= 1000 ? measured : Math.max(measured, this.capacityRps(nowMs), this.edgeDrainRps(ahead)));
  }

  /** Items per second all healthy targets can finish: edge capacity + Σ tiers warm instances · b / (transfer + l(b)). */
  private capacityRps(nowMs: number): number {
    const plan = this.planning.current;
    let b = 1;
    for (const c of plan.cloud.classes) b = Math.max(b, c.batchSize);
    return this.p.book.capacityRps(nowMs, plan.edge.capacityRps, b, this.p.link, this.p.item.bytes);
  }

  /**
   * When the healthy edge alone, batching what waits (up to the plan's backlog maximum, mean
   * latencies), finishes the `ahead` requests due earlier and this one: each worker free at its
   * running batch's predicted end takes the next round. A slow edge with a large fixed cost per
   * batch serves a newcomer with those ahead of it, in one batch that takes little longer than
   * one item: a drain rate times the queue, plus one item's service, counts that fixed cost twice
   * (a Jetson busy with one image refused the second of a burst whose batch it would have made).
   */
  private edgeFinishMs(ahead: number, nowMs: number): number {
    const edge = this.p.book.edgeUp ? this.p.book.decideTargets(nowMs).find((t) => t.isEdge) : undefined;
    if (!edge) return Infinity;
    const b = Math.max(1, this.planning.current.edge.maxBatchSize);
    const free: number[] = [];
    for (let k = 0; k < edge.freeSlots; k++) free.push(nowMs);
    for (const t of this.p.book.edgeMeanBusyUntil()) free.push(Math.max(nowMs, t));
    if (free.length === 0) return Infinity;
    free.sort((x, y) => x - y);
    let left = ahead + 1;
    for (let round = 0; round < 64; round++) {
      const n = Math.min(left, b);
      const endMs = free[0] + edge.latency.predict(n, 'mean');
      left -= n;
      if (left <= 0) return endMs;
      free.shift();
      insertSorted(free, endMs);
    }
    return Infinity;
  }

  /**
   * Items per second the healthy edge alone drains `ahead` waiting requests at: it batches what
   * waits, up to the plan's backlog maximum. A floor under the measured drain rate, which was
   * measured at smaller backlogs (smaller batches) than a burst's.
   */
  private edgeDrainRps(ahead: number): number {
    if (!this.p.book.edgeUp) return 0;
    const b = Math.max(1, Math.min(ahead, this.planning.current.edge.maxBatchSize));
    return throughputRps(this.p.o.edgeWorkers, b, this.p.book.model(EDGE)!.predict(b, 'mean'));
  }
}
