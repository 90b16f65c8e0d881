/**
 * BATCH-style static configuration (Ali et al., SC'20): one (tier, batch size, timeout) for the
 * whole trace, chosen offline by grid search on the same trace, and an edge in front whose batch
 * size and wait (a free worker holds for a fuller batch) are tuned the same way, so it competes
 * on equal hardware with the edge used as well as a fixed rule can.
 */
import type { PolicyContext, SimPolicy } from '../types.ts';
import type { PolicySummary } from '../metrics.ts';
import { batchCostUsd, edgeBatchWithin, latencyMs, transferMs } from './common.ts';
import { EdgeFirstBatcher } from './edge-first.ts';

export interface StaticConfig {
  /** `none` = never use FC (the edge takes everything; a fixed configuration too). */
  readonly tier: string;
  readonly batch: number;
  readonly timeoutMs: number;
  /** Edge maximum batch. @default the largest whose q95 latency fits SLO − timeout */
  readonly edgeBatch?: number;
  /** How long a free edge worker holds for a full batch after the oldest arrived. @default 0 */
  readonly edgeWaitMs?: number;
}

export const STATIC_EDGE_ONLY = 'none';
export const STATIC_BATCHES = [1, 2, 4, 8, 16, 32] as const;
export const STATIC_TIMEOUT_FRACTIONS = [0.05, 0.15, 0.3, 0.5] as const;
/** Edge batch sizes tried (capped at the largest whose q95 latency fits the SLO, which is tried too). */
export const STATIC_EDGE_BATCHES = [1, 2, 4, 8, 16, 32, 64] as const;
/** Edge waits tried, as fractions of the SLO (0 = send at once). */
export const STATIC_EDGE_WAIT_FRACTIONS = [0, 0.1, 0.25, 0.5] as const;
/** Attainment a configuration must reach to count as meeting the SLO. */
export const STATIC_TARGET_ATTAINMENT = 0.995;

/** Build the batcher for one configuration. */
export function staticPolicy(ctx: PolicyContext, c: StaticConfig, name = 'static-best'): SimPolicy {
  const edgeWaitMs = c.edgeWaitMs ?? 0;
  if (c.tier === STATIC_EDGE_ONLY) {
    return new EdgeFirstBatcher(ctx, { name, edgeMaxBatch: c.edgeBatch ?? edgeBatchWithin(ctx, ctx.sloMs), edgeWaitMs, cloudTier: null, cloudMaxBatch: 1, maxDelayMs: Infinity });
  }
  const edgeMaxBatch = ctx.edgeWorkers > 0 ? (c.edgeBatch ?? edgeBatchWithin(ctx, Math.max(1, ctx.sloMs - c.timeoutMs))) : 0;
  return new EdgeFirstBatcher(ctx, { name, edgeMaxBatch, edgeWaitMs, cloudTier: c.tier, cloudMaxBatch: c.batch, maxDelayMs: c.timeoutMs });
}

/** Grid points whose q95 latency + transfer at the mean link + timeout fit the SLO. */
export function staticGrid(ctx: PolicyContext): StaticConfig[] {
  const out: StaticConfig[] = ctx.edgeWorkers > 0 ? [{ tier: STATIC_EDGE_ONLY, batch: 0, timeoutMs: Infinity }] : [];
  for (const t of ctx.tiers) {
    for (const b of STATIC_BATCHES) {
      const serviceMs = latencyMs(ctx, t.key, b) + transferMs(ctx, b * ctx.itemBytes, ctx.meanBps);
      for (const f of STATIC_TIMEOUT_FRACTIONS) {
        const timeoutMs = f * ctx.sloMs;
        if (serviceMs + timeoutMs <= ctx.sloMs) out.push({ tier: t.key, batch: b, timeoutMs });
      }
    }
  }
  // Cheapest per item first, so a good incumbent prunes the rest early.
  const perItem = (c: StaticConfig): number => (c.tier === STATIC_EDGE_ONLY ? 0 : batchCostUsd(ctx, c.tier, c.batch) / c.batch);
  return out.sort((x, y) => perItem(x) - perItem(y) || y.timeoutMs - x.timeoutMs);
}

