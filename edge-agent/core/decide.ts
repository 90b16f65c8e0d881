/**
 * The dispatch decision, pure: queue + targets + plan + `nowMs` in, orders out. Nothing here
 * reads a clock or mutates its input. Earliest deadline first; for the most urgent request h:
 * under a backlog the edge's full batches first (edge-backlog.ts); then
 * reject if even the fastest target's mean misses; a free edge worker (or one waiting to fill,
 * its batch grown by chance behind a tight head);
 * a busy edge worker that still makes it once free (the edge ahead); the cloud batch on the
 * plan's tier or the cheapest that meets h, sent when full, on overflow or at its send-by time;
 * else h at risk on the fastest target. The edge's own rules are in edge-dispatch.ts; all of
 * them, and why, in core/README.md ("Decision").
 * A batch meeting h's deadline meets every later one (same completion, later deadlines).
 */
import { costOf, type PricingTable } from '../../shared/pricing.ts';
import type { Tier } from '../../shared/tiers.ts';
import { throughputRps, type LatencyPredictor, type TransferPredictor } from './predictors.ts';
import { edgeBacklogBatches } from './edge-backlog.ts';
import { atRiskEdgeBatch, chanceBatch, edgeAhead, LOOK_AHEAD, edgeCap, fillWaitUntilMs, largestEdgeBatch, laxerRun, rideAlong, shedsAtRisk, type EdgeView } from './edge-dispatch.ts';
import { insertSorted } from './math.ts';
import { fastestMeanMs, isCold, soonestFinishMs, type DecideSlot } from './decide-slots.ts';
import type { Decision, DispatchOrder, QueuedRequest, RejectOrder, TargetId } from './types.ts';

/** One target as decide() sees it. */
export interface DecideTarget {
  readonly id: TargetId;
  readonly isEdge: boolean;
  /** Batches it may start now (free workers / instance headroom). */
  readonly freeSlots: number;
  /** Idle warm instances; starts beyond these are cold. Ignored for the edge. */
  readonly warmIdle: number;
  /** Batches running now (a busy instance is warm when it finishes). @default 0 */
  readonly busy?: number;
  /** The edge: predicted end of each running batch, ascending (when each busy worker is free again). */
  readonly busyUntilMs?: readonly number[];
  /** The same ends at the mean latency, ascending: when the edge could serve the next at the earliest. */
  readonly busyUntilMeanMs?: readonly number[];
  readonly latency: LatencyPredictor;
  /** Tiers: size, for the cost. */
  readonly tier?: Pick<Tier, 'vcpu' | 'memoryMb'>;
}

/** The plan's guidance for decide(). */
export interface DecidePlan {
  readonly edgeBatchSize: number;
  /**
   * The most a free edge worker takes when more is waiting (a backlog): batching what waits is
   * how the edge keeps up, as a dynamic batcher does. @default edgeBatchSize
   */
  readonly edgeMaxBatchSize?: number;
  /** Cloud route per class budget, ascending by budget. */
  readonly classes: readonly { readonly budgetMs: number; readonly tier: TargetId | null; readonly batchSize: number }[];
  /** False: cloud batches leave only on deadline pressure (the edge is expected to take the load). */
  readonly sendWhenFull: boolean;
  /** Arrival rate the plan expects, req/s: how soon the next request comes. @default 0 (a free edge worker never waits for one) */
  readonly rateRps?: number;
}

/** Everything decide() reads. */
export interface DecideState {
  /** Waiting requests sorted by deadline (earliest first). */
  readonly queue: readonly QueuedRequest[];
  /** Healthy targets only. */
  readonly targets: readonly DecideTarget[];
  readonly link: TransferPredictor;
  readonly plan: DecidePlan;
  readonly quantile: 'q95' | 'q99';
  readonly safetyMarginMs: number;
  /** Largest cloud batch (the edge's limit is in the plan: `edgeMaxBatchSize`). */
  readonly maxBatch: number;
  readonly pricing: PricingTable;
  /**
   * The driver prewarms cold tiers (probe orders): then a cold tier does not count as able to
   * meet a deadline it cannot make with its cold start, and takes no at-risk request it would
   * miss anyway. Without it, an at-risk request is what warms a cold tier. @default false
   */
  readonly prewarmed?: boolean;
  /**
   * When a target now out of service (not in `targets`) is tried again: until then no request is
   * refused as `overloaded`, since that target may yet serve it. @default Infinity (none is out)
   */
  readonly backInServiceAtMs?: number;
  /** Shutdown: cloud batches leave now instead of waiting to fill (whatever can still make it). */
  readonly flush?: boolean;
  /** Bytes of earlier cloud calls still ahead on the uplink (uplink-backlog.ts). @default 0 */
  readonly uplinkAheadBytes?: number;
  /** Share of recent cloud calls that met their deadline (cloud-punctuality.ts): weighs what the tiers are counted to serve against an edge batch. @default 1 */
  readonly cloudOnTimeShare?: number;
}

