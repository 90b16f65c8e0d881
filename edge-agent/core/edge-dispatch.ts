/**
 * The edge's rules in the dispatch decision, pure: how large a batch an edge worker takes, when
 * a free worker waits to fill, when requests wait for a busy worker rather than pay for the
 * cloud (the edge ahead), and what a free worker serves while the head waits for something
 * else. decide.ts applies them in EDF order; the backlog rule is in edge-backlog.ts. Why each
 * rule is as it is: core/README.md ("Decision").
 */
import { normalCdf, Z_OF } from './math.ts';
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

/** The most one more item may add to a batch, as a share of a batch of one, for {@link chanceBatch} to apply. */
const FIXED_COST_SHARE = 0.05;
/** How many requests past the next round {@link chanceBatch} and the tiers' count look at (bounds decide()'s time). */
export const LOOK_AHEAD = 256;

/**
 * A backlog behind a tight head: the batch of N ≥ n (n: what the rules above give, sized to the
 * head) with the most requests on time in expectation — this batch's members; the next round's,
 * sized (as the edge ahead does) to the first left behind; each finish normal about its mean end
 * with the quantile's tail (independent tails add in quadrature); then whichever serves more of
 * the rest: later edge rounds at the edge's backlog pace, or the tiers (`cloudServes(k)`: how
 * many of q[k, remaining) they would serve on time, uploaded one after another). On an edge whose
 * fixed cost dominates (a Jetson, 577 + 8·b ms) one more request costs each member 8 ms, so a
 * burst is better served in one large batch, even when the head then misses, than in head-sized
 * rounds of ~11 while dozens behind are refused (Azure × HSDPA car 2, 2000 ms: 151 refused where
 * edge-only, taking all, refused none). `startMeanMs` / `tail1Ms`: when the batch starts, at the
 * mean, and the running batch's tail for a round ahead (0 on a free worker); `deadlineMs(k)`: q[k]'s.
 */
export function chanceBatch(v: EdgeView, n: number, remaining: number, startMeanMs: number, tail1Ms: number, deadlineMs: (k: number) => number, cloudServes: (from: number) => number = () => 0): number {
  const maxN = Math.min(v.cap, remaining);
  // Only where one more item costs the batch little against its fixed cost: elsewhere (the OCR
  // CPU edge, 2 + 15·b ms) a larger batch delays every member by a whole item's time.
  const one = v.latency.predict(1, 'mean');
  if (n >= maxN || v.latency.predict(2, 'mean') - one > FIXED_COST_SHARE * one) return n;
  const z = Z_OF[v.quantile];
  const tail = (m: number): number => v.latency.predict(m, v.quantile) - v.latency.predict(m, 'mean');
  const onTime = (j: number, endMs: number, tailMs: number): number => normalCdf(((deadlineMs(j) - endMs) * z) / Math.max(1e-3, tailMs));
  // Per item at the backlog pace: every worker on a full batch.
  const paceMs = v.latency.predict(v.cap, 'mean') / v.cap / Math.max(1, v.workers);
  let best = n;
  let bestE = -Infinity;
  for (let N = n; N <= maxN; N++) {
    const end1 = startMeanMs + v.latency.predict(N, 'mean');
    const t1 = Math.sqrt(tail1Ms * tail1Ms + tail(N) ** 2);
    let e = 0;
    for (let j = 0; j < N; j++) e += onTime(j, end1, t1);
    // The next round: as many as still meet its first member, q[N], at the quantile (one while its mean fits).
    const left = Math.min(v.cap, remaining - N);
    let m = 0;
    while (m < left && end1 + v.latency.predict(m + 1, 'mean') + Math.sqrt(t1 * t1 + tail(m + 1) ** 2) + v.marginMs <= deadlineMs(N)) m++;
    if (m === 0 && left > 0 && end1 + one <= deadlineMs(N)) m = 1;
    const end2 = m > 0 ? end1 + v.latency.predict(m, 'mean') : end1;
    const t2 = Math.sqrt(t1 * t1 + tail(m) ** 2);
    for (let j = N; j < N + m; j++) e += onTime(j, end2, t2);
    let later = 0;
    for (let j = N + m, end = Math.min(remaining, N + m + LOOK_AHEAD); j < end; j++) if (end2 + one + (j - N - m) * paceMs + v.marginMs <= deadlineMs(j)) later++;
    e += Math.max(later, cloudServes(N + m));
    if (e > bestE + 1e-9) {
      bestE = e;
      best = N;
    }
  }
  return best;
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

/**
 * At capacity, shed rather than gamble: the head q[i] fits on the edge only at the mean (it would
 * go at risk), yet the requests behind it hold more work than every worker drains (`edgeRps`)
 * before the last one's deadline, and a free worker can serve some of them at the quantile: its
 * time goes to those, and the head is refused (3× overload, edge alone: a fifth of the edge's
 * items ran at risk, and most late answers were theirs). The caller checks no tier has room.
 */
export function shedsAtRisk(q: readonly QueuedRequest[], i: number, v: EdgeView, edgeRps: number, nowMs: number): boolean {
  const behind = q.length - i - 1;
  return edgeRps > 0 && (behind * 1000) / edgeRps > q[q.length - 1].deadlineMs - nowMs && laxerRun(q, i + 1, v, nowMs) !== null;
}
