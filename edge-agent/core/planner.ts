/**
 * The planner: from the estimates, choose the edge's batch size and share, and for each deadline
 * class the cloud (tier, batch size) with the lowest cost per request that is feasible and stable.
 *
 * - Edge: capacity(b) = workers · b / l_edge(b). Batch = the smallest b whose capacity at the
 *   utilisation cap covers the arrival rate (small batches are fast), else the largest b whose
 *   latency fits the tightest class (most throughput). The edge takes min(λ, cap · capacity);
 *   the rest, λ_cloud, overflows to FC.
 * - Cloud, class budget D: (t, b) is feasible when
 *     wait(b) + transfer_q(b · itemBytes) + l_t,q(b) + margin ≤ D,  wait(b) = (b − 1) / λ_cloud,
 *   and stable when λ_cloud ≤ M · b / l_t(b) (M = instance limit). Cost per request =
 *   costOf(t, l_t(b)).usd / b, plus, for a cold tier the class does not use now, its cold start
 *   bill spread over the requests of one payback horizon (a switch must pay for itself).
 *   None feasible → the fastest (t, 1), flagged infeasible.
 */
import { costOf, type PricingTable } from '../../shared/pricing.ts';
import type { Tier } from '../../shared/tiers.ts';
import { throughputRps, type LatencyPredictor, type TransferPredictor } from './predictors.ts';
import type { CostTable, PlanClass, TargetId } from './types.ts';

/** A tier as the planner sees it. */
export interface PlannerTier {
  readonly tier: Pick<Tier, 'key' | 'vcpu' | 'memoryMb'>;
  readonly latency: LatencyPredictor;
  /** Has an idle warm instance (or a busy one) now. */
  readonly warm: boolean;
}

/** Everything a plan depends on. */
export interface PlannerInput {
  readonly rateRps: number;
  readonly link: TransferPredictor;
  /** Mean bytes per request. */
  readonly itemBytes: number;
  readonly classBudgetsMs: readonly number[];
  readonly edge: { readonly workers: number; readonly latency: LatencyPredictor } | null;
  /** Healthy tiers only. */
  readonly tiers: readonly PlannerTier[];
  readonly pricing: PricingTable;
  readonly maxBatch: number;
  /** Largest edge batch. @default maxBatch */
  readonly edgeMaxBatch?: number;
  readonly quantile: 'q95' | 'q99';
  readonly safetyMarginMs: number;
  readonly edgeUtilisationCap: number;
  readonly tierMaxInstances: number;
  /** Horizon over which a cold start must pay back. @default 300000 */
  readonly paybackHorizonMs?: number;
  /** Tier each class budget uses now (cold starts are only charged for a switch). */
  readonly currentTiers?: ReadonlyMap<number, TargetId | null>;
}

/** What the planner decides (the facade adds version, reason, time). */
export interface PlannerOutput {
  readonly edge: { workers: number; batchSize: number; maxBatchSize: number; capacityRps: number; rateRps: number; utilisation: number; utilisationCap: number };
  readonly cloud: { rateRps: number; sendWhenFull: boolean; classes: PlanClass[] };
  readonly costTable: CostTable;
}

/** Per-tier arrays over b = 1..maxBatch, reused by every class. */
interface TierRows {
  readonly t: PlannerTier;
  readonly meanMs: Float64Array;
  readonly qMs: Float64Array;
  readonly costPerReq: Float64Array;
  readonly coldSwitchUsd: number;
}

/** Time the first of a batch of b waits for the rest at the cloud's arrival rate. */
function fillWaitMs(b: number, cloudRps: number): number {
  return b === 1 ? 0 : cloudRps > 0 ? ((b - 1) * 1000) / cloudRps : Infinity;
}

/** A class's time from arrival to results: wait to fill + transfer + inference (at the quantile) + margin; feasible when ≤ the class budget. */
function classTotalMs(waitMs: number, transferMs: number, inferMs: number, marginMs: number): number {
  return waitMs + transferMs + inferMs + marginMs;
}

/**
 * The smallest batch ≤ `fits` that drains within 5 % of the most any batch ≤ `fits` drains: where
 * the fixed cost per batch is amortised. The OCR CPU edge (2 + 15·b ms) reaches it at b = 3; a
 * Jetson (577 + 8·b ms) only past 100, so under a burst its batches may outgrow the cloud's limit.
 */
