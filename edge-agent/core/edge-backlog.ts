/**
 * Full edge batches under a backlog, pure. When the edge cannot keep up with the arrival rate
 * even at its largest batch, a free worker that sized its batch to the most urgent request
 * (EDF's head) runs small batches back to back: each leaves the queue more urgent than before,
 * the next batch is smaller still, and the edge's throughput falls exactly when it is needed
 * most (seen live: an edge-only agent under 3× overload ran batches of 6 where it ran 10 at
 * capacity, and served 0.48× its capacity). The edge is then a bottleneck whose every second
 * counts: a free worker takes a full batch — the earliest-deadline requests that a full batch
 * still finishes in time for — and leaves the more urgent ones before them to the rest of the
 * decision (a cloud tier, or a rejection when nothing can make them). With a cloud behind it
 * this is also the split the cloud can best use: the urgent few go out, the laxer bulk rides
 * the cheap edge.
 */
import { throughputRps, type LatencyPredictor } from './predictors.ts';
import type { DispatchOrder, QueuedRequest } from './types.ts';

export interface EdgeBacklogInput {
  /** Waiting requests, earliest deadline first. */
  readonly queue: readonly QueuedRequest[];
  readonly latency: LatencyPredictor;
  /** Free edge workers now, and all of them (free + busy). */
  readonly freeWorkers: number;
  readonly workers: number;
  /** The largest edge batch: the plan's backlog batch capped by the agent's max batch. */
  readonly fullBatch: number;
  /** Arrival rate the plan expects, req/s. */
  readonly rateRps: number;
  readonly quantile: 'q95' | 'q99';
  readonly safetyMarginMs: number;
  readonly edgeTarget: string;
}

/**
 * The full edge batches to start now, taken from laxer requests, and the queue left for the rest
 * of the decision. None (and the queue unchanged) unless the edge is behind the rate at its
 * largest batch and the most urgent request could not fill one.
 */
export function edgeBacklogBatches(x: EdgeBacklogInput, nowMs: number): { dispatch: DispatchOrder[]; rest: readonly QueuedRequest[] } {
  const q = x.queue;
  const none = { dispatch: [], rest: q };
  if (x.freeWorkers <= 0 || x.fullBatch < 2 || q.length < 2) return none;
  const fits = (from: number, m: number): boolean => x.latency.predict(m, 'mean') + x.safetyMarginMs <= q[from].deadlineMs - nowMs;
  // The batch EDF's head allows; none if it already takes all that waits or keeps up with the rate.
  const all = Math.min(x.fullBatch, q.length);
  // fits(from, m) holds for smaller m and, at m = everything from `from` on, for later `from` (deadlines ascend): binary searches.
  let head = 0;
  for (let hi = all; head < hi; ) {
    const mid = (head + hi + 1) >>> 1;
    if (fits(0, mid)) head = mid;
    else hi = mid - 1;
  }
  if (head >= all || throughputRps(x.workers, Math.max(1, head), x.latency.predict(Math.max(1, head), 'mean')) >= x.rateRps) return none;
  const taken = new Set<string>();
  const dispatch: DispatchOrder[] = [];
  let from = 0;
  for (let w = 0; w < x.freeWorkers; w++) {
    // First request that a batch of everything from it (up to the full batch) still meets.
    let lo = from;
    for (let hi = q.length; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      if (fits(mid, Math.min(x.fullBatch, q.length - mid))) hi = mid;
      else lo = mid + 1;
    }
    const m = Math.min(x.fullBatch, q.length - lo);
    if (lo >= q.length || m <= head) break;
    const ids = q.slice(lo, lo + m).map((r) => r.id);
    for (const id of ids) taken.add(id);
    dispatch.push({ target: x.edgeTarget, requestIds: ids, atRisk: false, predictedMs: x.latency.predict(m, x.quantile) });
    from = lo + m;
  }
  if (dispatch.length === 0) return none;
  return { dispatch, rest: q.filter((r) => !taken.has(r.id)) };
}
