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
  const n = x.fullBatch;
  const none = { dispatch: [], rest: q };
  if (x.freeWorkers <= 0 || n < 2 || q.length < n) return none;
  const fullMs = x.latency.predict(n, x.quantile);
  if (throughputRps(x.workers, n, x.latency.predict(n, 'mean')) >= x.rateRps) return none; // it keeps up: EDF's head batches are fine
  const need = fullMs + x.safetyMarginMs;
  // First request a full batch started now still finishes in time for (deadlines ascend).
  let lo = 0;
  let hi = q.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (q[mid].deadlineMs - nowMs >= need) hi = mid;
    else lo = mid + 1;
  }
  if (lo === 0) return none; // the head itself fills one: the ordinary rule does this
  const taken = new Set<string>();
  const dispatch: DispatchOrder[] = [];
  let from = lo;
  for (let w = 0; w < x.freeWorkers && q.length - from >= n; w++, from += n) {
    const ids = q.slice(from, from + n).map((r) => r.id);
    for (const id of ids) taken.add(id);
    dispatch.push({ target: x.edgeTarget, requestIds: ids, atRisk: false, predictedMs: fullMs });
  }
  if (dispatch.length === 0) return none;
  return { dispatch, rest: q.filter((r) => !taken.has(r.id)) };
}
