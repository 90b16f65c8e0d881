/**
 * A lower bound on the FC cost of serving every request of a trace by its deadline, with
 * knowledge of the whole future. See simulator/README.md ("Why the oracle is a bound") for the
 * argument; in short:
 *
 * 1. Cloud share. A batch of b on tier j costs A_j + K_j·b in expectation (billing is linear in
 *    the mean latency a_j + k_j·b; cold starts only add). Split it evenly: each member pays
 *    A_j/b + K_j. A batch of b can only be on time if its members arrived within
 *    w_j(b) = SLO − rtt − fastest latency_j(b) − b·bytes/best bandwidth of the trace, so
 *    b ≤ M_i(w) = the most arrivals any window of that width around a_i holds. Hence each cloud
 *    request i pays at least c_i = min_j (A_j / b*_j(i) + K_j), b*_j(i) the largest such b.
 * 2. Edge share (free, but finite). Any real edge schedule completes at most
 *    (e − s)·W / τ items whose windows lie inside [s, e]: an on-time batch runs within one SLO,
 *    so b ≤ bMax with f·(a_e + k_e·bMax) ≤ SLO, and each item takes ≥ τ = f·(a_e/bMax + k_e) of
 *    one of W workers (f the fastest noise factor). Cutting time into slots of that length, the
 *    requests an edge can serve form an independent set of a transversal matroid (each request
 *    may take one slot between its arrival and deadline, rounded outwards). Greedy by weight is
 *    optimal on a matroid, so taking requests in decreasing c_i while Hall's condition holds
 *    gives the largest Σ c_i the edge can possibly absorb.
 * 3. Bound = Σ c_i over the requests the edge cannot take. Every real policy that serves all
 *    requests on time has an edge set that is independent in (2) and pays ≥ c_i for the rest.
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
}

export interface OracleResult {
  /** Lower bound on the expected FC cost, USD. */
  readonly costUsd: number;
  /** Requests the relaxed edge absorbs. */
  readonly edgeRequests: number;
  /** Requests that neither the edge nor any tier can serve on time (then no policy reaches 100 %). */
  readonly infeasible: number;
  /** Per-request cloud lower bound c_i (USD), Infinity when no tier can make it. */
  readonly perRequestUsd: Float64Array;
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

/** Segment tree for the greedy's independence test (Hall's condition on slot intervals). */
class HallTree {
  private readonly size: number;
  private readonly maxF: Float64Array;
  private readonly minG: Float64Array;
  private readonly best: Float64Array;
  private readonly lazy: Float64Array;

  constructor(n: number) {
    let s = 1;
    while (s < n) s <<= 1;
    this.size = s;
    this.maxF = new Float64Array(2 * s).fill(-Infinity);
    this.minG = new Float64Array(2 * s).fill(Infinity);
    this.best = new Float64Array(2 * s).fill(-Infinity);
    this.lazy = new Float64Array(2 * s);
  }

  get worst(): number {
    return this.best[1];
  }

  private apply(node: number, v: number): void {
    this.maxF[node] += v;
    this.minG[node] += v;
    this.lazy[node] += v;
  }

  private pull(node: number): void {
    const l = 2 * node;
    const r = l + 1;
    this.maxF[node] = Math.max(this.maxF[l], this.maxF[r]) + this.lazy[node];
    this.minG[node] = Math.min(this.minG[l], this.minG[r]) + this.lazy[node];
    // Pairs i ≤ j across the children: F on the right, G on the left (lazy cancels in F − G).
    this.best[node] = Math.max(this.best[l], this.best[r], this.maxF[r] - this.minG[l]);
  }

  /** Add v to F and G of positions [from, end). */
  addSuffix(from: number, v: number): void {
    this.add(1, 0, this.size, from, v);
  }

  private add(node: number, lo: number, hi: number, from: number, v: number): void {
    if (hi <= from) return;
    if (lo >= from) {
      this.apply(node, v);
      return;
    }
    const mid = (lo + hi) >> 1;
    this.add(2 * node, lo, mid, from, v);
    this.add(2 * node + 1, mid, hi, from, v);
    this.pull(node);
  }

  /** Set position p's F and G (their true values, net of pending adds above it). */
  set(p: number, f: number, g: number): void {
    this.setRec(1, 0, this.size, p, f, g);
  }

  private setRec(node: number, lo: number, hi: number, p: number, f: number, g: number): number {
    if (hi - lo === 1) {
      this.maxF[node] = f;
      this.minG[node] = g;
      this.best[node] = Number.isFinite(f) ? f - g : -Infinity;
      this.lazy[node] = 0;
      return 0;
    }
    const mid = (lo + hi) >> 1;
    // Push the pending add down by folding it into the value we store below.
    const l = this.lazy[node];
    if (p < mid) this.setRec(2 * node, lo, mid, p, f - l, g - l);
    else this.setRec(2 * node + 1, mid, hi, p, f - l, g - l);
    this.pull(node);
    return 0;
  }
}