type Slot = DecideSlot;

/** The plan class covering a budget: the largest class budget ≤ it (conservative), else the smallest. */
export function classFor(plan: DecidePlan, budgetMs: number): DecidePlan['classes'][number] | null {
  const cs = plan.classes;
  if (cs.length === 0) return null;
  let pick = cs[0];
  for (const c of cs) if (c.budgetMs <= budgetMs + 1e-9) pick = c;
  return pick;
}

/** Predicted ms from now to results for a batch of n (bytes total) on slot s, at quantile q. */
function predictOn(s: Slot, n: number, bytes: number, st: DecideState, q: 'mean' | 'q95' | 'q99', cold: boolean): number {
  const transfer = s.t.isEdge ? 0 : st.link.transferMs(bytes, q);
  return transfer + s.t.latency.predict(n, q) + (cold ? s.t.latency.coldStartMs : 0);
}

function costPerRequest(s: Slot, n: number, cold: boolean, pricing: PricingTable): number {
  if (s.t.isEdge || !s.t.tier) return 0;
  const ms = s.t.latency.predict(n, 'mean') + (cold ? s.t.latency.coldStartMs : 0);
  return costOf(s.t.tier, ms, 1, pricing).usd / n;
}

function anyFree(slots: readonly Slot[]): boolean {
  for (const s of slots) if (s.free > 0) return true;
  return false;
}

function fitsOn(s: Slot, n: number, bytes: number, st: DecideState, cold: boolean, slackMs: number): boolean {
  return predictOn(s, n, bytes, st, st.quantile, cold) + st.safetyMarginMs <= slackMs;
}

/**
 * Could r still be served at the quantile if the edge batch now (its ends at the mean and the
 * quantile) leaves it behind: on a free tier now, or on the edge's next round (the sooner of
 * that batch's worker and the busy worker free soonest)?
 */
function hasQuantileHome(st: DecideState, cloud: readonly Slot[], r: QueuedRequest, uplinkAhead: number, ev: EdgeView, endMeanMs: number, endQMs: number, edgeFree: readonly number[], edgeFreeAtMean: readonly number[], nowMs: number): boolean {
  const slack = r.deadlineMs - nowMs;
  for (const s of cloud) if (s.free > 0 && fitsOn(s, 1, uplinkAhead + r.bytes, st, isCold(s), slack)) return true;
  if (edgeAhead(ev, endQMs, endMeanMs, 1, r.deadlineMs, nowMs)) return true;
  return edgeFree.length > 0 && edgeAhead(ev, edgeFree[0], edgeFreeAtMean[0], 1, r.deadlineMs, nowMs) !== null;
}

/**
 * How many of q[from, …) the tiers would serve on time at the quantile, each alone on the
 * fastest free tier, uploaded one after another on the shared uplink (at most LOOK_AHEAD looked at).
 */
function cloudServes(st: DecideState, cloud: readonly Slot[], q: readonly QueuedRequest[], from: number, uplinkAhead: number, nowMs: number): number {
  let best: Slot | null = null;
  let bestMs = Infinity;
  for (const s of cloud) {
    if (s.free <= 0) continue;
    const ms = s.t.latency.predict(1, st.quantile) + (isCold(s) ? s.t.latency.coldStartMs : 0);
    if (ms < bestMs) {
      best = s;
      bestMs = ms;
    }
  }
  if (!best) return 0;
  let ahead = uplinkAhead;
  let served = 0;
  const end = Math.min(q.length, from + LOOK_AHEAD, from + best.free);
  for (let k = from; k < end; k++) {
    const r = q[k];
    if (st.link.transferMs(ahead + r.bytes, st.quantile) + bestMs + st.safetyMarginMs <= r.deadlineMs - nowMs) {
      ahead += r.bytes;
      served++;
    }
  }
  return served;
}

