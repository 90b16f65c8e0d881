/**
 * Matching a finished call to the record kept when it left: the same target, the same size, and
 * the start closest to the call's measured one (now − its wall time), within {@link MATCH_MS}.
 * The uplink backlog and the cloud's punctuality both keep such records.
 */
import type { TargetId } from './types.ts';

/** A call is matched to its record within this much of its measured start. */
export const MATCH_MS = 50;

/** Records are kept for matching at most this long (failed calls may never report; this bounds them). */
export const KEEP_MS = 2 * 60_000;

/** What a record of a call that left needs for matching. */
export interface LeftRecord {
  readonly target: TargetId;
  readonly atMs: number;
}

/** Index of the record of `target` whose `sizeOf` is `size` and that left closest to `startMs`; -1 when none is within {@link MATCH_MS}. */
export function closestRecord<T extends LeftRecord>(records: readonly T[], target: TargetId, size: number, sizeOf: (r: T) => number, startMs: number): number {
  let best = -1;
  for (let k = 0; k < records.length; k++) {
    const r = records[k];
    if (r.target !== target || sizeOf(r) !== size || Math.abs(r.atMs - startMs) > MATCH_MS) continue;
    if (best < 0 || Math.abs(r.atMs - startMs) < Math.abs(records[best].atMs - startMs)) best = k;
  }
  return best;
}

/** Drop the oldest records (kept in the order they left) beyond `max` or older than {@link KEEP_MS} at `nowMs`. */
export function dropStale(records: LeftRecord[], nowMs: number, max = Infinity): void {
  while (records.length > max || (records.length > 0 && records[0].atMs < nowMs - KEEP_MS)) records.shift();
}
