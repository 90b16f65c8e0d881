/**
 * A lower bound on the FC cost of serving every request of a trace by its deadline, with
 * knowledge of the whole future, valid in every draw of the world's noise. See
 * simulator/README.md ("Why the oracle is a bound") for the argument; in short:
 *
 * 1. Cloud share. A batch of b on tier j costs ≥ A_j + K_j·b (fee + billing at the fastest noise
 *    factor; cold starts only add). Each member pays A_j/b + K_j, and b ≤ b*_j(i): its members
 *    arrived within SLO − rtt − fastest latency − upload at best bandwidth. So a cloud request
 *    pays ≥ c_i = min_j (A_j / b*_j(i) + K_j).
 * 2. Edge share. An on-time edge batch runs inside every member's [arrival, deadline], and its
 *    members arrived within SLO − fastest l_e(b), so b ≤ bE_i and member i takes ≥
 *    τ_i = f·(a_e/bE_i + k_e) of worker time. For every p ≤ q the edge's requests among p..q
 *    take ≤ W·(a_q + SLO − a_p). Relaxed to amounts y_i ∈ [0, τ_i], that is a polymatroid; greedy
 *    by c_i/τ_i is optimal on it and bounds Σ c_i over any real edge set. With one worker and the
 *    world's edge draw sequence, a second family (fixed cost at the factors actually drawn over
 *    m consecutive runs) bounds it too; the smallest bound on the edge is kept.
 * 3. Bound = Σ c_i·(1 − x_i), x_i = y_i/τ_i of the kept greedy.
 */
import { costOf, FC3_PRICING, type PricingTable } from '../shared/pricing.ts';
import type { Profile } from '../shared/profile.ts';
import type { Tier } from '../shared/tiers.ts';

export interface OracleInput {
  readonly arrivalsMs: readonly number[];
  readonly sloMs: number;
  readonly itemBytes: number;
  readonly tiers: readonly Tier[];
  readonly profile: Profile;
  readonly rttMs: number;
  /** Best bandwidth anywhere in the trace. */
  readonly maxBps: number;
  readonly edgeWorkers: number;
  readonly pricing?: PricingTable;
  /** Fastest latency factor the world's noise can draw, per target (1 without noise). */
  readonly minLatencyFactor?: (target: string) => number;
  /**
   * The world's edge noise factors in draw order (the k-th batch or probe the edge runs gets the
   * k-th), at least as many as the edge can start before the last deadline. Optional: without it
   * every edge batch is assumed to draw the fastest factor.
   */
  readonly edgeFactors?: ArrayLike<number>;
}

export interface OracleResult {
  /** Lower bound on the expected FC cost, USD. */
  readonly costUsd: number;
  /** Requests the relaxed edge absorbs (a sum of fractions: the relaxation may split a request). */
  readonly edgeRequests: number;
  /** Requests that neither the edge nor any tier can serve on time (then no policy reaches 100 %). */
  readonly infeasible: number;
  /** Per-request cloud lower bound c_i (USD), Infinity when no tier can make it. */
  readonly perRequestUsd: Float64Array;
  /** Fraction x_i ∈ [0, 1] of request i the relaxed edge takes. */
  readonly edgeFraction: Float64Array;
}

/** Number of arrivals in a window of width w that contains a_i, maximised over windows, for all i. */
export function maxWindowCounts(a: readonly number[], w: number, out: Int32Array): void {
  const n = a.length;
  // cntFrom[k] = arrivals in [a_k, a_k + w]; an optimal window can start at an arrival.
  const cntFrom = new Int32Array(n);
  let hi = 0;
  for (let k = 0; k < n; k++) {
    if (hi < k) hi = k;
    while (hi + 1 < n && a[hi + 1] <= a[k] + w) hi++;
    cntFrom[k] = hi - k + 1;
  }
  // out[i] = max cntFrom[k] over a_k ∈ [a_i − w, a_i] (sliding-window maximum, monotone deque).
  const dq = new Int32Array(n);
  let h = 0;
  let t = 0;
  let next = 0;
  for (let i = 0; i < n; i++) {
    while (next <= i) {
      while (t > h && cntFrom[dq[t - 1]] <= cntFrom[next]) t--;
      dq[t++] = next++;
    }
    while (a[dq[h]] < a[i] - w) h++;
    out[i] = cntFrom[dq[h]];
  }
}

/** Range add, range maximum over positions 0..n−1 (lazy, non-propagating). */
export class MaxTree {
  private readonly size: number;
  private readonly mx: Float64Array;
  private readonly lazy: Float64Array;

  constructor(values: ArrayLike<number>) {
    let s = 1;
    while (s < Math.max(1, values.length)) s <<= 1;
    this.size = s;
    this.mx = new Float64Array(2 * s).fill(-Infinity);
    this.lazy = new Float64Array(2 * s);
    for (let i = 0; i < values.length; i++) this.mx[s + i] = values[i];
    for (let i = s - 1; i >= 1; i--) this.mx[i] = Math.max(this.mx[2 * i], this.mx[2 * i + 1]);
  }

