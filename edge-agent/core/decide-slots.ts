/**
 * A target's slots as one decision takes them, and the bounds read from them at the means: the
 * fastest target for one request (the bar for "impossible", shared with admission) and the
 * soonest a busy target could finish one more (the bar for "overloaded").
 */
import type { TransferPredictor } from './predictors.ts';
import type { DecideTarget } from './decide.ts';

/** A target's slot for one decision: slots left and warm idle instances left as batches are taken. */
export interface DecideSlot {
  readonly t: DecideTarget;
  free: number;
  warm: number;
}

export function isCold(s: DecideSlot): boolean {
  return !s.t.isEdge && s.warm <= 0;
}

/**
 * Mean of the fastest target for a single request of `bytes`: the bar for "impossible". With
 * `prewarmed`, a tier with no warm instance left and none busy (none about to be warm) pays its
 * cold start; without, a cold tier's first call is what warms it, so every tier counts warm.
 */
export function fastestMeanMs(slots: readonly DecideSlot[], bytes: number, link: TransferPredictor, prewarmed: boolean): number {
  let best = Infinity;
  for (const s of slots) {
    const cold = prewarmed && isCold(s) && !((s.t.busy ?? 0) > 0);
    const transfer = s.t.isEdge ? 0 : link.transferMs(bytes, 'mean');
    best = Math.min(best, transfer + s.t.latency.predict(1, 'mean') + (cold ? s.t.latency.coldStartMs : 0));
  }
  return best;
}

/**
 * At the means, the soonest any busy target could finish one more request of `bytes`: its free
 * time (`freeMs`, a busy tier's earliest call end, the edge's from `edgeFreeMean`, which holds
 * the batches given to it in this decision too) plus the
 * upload and one item, warm. Only called when no free slot can take it.
 */
export function soonestFinishMs(slots: readonly DecideSlot[], edgeFreeMean: readonly number[], bytes: number, link: TransferPredictor, nowMs: number): { freeMs: number; endMs: number } {
  let freeMs = Infinity;
  let endMs = Infinity;
  for (const s of slots) {
    const t = s.t;
    // A free slot here cannot serve in time (a cold tier); one with a call running (a probe
    // warming it, or a batch given out in this decision) may once that call ends.
    const running = (t.busy ?? 0) + (t.freeSlots - s.free);
    if (running <= 0 || (t.isEdge && s.free > 0)) continue;
    const ends = t.isEdge ? edgeFreeMean : (t.busyUntilMeanMs ?? []);
    const known = t.isEdge ? ends.length > 0 : ends.length >= running;
    const at = known ? Math.max(nowMs, ends[0]) : nowMs;
    freeMs = Math.min(freeMs, at);
    endMs = Math.min(endMs, at + (t.isEdge ? 0 : link.transferMs(bytes, 'mean')) + t.latency.predict(1, 'mean'));
  }
  return { freeMs, endMs };
}

