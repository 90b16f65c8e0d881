/**
 * The uplink's backlog. One radio link carries every upload in turn (the simulator's world and
 * the local FC's link model serialise them, as a real uplink does): a cloud batch sent now waits
 * behind the bytes of the batches sent just before it, in earlier decisions as well as this one.
 * The core tracks when the link will have sent everything it was given, at the link estimate's
 * bandwidth, and decide() counts what is still ahead. Without it, a burst offloaded over a slow
 * link in many small decisions was predicted as if each upload had the link to itself
 * (ResNet-50 on a Jetson, Twitter trace, HSDPA car 2, 2000 ms: 83 % of the cloud's requests missed).
 *
 * A call's measured transfer then includes its wait behind those bytes, so the link estimator
 * learns from the bytes through the link by the call's end (ahead + its own), not its own alone:
 * otherwise it would count the wait twice (once in its fit, once here).
 */
import type { LinkEstimator } from './link-estimator.ts';
import { closestRecord, dropStale } from './call-match.ts';
import type { TargetId } from './types.ts';

interface Sent {
  readonly target: TargetId;
  readonly atMs: number;
  readonly bytes: number;
  readonly aheadBytes: number;
}

/** Sends kept for matching at most this many (and at most KEEP_MS; failed calls are never matched). */
const MAX_SENDS = 4096;

export class UplinkBacklog {
  /**
   * Bytes given to the link and not yet sent, as of `atMs`; they drain at the link estimate's
   * bandwidth of the moment. Kept in bytes, not as the time the link is free: that time, taken at
   * an outage's 0.1 Mbit/s estimate and read back at the 36 Mbit/s one that followed, became a
   * megabyte "ahead" of a 20 kB call, and the link fit learnt 2,856 Mbit/s from it.
   */
  private aheadBytes = 0;
  private atMs = -Infinity;
  private readonly sends: Sent[] = [];

  /** Bytes still ahead of a new upload at `nowMs`. */
  bytesAhead(nowMs: number, link: LinkEstimator): number {
    const bps = link.bandwidthBps;
    if (!(this.aheadBytes > 0) || !(bps > 0)) return 0;
    if (!Number.isFinite(bps)) return 0;
    return Math.max(0, this.aheadBytes - ((nowMs - this.atMs) * bps) / 8000);
  }

  /** An upload of `bytes` to `target` leaves at `nowMs`: it goes out after those ahead. */
  sent(target: TargetId, nowMs: number, bytes: number, link: LinkEstimator): void {
    const bps = link.bandwidthBps;
    if (!(bytes > 0) || !(bps > 0) || !Number.isFinite(bps)) return;
    const ahead = this.bytesAhead(nowMs, link);
    this.sends.push({ target, atMs: nowMs, bytes, aheadBytes: ahead });
    this.aheadBytes = ahead + bytes;
    this.atMs = Math.max(nowMs, this.atMs);
    dropStale(this.sends, nowMs, MAX_SENDS);
  }

  /**
   * The bytes a finished call waited behind (its send's, matched by target, size and start
   * `startMs`), 0 when no send matches. The match is forgotten.
   */
  aheadOf(target: TargetId, bytes: number, startMs: number): number {
    const best = closestRecord(this.sends, target, bytes, sentBytes, startMs);
    if (best < 0) return 0;
    const ahead = this.sends[best].aheadBytes;
    this.sends.splice(best, 1);
    return ahead;
  }
}

const sentBytes = (s: Sent): number => s.bytes;