  /** Add v to positions [from, to). */
  add(from: number, to: number, v: number): void {
    if (from < to) this.addRec(1, 0, this.size, from, to, v);
  }

  private addRec(node: number, lo: number, hi: number, from: number, to: number, v: number): void {
    if (to <= lo || hi <= from) return;
    if (from <= lo && hi <= to) {
      this.mx[node] += v;
      this.lazy[node] += v;
      return;
    }
    const mid = (lo + hi) >> 1;
    this.addRec(2 * node, lo, mid, from, to, v);
    this.addRec(2 * node + 1, mid, hi, from, to, v);
    this.mx[node] = Math.max(this.mx[2 * node], this.mx[2 * node + 1]) + this.lazy[node];
  }

  /** Maximum over positions [from, to). */
  max(from: number, to: number): number {
    return from < to ? this.maxRec(1, 0, this.size, from, to) : -Infinity;
  }

  private maxRec(node: number, lo: number, hi: number, from: number, to: number): number {
    if (to <= lo || hi <= from) return -Infinity;
    if (from <= lo && hi <= to) return this.mx[node];
    const mid = (lo + hi) >> 1;
    return Math.max(this.maxRec(2 * node, lo, mid, from, to), this.maxRec(2 * node + 1, mid, hi, from, to)) + this.lazy[node];
  }
}

/**
 * Largest batch b ≥ 1 containing request i whose members can all have arrived within
 * `width(b)` of each other, for every i (0 when not even b = 1 fits: width(1) < 0). `width` must
 * be non-increasing in b; then feasibility is monotone in b and the search goes up from 1.
 */
export function largestBatches(a: readonly number[], width: (b: number) => number, cap = Infinity): Int32Array {
  const n = a.length;
  const bStar = new Int32Array(n);
  const counts = new Int32Array(n);
  for (let b = 1; b <= cap; b++) {
    const w = width(b);
    if (!(w >= 0)) break;
    maxWindowCounts(a, w, counts);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (bStar[i] === b - 1 && counts[i] >= b) {
        bStar[i] = b;
        any = true;
      }
    }
    if (!any) break;
  }
  return bStar;
}

/** Worker-time capacities α·(t − s) + β tried with the draw sequence (α = 1/μ, μ a mean factor). */
const EDGE_SPEEDS = [0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1].map((m) => 1 / m);

/**
 * Greedy by decreasing c_i / τ_i on {y : 0 ≤ y ≤ τ, Σ_{p ≤ j ≤ q} y_j ≤ α·(a_q + SLO − a_p) + β},
 * a polymatroid; returns x_i = y_i / τ_i and the value Σ c_i x_i it absorbs (the maximum).
 */
export function edgeGreedy(
  a: readonly number[],
  sloMs: number,
  per: Float64Array,
  tau: Float64Array,
  alpha: number,
  beta: number,
): { x: Float64Array; absorbedUsd: number } {
  const n = a.length;
  const x = new Float64Array(n);
  const density = (i: number): number => (tau[i] > 0 ? per[i] / tau[i] : Infinity);
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (per[i] > 0 && Number.isFinite(tau[i])) order.push(i);
  order.sort((u, v) => {
    const du = density(u);
    const dv = density(v);
    return du === dv ? u - v : du > dv ? -1 : 1;
  });
  // With prefix sums P, F_q = P_q − α(a_q + SLO) and G_p = P_{p−1} − α·a_p, the constraint
  // for p ≤ q reads F_q − G_p ≤ β; request i's slack is β + min_{p ≤ i} G_p − max_{q ≥ i} F_q.
  // The trees hold F and −G.
  const fTree = new MaxTree(Array.from(a, (t) => -alpha * (t + sloMs)));
  const gNeg = new MaxTree(Array.from(a, (t) => alpha * t));
  let absorbedUsd = 0;
  for (const i of order) {
    if (tau[i] === 0) {
      x[i] = 1;
      if (Number.isFinite(per[i])) absorbedUsd += per[i];
      continue;
    }
    const slack = beta - gNeg.max(0, i + 1) - fTree.max(i, n);
    const y = Math.max(0, Math.min(tau[i], slack));
    if (y <= 0) continue;
    x[i] = y / tau[i];
    if (Number.isFinite(per[i])) absorbedUsd += per[i] * x[i];
    fTree.add(i, n, y);
    gNeg.add(i + 1, n, -y);
  }
  return { x, absorbedUsd };
}

/** Runs longer than this are bounded by splitting them into runs of this length. */
const RUN_CAP = 2048;

/**
 * For a sequence of factors φ and a fixed cost aMs: β(α) = the most that L + aMs·(m − S) − α·L
 * can be for a run of m consecutive factors with sum S, over windows L ≥ SLO that the run's
 * fixed costs fit in (aMs·S ≤ L), where S is at least the smallest sum of any m consecutive
 * factors (S_m). Runs longer than RUN_CAP use S_m ≥ ⌊m/R⌋·S_R + S_{m mod R}.
 */