function saturatingBatch(capacity: (b: number) => number, fits: number): number {
  if (fits < 1) return 0;
  const most = capacity(fits);
  let b = 1;
  while (b < fits && capacity(b) < SATURATION * most) b++;
  return b;
}

/** A batch drains "as much as any" within this fraction of the most. */
const SATURATION = 0.95;

/** Edge batch size and share. */
export function planEdge(input: PlannerInput): PlannerOutput['edge'] {
  const cap = input.edgeUtilisationCap;
  const e = input.edge;
  if (!e || e.workers <= 0) return { workers: 0, batchSize: 0, maxBatchSize: 0, capacityRps: 0, rateRps: 0, utilisation: 0, utilisationCap: cap };
  const minBudget = input.classBudgetsMs.length ? Math.min(...input.classBudgetsMs) : Infinity;
  const capacity = (b: number) => throughputRps(e.workers, b, e.latency.predict(b, 'mean'));
  let best = 0;
  let fits = 0;
  for (let b = 1; b <= (input.edgeMaxBatch ?? input.maxBatch); b++) {
    if (e.latency.predict(b, input.quantile) + input.safetyMarginMs > minBudget) break;
    fits = b;
    if (best === 0 && cap * capacity(b) >= input.rateRps) best = b;
  }
  // What the edge serves on time of what it is offered, per batch size b ≤ fits. A request that
  // finds the worker busy first waits for the running batch (up to one cycle, l(b) / workers): it
  // still makes the tightest budget only if it came late enough in the cycle, a fraction f of the
  // cycle. At utilisation ρ, a share 1 − ρ finds a worker idle: on time = 1 − ρ + ρ·f. An edge
  // fast against its budgets (the OCR CPU edge at ×1) has f = 1 and keeps all it is offered, as
  // before. A slow edge with a heavy tail (ResNet-50 on a Jetson at 1000 ms: cycle 577 ms at b = 5,
  // q95 762 ms) keeps about half; the rest is the cloud's, planned, so its tier is warm in time.
  let rateRps = 0;
  let bestOnTime = 0;
  for (let b = 1; b <= fits; b++) {
    const c = capacity(b);
    const offered = Math.min(input.rateRps, cap * c);
    const cycleMs = e.latency.predict(b, 'mean') / e.workers;
    const spareMs = minBudget - input.safetyMarginMs - e.latency.predict(b, input.quantile);
    const f = cycleMs > 0 ? Math.min(1, Math.max(0, spareMs / cycleMs)) : 1;
    const rho = c > 0 ? Math.min(1, offered / c) : 0;
    const onTime = offered * (1 - rho + rho * f);
    if (onTime > rateRps) {
      rateRps = onTime;
      bestOnTime = b;
    }
  }
  // The edge's batches stay within the cloud's maxBatch unless a larger one keeps up with the
  // rate or serves more on time: past the batch that amortises the fixed cost a larger one adds no
  // throughput, only a longer busy worker (the OCR edge, 2 + 15·b ms: batches of up to 96 under
  // Azure ×3 bursts, 2000 ms, cost 99.37 → 98.68 % on time); a Jetson at 46 req/s keeps up only
  // from ~42 images a batch.
  const bound = Math.max(best, bestOnTime, Math.min(fits, input.maxBatch), saturatingBatch(capacity, fits));
  const batchSize = Math.max(1, best > 0 ? best : bound);
  // Under a backlog the edge may take more than the planned batch, up to that bound (within the
  // tightest class): a worker is then never busy longer than the tightest budget.
  const maxBatchSize = Math.max(batchSize, bound);
  const capacityRps = capacity(batchSize);
  return { workers: e.workers, batchSize, maxBatchSize, capacityRps, rateRps, utilisation: capacityRps > 0 ? rateRps / capacityRps : 0, utilisationCap: cap };
}

function tierRows(input: PlannerInput, cloudRps: number): TierRows[] {
  const horizonReqs = Math.max(1, (cloudRps * (input.paybackHorizonMs ?? 300_000)) / 1000);
  return input.tiers.map((t) => {
    const meanMs = new Float64Array(input.maxBatch);
    const qMs = new Float64Array(input.maxBatch);
    const costPerReq = new Float64Array(input.maxBatch);
    for (let b = 1; b <= input.maxBatch; b++) {
      meanMs[b - 1] = t.latency.predict(b, 'mean');
      qMs[b - 1] = t.latency.predict(b, input.quantile);
      costPerReq[b - 1] = costOf(t.tier, meanMs[b - 1], 1, input.pricing).usd / b;
    }
    const coldSwitchUsd = t.warm ? 0 : costOf(t.tier, t.latency.coldStartMs, 0, input.pricing).usd / horizonReqs;
    return { t, meanMs, qMs, costPerReq, coldSwitchUsd };
  });
}