/** Record a dispatch of q[i, i+n) to `target`; returns the new head index. */
function takeBatch(q: readonly QueuedRequest[], i: number, out: DispatchOrder[], target: Slot, n: number, atRisk: boolean, predictedMs: number): number {
  const ids: string[] = new Array(n);
  for (let j = 0; j < n; j++) ids[j] = q[i + j].id;
  out.push({ target: target.t.id, requestIds: ids, atRisk, predictedMs });
  target.free--;
  if (!target.t.isEdge && target.warm > 0) target.warm--;
  return i + n;
}

/**
 * Decide what to dispatch now.
 * @example
 * const d = decide(state, nowMs);
 * for (const o of d.dispatch) run(o.target, o.requestIds);
 * if (d.wakeAtMs !== null) setTimer(d.wakeAtMs - nowMs);
 */
export function decide(st: DecideState, nowMs: number): Decision {
  const edge = st.targets.find((t) => t.isEdge);
  if (edge && !st.flush) {
    const n = edgeCap(st.plan);
    const b = edgeBacklogBatches({ queue: st.queue, latency: edge.latency, freeWorkers: edge.freeSlots, workers: edge.freeSlots + (edge.busy ?? 0), fullBatch: n, rateRps: st.plan.rateRps ?? 0, quantile: st.quantile, safetyMarginMs: st.safetyMarginMs, edgeTarget: edge.id }, nowMs);
    if (b.dispatch.length > 0) {
      const ends = b.dispatch.map((o) => nowMs + edge.latency.predict(o.requestIds.length, 'q99'));
      const meanEnds = b.dispatch.map((o) => nowMs + edge.latency.predict(o.requestIds.length, 'mean'));
      const busyEdge: DecideTarget = {
        ...edge,
        freeSlots: edge.freeSlots - b.dispatch.length,
        busy: (edge.busy ?? 0) + b.dispatch.length,
        busyUntilMs: [...(edge.busyUntilMs ?? []), ...ends].sort((x, y) => x - y),
        busyUntilMeanMs: [...(edge.busyUntilMeanMs ?? edge.busyUntilMs ?? []), ...meanEnds].sort((x, y) => x - y),
      };
      const d = decideHeads({ ...st, queue: b.rest, targets: st.targets.map((t) => (t === edge ? busyEdge : t)) }, nowMs);
      return { ...d, dispatch: [...b.dispatch, ...d.dispatch] };
    }
  }
  return decideHeads(st, nowMs);
}

