/**
 * How punctual the cloud has really been: the share of recent cloud calls the estimates counted on
 * time (not sent at risk) that finished by their batch's earliest deadline. decide() counts what the tiers would serve on time from the link and
 * latency estimates at the planning quantile; where those run optimistic (a slow, jumpy uplink,
 * uploads serialised behind each other) the count is not what the calls deliver. Jetson ×
 * Azure × mahimahi, 2000 ms: a burst split into an edge batch of 14 and 24 single calls to FC,
 * which the estimates counted on time and of which 60 % were late, where one edge batch of 28
 * would have served all but two (edge-only). The edge-or-cloud choice weighs the tiers' count by
 * this share.
 *
 * A call is matched to its dispatch as the uplink backlog matches them (call-match.ts); probes are
 * not calls here (they answer nobody).
 */
import { closestRecord, dropStale } from './call-match.ts';
import type { TargetId } from './types.ts';

interface Dispatched {
  readonly target: TargetId;
  readonly size: number;
  readonly atMs: number;
  readonly deadlineMs: number;
}

/** Weight of each new call in the share (about the last ten calls count). */
const ALPHA = 0.1;

export class CloudPunctuality {
  private share = 1;
  private readonly pending: Dispatched[] = [];

  /** Share of recent cloud calls on time (1 before any). */
  get onTimeShare(): number {
    return this.share;
  }

  /** A cloud batch of `size` left at `nowMs`; its earliest deadline `deadlineMs`. */
  dispatched(target: TargetId, nowMs: number, size: number, deadlineMs: number): void {
    this.pending.push({ target, size, atMs: nowMs, deadlineMs });
    dropStale(this.pending, nowMs);
  }

  /** A cloud call of `size` that started at `startMs` ended at `nowMs` (`ok` false: failed, not on time). */
  finished(target: TargetId, size: number, startMs: number, nowMs: number, ok: boolean): void {
    const best = closestRecord(this.pending, target, size, dispatchedSize, startMs);
    if (best < 0) return;
    const onTime = ok && nowMs <= this.pending[best].deadlineMs ? 1 : 0;
    this.pending.splice(best, 1);
    this.share += ALPHA * (onTime - this.share);
  }
}

const dispatchedSize = (d: Dispatched): number => d.size;