/** Cheapest feasible, stable (tier, batch) for one class budget. */
export function planClass(input: PlannerInput, rows: readonly TierRows[], transferQ: Float64Array, cloudRps: number, budgetMs: number): PlanClass {
  let best: PlanClass | null = null;
  let bestScore = Infinity;
  let fastest: PlanClass | null = null;
  const current = input.currentTiers?.get(budgetMs);
  for (const r of rows) {
    const switchUsd = r.t.tier.key !== current ? r.coldSwitchUsd : 0;
    for (let b = 1; b <= input.maxBatch; b++) {
      const waitMs = fillWaitMs(b, cloudRps);
      const totalMs = classTotalMs(waitMs, transferQ[b - 1], r.qMs[b - 1], input.safetyMarginMs);
      const cls: PlanClass = {
        budgetMs,
        tier: r.t.tier.key,
        batchSize: b,
        costPerRequestUsd: r.costPerReq[b - 1],
        totalMs,
        waitMs,
        transferMs: transferQ[b - 1],
        inferMs: r.qMs[b - 1],
        feasible: true,
      };
      if (b === 1 && (!fastest || totalMs < fastest.totalMs)) fastest = { ...cls, feasible: false };
      // Wait, transfer and latency all grow with b: once over budget, larger b are too.
      if (totalMs > budgetMs) break;
      const stable = cloudRps <= throughputRps(input.tierMaxInstances, b, r.meanMs[b - 1]);
      if (!stable) continue;
      const score = r.costPerReq[b - 1] + switchUsd;
      if (score < bestScore - 1e-15 || (Math.abs(score - bestScore) <= 1e-15 && best && totalMs < best.totalMs)) {
        best = cls;
        bestScore = score;
      }
    }
  }
  if (best) return best;
  if (fastest) return fastest;
  return { budgetMs, tier: null, batchSize: 1, costPerRequestUsd: 0, totalMs: Infinity, waitMs: 0, transferMs: 0, inferMs: 0, feasible: false };
}

/**
 * Compute a plan from the estimates (pure).
 * @example
 * const out = makePlan({ rateRps: 40, link, itemBytes: 20000, classBudgetsMs: [500], edge: null, tiers, ... });
 * out.cloud.classes[0]; // { tier: 'tier-c1-m2048', batchSize: 6, ... }
 */
export function makePlan(input: PlannerInput): PlannerOutput {
  const edge = planEdge(input);
  const cloudRps = Math.max(0, input.rateRps - edge.rateRps);
  const rows = tierRows(input, cloudRps);
  const transferQ = new Float64Array(input.maxBatch);
  for (let b = 1; b <= input.maxBatch; b++) transferQ[b - 1] = input.link.transferMs(b * input.itemBytes, input.quantile);
  const classes = input.classBudgetsMs.map((d) => planClass(input, rows, transferQ, cloudRps, d));
  const batchSizes = Array.from({ length: input.maxBatch }, (_, i) => i + 1);
  const costTable: CostTable = {
    batchSizes,
    rows: rows.map((r) => ({
      tier: r.t.tier.key,
      vcpu: r.t.tier.vcpu,
      memoryMb: r.t.tier.memoryMb,
      costPerRequestUsd: Array.from(r.costPerReq),
      latencyMs: Array.from(r.qMs),
    })),
  };
  // Cloud batches leave when full only if the cloud is expected to carry a share of the rate.
  return { edge, cloud: { rateRps: cloudRps, sendWhenFull: cloudRps > 0 || !input.edge || input.edge.workers === 0, classes }, costTable };
}

/**
 * Is `cls` still feasible with the current estimates? Used to trigger a replan.
 */
export function classStillFeasible(input: PlannerInput, cls: PlanClass, cloudRps: number): boolean {
  if (!cls.feasible || cls.tier === null) return true; // nothing better was possible when planned
  const t = input.tiers.find((x) => x.tier.key === cls.tier);
  if (!t) return false;
  const b = cls.batchSize;
  const total = classTotalMs(fillWaitMs(b, cloudRps), input.link.transferMs(b * input.itemBytes, input.quantile), t.latency.predict(b, input.quantile), input.safetyMarginMs);
  return total <= cls.budgetMs;
}