/**
 * Edge settings to try in front of a chosen FC configuration: (batch, wait) pairs whose wait plus
 * q95 latency of the batch fit the SLO (a held batch must still be able to make it).
 */
export function staticEdgeGrid(ctx: PolicyContext, c: StaticConfig): StaticConfig[] {
  if (ctx.edgeWorkers === 0) return [];
  const top = edgeBatchWithin(ctx, ctx.sloMs);
  const batches = [...new Set([...STATIC_EDGE_BATCHES.filter((b) => b < top), top])];
  const out: StaticConfig[] = [];
  for (const b of batches) {
    for (const f of STATIC_EDGE_WAIT_FRACTIONS) {
      const edgeWaitMs = f * ctx.sloMs;
      if (f > 0 && (b === 1 || edgeWaitMs + latencyMs(ctx, 'edge', b) > ctx.sloMs)) continue; // nothing to wait for / cannot make it
      out.push({ ...c, edgeBatch: b, edgeWaitMs });
    }
  }
  return out;
}

/** Early-stop limits for a candidate replay: stop once it costs more or misses more than this. */
export interface EvalLimits {
  readonly maxCostUsd: number;
  readonly maxMissed: number;
}

/**
 * Pick the cheapest grid point that reaches {@link STATIC_TARGET_ATTAINMENT}, or the one with the
 * best attainment if none does. `evaluate` replays the trace with a candidate.
 */
export function chooseStatic(ctx: PolicyContext, evaluate: (p: SimPolicy, limits: EvalLimits) => PolicySummary & { aborted?: boolean }): { config: StaticConfig; tried: number } {
  let grid = staticGrid(ctx);
  if (grid.length === 0) grid = ctx.tiers.map((t) => ({ tier: t.key, batch: 1, timeoutMs: 0 }));
  let best: { config: StaticConfig; s: PolicySummary } | null = null;
  const better = (x: PolicySummary, y: PolicySummary): boolean => {
    const xo = x.sloAttainment >= STATIC_TARGET_ATTAINMENT;
    const yo = y.sloAttainment >= STATIC_TARGET_ATTAINMENT;
    if (xo !== yo) return xo;
    if (xo) return x.costUsd < y.costUsd;
    return x.sloAttainment > y.sloAttainment || (x.sloAttainment === y.sloAttainment && x.costUsd < y.costUsd);
  };
  const n = ctx.arrivalsMs.length;
  const allowedMisses = Math.floor((1 - STATIC_TARGET_ATTAINMENT) * n);
  // Phase 1: only candidates that meet the target; a rival stops as soon as it misses too many
  // or costs more than the incumbent.
  for (const c of grid) {
    const limits = { maxCostUsd: best ? best.s.costUsd : Infinity, maxMissed: allowedMisses };
    const s = evaluate(staticPolicy(ctx, c, `static:${c.tier}/${c.batch}/${c.timeoutMs}`), limits);
    if (s.aborted) continue;
    if (!best || better(s, best.s)) best = { config: c, s };
  }
  // Phase 2 (no candidate meets the target): the best attainment, replayed in full.
  if (!best) {
    for (const c of grid) {
      const s = evaluate(staticPolicy(ctx, c), { maxCostUsd: Infinity, maxMissed: Infinity });
      if (!best || better(s, best.s)) best = { config: c, s };
    }
  }
  // Phase 3: the edge's batch size and wait in front of the chosen FC configuration (one round of
  // coordinate search: FC first, then the edge; a rival stops once it is worse than the incumbent).
  const edgeGrid = staticEdgeGrid(ctx, best!.config);
  for (const c of edgeGrid) {
    const meets = best!.s.sloAttainment >= STATIC_TARGET_ATTAINMENT;
    const missedNow = Math.round((1 - best!.s.sloAttainment) * n);
    const limits = meets ? { maxCostUsd: best!.s.costUsd, maxMissed: allowedMisses } : { maxCostUsd: Infinity, maxMissed: missedNow };
    const s = evaluate(staticPolicy(ctx, c, `static:${c.tier}/${c.batch}/${c.timeoutMs}/edge${c.edgeBatch}/${c.edgeWaitMs}`), limits);
    if (s.aborted) continue;
    if (better(s, best!.s)) best = { config: c, s };
  }
  return { config: best!.config, tried: grid.length + edgeGrid.length };
}