class Fenwick {
  private readonly t: Int32Array;
  constructor(private readonly n: number) {
    this.t = new Int32Array(n + 1);
  }
  add(i: number, v: number): void {
    for (let x = i + 1; x <= this.n; x += x & -x) this.t[x] += v;
  }
  /** Sum of [0, i]. */
  prefix(i: number): number {
    let s = 0;
    for (let x = i + 1; x > 0; x -= x & -x) s += this.t[x];
    return s;
  }
}

/** Compute the bound; O(n·(B·T + log n)) for B the largest feasible batch and T tiers. */
export function oracleBound(o: OracleInput): OracleResult {
  const a = o.arrivalsMs;
  const n = a.length;
  const pricing = o.pricing ?? FC3_PRICING;
  const fMin = o.minLatencyFactor ?? (() => 1);
  const per = new Float64Array(n).fill(Infinity);
  const counts = new Int32Array(n);
  const bitMs = (8 * 1000) / Math.max(o.maxBps, 1);

  // 1. Cloud share per request.
  for (const tier of o.tiers) {
    const p = o.profile.targets[tier.key];
    if (!p) continue;
    const f = fMin(tier.key);
    // Billing rounds up; the bound uses the exact mean latency, which is never above it.
    const perMsUsd = costOf(tier, 1000, 0, pricing).usd / 1000;
    const A = p.aMs * perMsUsd + costOf(tier, 0, 1, pricing).usd; // fixed part + invocation fee
    const K = p.kMs * perMsUsd;
    const bStar = new Int32Array(n); // largest feasible b so far (0 = none)
    for (let b = 1; ; b++) {
      const w = o.sloMs - o.rttMs - f * (p.aMs + p.kMs * b) - b * o.itemBytes * bitMs;
      if (w < 0) break;
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
    for (let i = 0; i < n; i++) if (bStar[i] > 0) per[i] = Math.min(per[i], A / bStar[i] + K);
  }

  // 2. Edge share: greedy by c_i on the slot matroid.
  let edgeRequests = 0;
  const onEdge = new Uint8Array(n);
  const pe = o.profile.targets.edge;
  if (o.edgeWorkers > 0 && pe && n > 0) {
    // Every on-time batch runs within one SLO, so b ≤ bMax with f·(a + k·bMax) ≤ SLO, and each
    // item costs the worker at least f·(a/bMax + k).
    const f = fMin('edge');
    const bMax = pe.kMs > 0 ? Math.floor((o.sloMs / f - pe.aMs) / pe.kMs) : Infinity;
    const slotMs = bMax >= 1 ? (f * (pe.aMs / bMax + pe.kMs)) / o.edgeWorkers : Infinity;
    if (slotMs === Infinity) {
      // Not even one item fits in the SLO on the edge: it absorbs nothing.
    } else if (!(slotMs > 0)) {
      // A free, infinitely fast edge: it absorbs everything.
      onEdge.fill(1);
      edgeRequests = n;
    } else {
      const l = new Float64Array(n);
      const r = new Float64Array(n);
      // Slots rounded outwards: a superset of what the request could really use.
      for (let i = 0; i < n; i++) {
        l[i] = Math.floor(a[i] / slotMs);
        r[i] = Math.floor((a[i] + o.sloMs) / slotMs);
      }
      const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (per[y] === per[x] ? x - y : per[y] > per[x] ? 1 : -1));
      const tree = new HallTree(n);
      const fw = new Fenwick(n);
      for (const i of order) {
        if (per[i] === 0) break; // nothing to gain
        tree.addSuffix(i + 1, 1);
        fw.add(i, 1);
        const c = fw.prefix(i);
        tree.set(i, c - r[i], c - 1 - l[i]);
        if (tree.worst > 1 + 1e-9) {
          tree.set(i, -Infinity, Infinity);
          tree.addSuffix(i + 1, -1);
          fw.add(i, -1);
        } else {
          onEdge[i] = 1;
          edgeRequests++;
        }
      }
    }
  }

  let costUsd = 0;
  let infeasible = 0;
  for (let i = 0; i < n; i++) {
    if (onEdge[i]) continue;
    if (Number.isFinite(per[i])) costUsd += per[i];
    else infeasible++;
  }
  return { costUsd, edgeRequests, infeasible, perRequestUsd: per };
}