export function runSlack(phi: ArrayLike<number>, aMs: number, sloMs: number): (alpha: number) => number {
  const N = phi.length;
  const R = Math.min(N, RUN_CAP);
  const pre = new Float64Array(N + 1);
  for (let k = 0; k < N; k++) pre[k + 1] = pre[k] + phi[k];
  const sMin = new Float64Array(R + 1); // sMin[m] = smallest sum of m consecutive factors, m ≤ R
  for (let m = 1; m <= R; m++) {
    let lo = Infinity;
    for (let k = 0; k + m <= N; k++) lo = Math.min(lo, pre[k + m] - pre[k]);
    sMin[m] = lo;
  }
  const S = (m: number): number => (m <= R ? sMin[m] : Math.floor(m / R) * sMin[R] + sMin[m % R]);
  // Points (L_m = max(SLO, aMs·S_m), d_m = aMs·(m − S_m)); a run of m fits only in L ≥ L_m.
  const pts: Array<[number, number]> = [];
  for (let m = 1; m <= N; m++) pts.push([Math.max(sloMs, aMs * S(m)), aMs * (m - S(m))]);
  pts.sort((u, v) => u[0] - v[0]);
  return (alpha: number): number => {
    // β = max over L ≥ SLO of (1 − α)·L + max_{L_m ≤ L} d_m; with α ≥ 1 the maximum sits at some L_m.
    let best = (1 - alpha) * sloMs;
    let h = 0;
    for (const [L, d] of pts) {
      h = Math.max(h, d);
      best = Math.max(best, (1 - alpha) * L + h);
    }
    return best;
  };
}

/** Compute the bound; O(n·(B·(T + 1) + log n)) for B the largest feasible batch and T tiers. */
export function oracleBound(o: OracleInput): OracleResult {
  const a = o.arrivalsMs;
  const n = a.length;
  const pricing = o.pricing ?? FC3_PRICING;
  const fMin = o.minLatencyFactor ?? (() => 1);
  const per = new Float64Array(n).fill(Infinity);
  const bitMs = (8 * 1000) / Math.max(o.maxBps, 1);

  // 1. Cloud share per request. A batch of b on tier j costs at least
  //    fee + perMs·f·(a + k·b) = A + K·b in every draw of the noise (f its fastest factor).
  for (const tier of o.tiers) {
    const p = o.profile.targets[tier.key];
    if (!p) continue;
    const f = fMin(tier.key);
    const perMsUsd = costOf(tier, 1000, 0, pricing).usd / 1000;
    const A = f * p.aMs * perMsUsd + costOf(tier, 0, 1, pricing).usd;
    const K = f * p.kMs * perMsUsd;
    const bStar = largestBatches(a, (b) => o.sloMs - o.rttMs - f * (p.aMs + p.kMs * b) - b * o.itemBytes * bitMs, n);
    for (let i = 0; i < n; i++) if (bStar[i] > 0) per[i] = Math.min(per[i], A / bStar[i] + K);
  }

  // 2. Edge share: how much of Σ c_i the edge can possibly take (fractional greedy on the
  //    polymatroid of worker time, see the README).
  const x = new Float64Array(n);
  const pe = o.profile.targets.edge;
  if (o.edgeWorkers > 0 && pe && n > 0) {
    const f = fMin('edge');
    const W = o.edgeWorkers;
    // The largest edge batch request i can be in: its members arrived within SLO − f·l_e(b).
    const bE = largestBatches(a, (b) => o.sloMs - f * (pe.aMs + pe.kMs * b), n);
    // Worker time request i takes at least, in any on-time edge batch: f·(a_e / b + k_e), b ≤ bE_i.
    const tau = new Float64Array(n);
    for (let i = 0; i < n; i++) tau[i] = bE[i] > 0 ? f * (pe.aMs / bE[i] + pe.kMs) : Infinity;
    // Fastest-factor pass: Σ τ_i over requests whose windows lie in [s, t] ≤ W·(t − s).
    let best = edgeGreedy(a, o.sloMs, per, tau, W, 0);
    // Draw-sequence passes (one worker): the fixed cost a_e at the factors actually drawn.
    if (W === 1 && o.edgeFactors && o.edgeFactors.length > 0 && pe.aMs > 0) {
      const tau1 = new Float64Array(n);
      for (let i = 0; i < n; i++) tau1[i] = bE[i] > 0 ? pe.aMs / bE[i] + f * pe.kMs : Infinity;
      const slackOf = runSlack(o.edgeFactors, pe.aMs, o.sloMs);
      for (const alpha of EDGE_SPEEDS) {
        const beta = slackOf(alpha);
        if (!Number.isFinite(beta)) continue;
        const g = edgeGreedy(a, o.sloMs, per, tau1, alpha, beta);
        if (g.absorbedUsd < best.absorbedUsd) best = g;
      }
    }
    x.set(best.x);
  }

  let costUsd = 0;
  let infeasible = 0;
  let edgeRequests = 0;
  for (let i = 0; i < n; i++) {
    edgeRequests += x[i];
    if (Number.isFinite(per[i])) costUsd += per[i] * (1 - x[i]);
    else if (x[i] < 1 - 1e-9) infeasible++;
  }
  return { costUsd, edgeRequests, infeasible, perRequestUsd: per, edgeFraction: x };
}