/** decide() from EDF's head on: each head in turn, the rules in the file's header. */
function decideHeads(st: DecideState, nowMs: number): Decision {
  const dispatch: DispatchOrder[] = [];
  const reject: RejectOrder[] = [];
  const q = st.queue;
  const slots: Slot[] = st.targets.map((t) => ({ t, free: t.freeSlots, warm: t.warmIdle }));
  const edge = slots.find((s) => s.t.isEdge) ?? null;
  const cloud = slots.filter((s) => !s.t.isEdge);
  const margin = st.safetyMarginMs;
  // pre[k]: bytes of q[0, k). Bytes up the uplink until n requests from the head i are up,
  // the cloud batches sent earlier in this call included: uplinkAhead + pre[i + n] − pre[i].
  const pre = new Float64Array(q.length + 1);
  for (let k = 0; k < q.length; k++) pre[k + 1] = pre[k] + q[k].bytes;
  let wakeAtMs: number | null = null;
  let saturated = false;
  let i = 0;
  /** Requests the cloud wait at the head reserves (not offered to the edge's laxer scan). */
  let reserved = 0;
  /** Requests left in the queue for the edge: a batch filling, or what a busy worker serves once free. */
  let forEdge = 0;
  /** Bytes ahead on the uplink: earlier calls' still on the way, then this call's cloud batches. */
  let uplinkAhead = st.uplinkAheadBytes ?? 0;
  const ev: EdgeView | null = edge && { latency: edge.t.latency, quantile: st.quantile, marginMs: margin, cap: edgeCap(st.plan), workers: edge.t.freeSlots + (edge.t.busy ?? 0) };
  // Items per second the edge drains a backlog at: every worker on its backlog batch.
  let edgeRps = 0;
  // When each busy edge worker is free again (ascending); a worker leaves once given its next round.
  const edgeFree: number[] = [];
  // The same at the mean, paired with edgeFree (how the edge ahead sizes its round).
  const edgeFreeAtMean: number[] = [];
  // The soonest each worker could take more, at the mean, rounds given out here included (the overloaded bound).
  const edgeFreeMean: number[] = [];
  if (edge && ev) {
    edgeRps = throughputRps(ev.workers, ev.cap, edge.t.latency.predict(ev.cap, 'mean'));
    for (const t of edge.t.busyUntilMs ?? []) edgeFree.push(Math.max(nowMs, t));
    const means = edge.t.busyUntilMeanMs ?? edge.t.busyUntilMs ?? [];
    for (let k = 0; k < edgeFree.length; k++) edgeFreeAtMean.push(Math.min(edgeFree[k], Math.max(nowMs, means[k] ?? edgeFree[k])));
    for (const t of means) edgeFreeMean.push(Math.max(nowMs, t));
  }

  const cloudShare = st.cloudOnTimeShare ?? 1;
  // No closures in here: under tsx (esbuild keepNames) each closure creation costs a defineProperty.
  const take = takeBatch;

  while (i < q.length) {
    const head = q[i];
    const slack = head.deadlineMs - nowMs;
    const minMean = fastestMeanMs(slots, uplinkAhead + head.bytes, st.link, st.prewarmed === true);
    if (!(minMean <= slack)) {
      reject.push({
        requestId: head.id,
        code: 'deadline_impossible',
        reason:
          slack <= 0
            ? `deadline passed ${(-slack).toFixed(0)} ms ago while queued`
            : `deadline in ${slack.toFixed(0)} ms, fastest target needs ${Number.isFinite(minMean) ? minMean.toFixed(0) : '∞'} ms`,
      });
      i++;
      continue;
    }
    const remaining = q.length - i;
    const base = uplinkAhead - pre[i];

    // 2. The edge, when a worker is free (or waiting to fill).
    if (edge && ev && edge.free > 0) {
      const maxN = Math.min(ev.cap, remaining);
      let n = largestEdgeBatch(ev, maxN, slack);
      // Those it leaves with no home at the quantile (no free tier, nor the edge's next round) ride along (edge-dispatch.ts).
      if (n >= 1 && n < maxN && !st.flush) n = rideAlong(ev, n, maxN, slack, nowMs, nowMs, 0, (k, endMean, endQ) => !hasQuantileHome(st, cloud, q[i + k], uplinkAhead, ev, endMean, endQ, edgeFree, edgeFreeAtMean, nowMs));
      if (n >= 1 && n < maxN && !st.flush) n = chanceBatch(ev, n, remaining, nowMs, 0, (k) => q[i + k].deadlineMs, (k) => cloudShare * cloudServes(st, cloud, q, i + k, uplinkAhead, nowMs));
      if (n >= 1) {
        const waitUntil = st.flush ? null : fillWaitUntilMs(ev, n, remaining, st.plan.rateRps ?? 0, head.deadlineMs, nowMs);
        if (waitUntil !== null) {
          wakeAtMs = waitUntil;
          forEdge += n;
          i += n;
          break;
        }
        i = take(q, i, dispatch, edge, n, false, predictOn(edge, n, 0, st, st.quantile, false));
        insertSorted(edgeFreeMean, nowMs + edge.t.latency.predict(n, 'mean'));
        continue;
      }
    }

    // 2b. The edge ahead: the busy worker free soonest (at its batch's q99 end, q95 for a
    // multiplicative tail). One round ahead per worker only (that round takes whatever fits the
    // head by then, so a second round's start cannot be known).
    if (ev && edgeFree.length > 0) {
      const ahead = edgeAhead(ev, edgeFree[0], edgeFreeAtMean[0], remaining, head.deadlineMs, nowMs);
      // As on a free worker: those left behind with no home at the quantile ride along while the round's mean meets the head.
      if (ahead && ahead.n < Math.min(ev.cap, remaining) && !st.flush) {
        ahead.n = rideAlong(ev, ahead.n, Math.min(ev.cap, remaining), slack, edgeFreeAtMean[0], nowMs, edgeFree[0] - edgeFreeAtMean[0], (k, endMean, endQ) => !hasQuantileHome(st, cloud, q[i + k], uplinkAhead, ev, endMean, endQ, edgeFree.slice(1), edgeFreeAtMean.slice(1), nowMs));
      }
      if (ahead && ahead.n < Math.min(ev.cap, remaining) && !st.flush) ahead.n = chanceBatch(ev, ahead.n, remaining, edgeFreeAtMean[0], edgeFree[0] - edgeFreeAtMean[0], (k) => q[i + k].deadlineMs, (k) => cloudShare * cloudServes(st, cloud, q, i + k, uplinkAhead, nowMs));
      if (ahead) {
        // Asked again when the worker is free (its completion), at the latest when the head could no longer start on it.
        wakeAtMs = wakeAtMs === null ? ahead.wakeAtMs : Math.min(wakeAtMs, ahead.wakeAtMs);
        edgeFree.shift();
        edgeFreeAtMean.shift();
        const freeMean = edgeFreeMean.shift();
        if (freeMean !== undefined) insertSorted(edgeFreeMean, freeMean + edge!.t.latency.predict(ahead.n, 'mean'));
        forEdge += ahead.n;
        i += ahead.n;
        if (!anyFree(cloud)) saturated = true; // waiting with no other slot free: at capacity (admission sheds)
        continue;
      }
    }
    const nMax = Math.min(remaining, st.maxBatch);

    // 3. The cloud.
    const cls = classFor(st.plan, head.deadlineMs - head.arrivalMs);
    const planned = Math.max(1, Math.min(cls?.batchSize ?? 1, st.maxBatch));
    const nPlan = Math.min(planned, nMax);
    const full = st.plan.sendWhenFull && remaining >= planned;
    // Per tier, the largest feasible n ≤ nPlan (predictions grow with n: binary search); the
    // batch is the largest n any tier can carry, on the plan's tier if it can, else the cheapest.
    let chosen: Slot | null = null;
    let chosenN = 0;
    let chosenMs = 0;
    let bestCost = Infinity;
    for (const s of cloud) {
      if (s.free <= 0) continue;
      const cold = isCold(s);
      if (!fitsOn(s, 1, base + pre[i + 1], st, cold, slack)) continue;
      let lo = 1;
      let hi = nPlan;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (fitsOn(s, mid, base + pre[i + mid], st, cold, slack)) lo = mid;
        else hi = mid - 1;
      }
      if (lo < chosenN) continue;
      const ms = predictOn(s, lo, base + pre[i + lo], st, st.quantile, cold);
      const c = s.t.id === cls?.tier ? -1 : costPerRequest(s, lo, cold, st.pricing);
      if (lo > chosenN || c < bestCost || (c === bestCost && ms < chosenMs)) {
        chosen = s;
        chosenN = lo;
        chosenMs = ms;
        bestCost = c;
      }
    }
    // A backlog beyond the edge's reach: more waits than the edge can drain before the head's
    // deadline (at its backlog batch) plus the planned cloud batch. That excess is the cloud's
    // whatever happens, so it leaves now, and the chosen tier takes as much of it as meets the
    // head's deadline, spread over its warm idle instances: cheaper per request, and it drains
    // faster than planned-size batches waiting for the next free instance (a plan made while
    // the cloud was quiet has batch 1: a burst went out one request per call). Not when the
    // link is the bottleneck (the extra items' upload outlasts their inference): bigger uploads
    // only delay the next.
    const excess = remaining - Math.floor((edgeRps * Math.max(0, slack - margin)) / 1000);
    let overflow = false;
    if (chosen && chosenN === nPlan && excess > nPlan) {
      const hiN = Math.min(nMax, excess);
      const uploadMs = st.link.transferMs(pre[i + hiN] - pre[i + nPlan], 'mean') - st.link.transferMs(0, 'mean');
      const linkBound = uploadMs > chosen.t.latency.predict(hiN, 'mean') - chosen.t.latency.predict(nPlan, 'mean');
      if (!linkBound) {
        const cold = isCold(chosen);
        let lo = nPlan;
        let hi = Math.max(nPlan, Math.min(hiN, Math.ceil(excess / Math.max(1, chosen.warm))));
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (fitsOn(chosen, mid, base + pre[i + mid], st, cold, slack)) lo = mid;
          else hi = mid - 1;
        }
        chosenN = lo;
        chosenMs = predictOn(chosen, lo, base + pre[i + lo], st, st.quantile, cold);
        overflow = true;
      }
    }
    if (chosen) {
      const sendByMs = head.deadlineMs - margin - chosenMs;
      if (full || overflow || chosenN < nPlan || nowMs >= sendByMs || st.flush) {
        uplinkAhead = base + pre[i + chosenN];
        i = take(q, i, dispatch, chosen, chosenN, false, chosenMs);
        continue;
      }
      wakeAtMs = sendByMs;
      reserved = chosenN;
      break;
    }
    // Nobody can meet h at the quantile: the fastest available target, alone, at risk — but only
    // one whose mean (cold start included) still fits: a call that cannot make it would only
    // occupy an instance (and a cold start loads a model on the device's CPU for nothing).
    let fastest: Slot | null = null;
    let fastestMs = Infinity;
    for (const s of slots) {
      if (s.free <= 0) continue;
      const cold = isCold(s);
      if (st.prewarmed && predictOn(s, 1, base + pre[i + 1], st, 'mean', cold) > slack) continue;
      const ms = predictOn(s, 1, base + pre[i + 1], st, st.quantile, cold);
      if (ms < fastestMs) {
        fastest = s;
        fastestMs = ms;
      }
    }
    // At capacity the edge sheds a head it would only gamble on, for those behind it (edge-dispatch.ts).
    if (fastest?.t.isEdge && ev && !anyFree(cloud) && shedsAtRisk(q, i, ev, edgeRps, nowMs)) {
      reject.push({ requestId: head.id, code: 'overloaded', reason: `at capacity: the deadline (in ${slack.toFixed(0)} ms) is out of the edge's reach at the planning quantile, and ${remaining - 1} requests behind it can still be served in time`, retryAfterMs: 1000 });
      i++;
      continue;
    }
    if (fastest) {
      if (!fastest.t.isEdge) uplinkAhead = base + pre[i + 1];
      const n = fastest.t.isEdge && ev ? atRiskEdgeBatch(ev, remaining, slack) : 1;
      if (fastest.t.isEdge) insertSorted(edgeFreeMean, nowMs + fastest.t.latency.predict(n, 'mean'));
      i = take(q, i, dispatch, fastest, n, true, n === 1 ? fastestMs : predictOn(fastest, n, 0, st, st.quantile, false));
      continue;
    }
    // Nothing can take h now. Saturated: every slot that could serve in time is in use (a free
    // slot left here is a cold tier the driver prewarms, whose cold start misses; the scheduler
    // scales those out).
    saturated = true;
    // Overloaded: no target is free, at the means, before h would miss (the edge's rounds given
    // out above count; a tier's busy instance frees at its call's mean end, unknown ends count as
    // now; a target out of service may be back in time): refuse h now (503 and when to retry) rather than when it turns impossible.
    const soonest = soonestFinishMs(slots, edgeFreeMean, uplinkAhead + head.bytes, st.link, nowMs);
    if (soonest.endMs > head.deadlineMs && !((st.backInServiceAtMs ?? Infinity) < head.deadlineMs)) {
      const retryAfterMs = Math.min(30_000, Math.max(1000, Math.ceil(Math.min(soonest.freeMs, nowMs + 30_000) - nowMs)));
      reject.push({ requestId: head.id, code: 'overloaded', reason: `every target is busy past the deadline (in ${slack.toFixed(0)} ms)${Number.isFinite(soonest.endMs) ? `; the soonest would finish it in ${(soonest.endMs - nowMs).toFixed(0)} ms` : ''}`, retryAfterMs });
      i++;
      continue;
    }
    // Ask again when h would become impossible (a completion comes first, usually).
    reserved = 1;
    wakeAtMs = Math.max(nowMs, head.deadlineMs - minMean);
    break;
  }
  // The head waits (for a batch to fill, or for a busy target): a free edge worker serves laxer
  // requests behind it meanwhile.
  const lax: string[] = [];
  if (i < q.length && edge && ev) {
    let from = i + reserved;
    while (edge.free > 0 && from < q.length) {
      const run = laxerRun(q, from, ev, nowMs);
      if (!run) break;
      take(q, run.at, dispatch, edge, run.n, false, predictOn(edge, run.n, 0, st, st.quantile, false));
      for (let k = run.at; k < run.at + run.n; k++) lax.push(q[k].id);
      from = run.at + run.n;
    }
  }
  const left = q.length - i - lax.length + forEdge;
  return { dispatch, reject, wakeAtMs: left > 0 ? (wakeAtMs ?? nowMs) : null, ...(saturated ? { saturated } : {}) };
}
