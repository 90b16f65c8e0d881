/**
 * Edge → cloud link emulation: paces the reading of request bodies to an uplink bandwidth
 * (constant, or a bandwidth trace that loops), adds a round-trip time, and can drop the link
 * (outage). The uplink is one shared FIFO pipe: concurrent uploads queue behind each other, as
 * they would on a device's single cellular uplink.
 */
import type { IncomingMessage } from 'node:http';
import { transferEndMs, type BandwidthTrace } from '../shared/traces/bandwidth.ts';

/** Link settings; each field is optional in updates. */
export interface LinkSettings {
  /** Constant uplink rate; `null` or 0 removes shaping. Ignored while a trace is set. */
  readonly mbps?: number | null;
  /** Uplink trace, time 0 = when it is set; `null` removes it. */
  readonly trace?: BandwidthTrace | null;
  /** Round trip added to every invocation (half before the body is read, half before the answer). @default 0 */
  readonly rttMs?: number;
  /** While true new connections are reset, like a dropped uplink. @default false */
  readonly outage?: boolean;
}

/** Thrown by `readBody` when a body exceeds the limit. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
}

export class Link {
  private bps: number | undefined;
  private trace: BandwidthTrace | undefined;
  private traceStartMs = 0;
  rttMs = 0;
  outage = false;
  /** When the shared uplink finishes what is already queued on it. */
  private freeAtMs = 0;

  constructor(
    settings: LinkSettings = {},
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.set(settings);
  }

  set(s: LinkSettings): void {
    if (s.mbps !== undefined) this.bps = s.mbps && s.mbps > 0 ? s.mbps * 1e6 : undefined;
    if (s.trace !== undefined) {
      this.trace = s.trace ?? undefined;
      this.traceStartMs = this.nowMs();
    }
    if (s.rttMs !== undefined) this.rttMs = s.rttMs;
    if (s.outage !== undefined) this.outage = s.outage;
  }

  /** Current settings, for `GET /local/link`. */
  describe(): { mbps: number | null; trace: boolean; rttMs: number; outage: boolean } {
    return { mbps: this.bps ? this.bps / 1e6 : null, trace: !!this.trace, rttMs: this.rttMs, outage: this.outage };
  }

  get shaped(): boolean {
    return !!this.trace || !!this.bps;
  }

  /**
   * Put `bytes` on the uplink now (behind anything queued) and return when they have arrived,
   * on the `nowMs` clock.
   */
  reserve(bytes: number): number {
    const start = Math.max(this.nowMs(), this.freeAtMs);
    let t = start;
    if (this.trace) {
      const end = transferEndMs(this.trace, t - this.traceStartMs, bytes, 0);
      // A trace that never carries anything: treat as a dead link for an hour rather than forever.
      t = Number.isFinite(end) ? end + this.traceStartMs : t + 3_600_000;
    } else if (this.bps) {
      t += ((bytes * 8) / this.bps) * 1000;
    }
    this.freeAtMs = t;
    return t;
  }

  /** Read a request body at the link's pace; rejects with BodyTooLargeError past `maxBytes`. */
  readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let timer: NodeJS.Timeout | undefined;
      let ended = false;
      let waiting = false;
      const finish = () => resolve(Buffer.concat(chunks, size));
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.removeAllListeners('data');
          clearTimeout(timer);
          reject(new BodyTooLargeError(`request body exceeds ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
        if (!this.shaped) return;
        const waitMs = this.reserve(chunk.length) - this.nowMs();
        if (waitMs <= 0) return;
        // Stop reading until these bytes "arrived": TCP backpressure then slows the sender too.
        req.pause();
        waiting = true;
        timer = setTimeout(() => {
          waiting = false;
          if (ended) finish();
          else req.resume();
        }, waitMs);
      });
      req.on('end', () => {
        ended = true;
        if (!waiting) finish();
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }
}
