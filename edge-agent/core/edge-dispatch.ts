/**
 * The edge's rules in the dispatch decision, pure: how large a batch an edge worker takes, when
 * a free worker waits to fill, when requests wait for a busy worker rather than pay for the
 * cloud (the edge ahead), and what a free worker serves while the head waits for something
 * else. decide.ts applies them in EDF order; the backlog rule is in edge-backlog.ts. Why each
 * rule is as it is: core/README.md ("Decision").
 */
import { throughputRps, type LatencyPredictor } from './predictors.ts';
import type { QueuedRequest } from './types.ts';

/** The edge as its rules see it. */
export interface EdgeView {
  readonly latency: LatencyPredictor;
  readonly quantile: 'q95' | 'q99';
  readonly marginMs: number;
  /** The largest batch a worker takes (`edgeCap`). */
  readonly cap: number;
  /** Every worker, free and busy. */
  readonly workers: number;
}

/** The largest edge batch the plan allows: its batch, or its backlog batch when larger. */
export function edgeCap(plan: { readonly edgeBatchSize: number; readonly edgeMaxBatchSize?: number }): number {
  return Math.max(1, plan.edgeBatchSize, plan.edgeMaxBatchSize ?? 0);
}

/**
 * The largest n ≤ maxN whose batch, started `offsetMs` from now, ends by `slackMs` at quantile
 * q with the margin; 0 when not even one does.
 */
export function largestEdgeBatch(v: EdgeView, maxN: number, slackMs: number, offsetMs = 0, q: 'mean' | 'q95' | 'q99' = v.quantile): number {
  let n = maxN;
  while (n >= 1 && offsetMs + v.latency.predict(n, q) + v.marginMs > slackMs) n--;
  return n;
}

/**
 * Fill: a free worker would take all n waiting (n = remaining, below the cap), the edge cannot
 * keep up with the plan's rate at batches of n, and the next request is expected soon enough
 * that waiting for it costs the n waiting less than the fixed cost per batch it would share
 * (n · gap ≤ l(1) − (l(2) − l(1))) while a batch of n + 1 still meets the head: wait until the
 * next request is due. Returns that time, or null to dispatch now. Only an edge with a large
 * fixed cost per batch, under load, waits.
 */
export function fillWaitUntilMs(v: EdgeView, n: number, remaining: number, rateRps: number, headDeadlineMs: number, nowMs: number): number | null {
  if (n !== remaining || n >= v.cap || !(rateRps > 0)) return null;
  const gapMs = 1000 / rateRps;
  const fixedMs = 2 * v.latency.predict(1, 'mean') - v.latency.predict(2, 'mean');
  const lastStartMs = headDeadlineMs - v.marginMs - v.latency.predict(n + 1, v.quantile);
  const keepsUp = throughputRps(v.workers, n, v.latency.predict(n, 'mean')) >= rateRps;
  return !keepsUp && n * gapMs <= fixedMs && nowMs + gapMs <= lastStartMs ? nowMs + gapMs : null;
}

/**
 * The edge ahead: the busy worker free soonest, if it still meets the head's deadline then,
 * serves the head and the n behind it that fit: they wait for it rather than pay for the cloud.
 * The head's finish is the sum of two independent draws, the running batch's rest and the next
 * batch's latency, and the quantile of a sum is not the sum of the quantiles: each part is its
 * mean plus its tail (quantile − mean), and independent tails add in quadrature,
 * √(tail₁² + tail₂²) — exact for normal residuals; on the Jetson's measured relative residuals
 * two equal parts' q95 excess is 0.248 of their mean by convolution, 0.217 by this rule, 0.307
 * as a sum of q95s, which capped the next batch below what keeps up with the rate.
 * `freeAtMs` / `freeAtMeanMs`: the worker's end at the quantile it counts busy for and at the
 * mean. Also returns when to look again: at the latest when the head could no longer start on
 * it in time (the worker overran its prediction). Null when the head cannot wait.
 */
export function edgeAhead(v: EdgeView, freeAtMs: number, freeAtMeanMs: number, remaining: number, headDeadlineMs: number, nowMs: number): { n: number; wakeAtMs: number } | null {
  const slack = headDeadlineMs - nowMs;
  const meanAt = Math.min(freeAtMs, Math.max(nowMs, freeAtMeanMs));
  const tail1 = freeAtMs - meanAt;
  const finishMs = (n: number): number => {
    const m = v.latency.predict(n, 'mean');
    const tail2 = v.latency.predict(n, v.quantile) - m;
    return meanAt - nowMs + m + Math.sqrt(tail1 * tail1 + tail2 * tail2) + v.marginMs;
  };
  if (!(finishMs(1) <= slack)) return null;
  // finishMs grows with n: binary search for the largest n that fits.
  let lo = 1;
  let hi = Math.min(v.cap, remaining);
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (finishMs(mid) <= slack) lo = mid;
    else hi = mid - 1;
  }
  return { n: lo, wakeAtMs: headDeadlineMs - v.marginMs - v.latency.predict(lo, v.quantile) };
}

/**
 * Ride-along: grow an edge batch of n — started at `startMeanMs` at the mean, after `tail1Ms` of
 * tail (the running batch's, for a round ahead) — past what the head allows at the quantile, one
 * request at a time, while its mean still meets the head and the next request, q[k] for k = n,
 * has no home at the quantile (`homeless`, given the batch's ends at the mean and the quantile
 * without it): left behind it would wait for a round that misses, or be refused; in the batch it
 * is likely on time. The added items cost the head little (k ms each against a fixed cost).
 */
export function rideAlong(v: EdgeView, n: number, maxN: number, slackMs: number, startMeanMs: number, nowMs: number, tail1Ms: number, homeless: (k: number, endMeanMs: number, endQMs: number) => boolean): number {
  const meanN = largestEdgeBatch(v, maxN, slackMs, startMeanMs - nowMs, 'mean');
  while (n < meanN) {
    const endMean = startMeanMs + v.latency.predict(n, 'mean');
    const tail2 = v.latency.predict(n, v.quantile) - v.latency.predict(n, 'mean');
    if (!homeless(n, endMean, endMean + Math.sqrt(tail1Ms * tail1Ms + tail2 * tail2))) break;
    n++;
  }
  return n;
}

/**
 * While the head waits for something else, a free worker serves laxer requests behind it: the
 * first j ≥ from whose deadline one item meets, with the largest run q[j, j+n) that meets q[j]'s
 * deadline (EDF: the later ones are laxer). Null when none can be served.
 */
export function laxerRun(q: readonly QueuedRequest[], from: number, v: EdgeView, nowMs: number): { at: number; n: number } | null {
  const one = v.latency.predict(1, v.quantile) + v.marginMs;
  for (let j = from; j < q.length; j++) {
    const slack = q[j].deadlineMs - nowMs;
    if (one > slack) continue;
    return { at: j, n: Math.max(1, largestEdgeBatch(v, Math.min(v.cap, q.length - j), slack)) };
  }
  return null;
}

/** At risk on the edge: a batch costs it little more than one, so it takes what its mean still finishes in the slack. */
export function atRiskEdgeBatch(v: EdgeView, remaining: number, slackMs: number): number {
  return Math.max(1, largestEdgeBatch(v, Math.min(v.cap, remaining), slackMs, 0, 'mean'));
}
