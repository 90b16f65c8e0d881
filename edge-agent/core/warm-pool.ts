/**
 * Warm instances of one FC tier: an instance that finished a batch stays warm for `keepAliveMs`;
 * a batch that finds no idle warm instance pays a cold start. Mirrors FC's one-batch-per-instance
 * (instanceConcurrency 1) scaling.
 */

/** Idle-since times of a tier's warm instances. */
export class WarmPool {
  private idleSince: number[] = [];
  private busyCount = 0;
  /** Idle-since times of the warm instances lent to calls in flight (most recent last). */
  private lent: number[] = [];
  private lastUsed: number | null = null;

  constructor(readonly keepAliveMs: number) {}

  private prune(nowMs: number): void {
    const keep = this.idleSince.filter((t) => nowMs - t <= this.keepAliveMs);
    if (keep.length !== this.idleSince.length) this.idleSince = keep;
  }

  /** Idle warm instances at `nowMs`. */
  warmIdle(nowMs: number): number {
    this.prune(nowMs);
    return this.idleSince.length;
  }

  get busy(): number {
    return this.busyCount;
  }

  get lastUsedMs(): number | null {
    return this.lastUsed;
  }

  /** A batch starts: takes the most recently idle instance. @returns true when it starts cold. */
  start(nowMs: number): boolean {
    this.prune(nowMs);
    this.busyCount++;
    this.lastUsed = nowMs;
    if (this.idleSince.length > 0) {
      this.lent.push(this.idleSince.pop()!);
      return false;
    }
    return true;
  }

  /**
   * A batch started with start() never ran (refused, unreachable, cancelled): free its slot. An
   * instance it was lent is still warm on FC's side (the call never reached it): it is idle
   * again, since its old idle time (a link outage must not use up the warm pool).
   */
  abandon(): void {
    if (this.busyCount > 0) this.busyCount--;
    const back = this.lent.pop();
    if (back !== undefined) this.insertIdle(back);
    this.trimLent();
  }

  /** A batch finished: its instance is idle and warm from now. */
  finish(nowMs: number): void {
    if (this.busyCount > 0) this.busyCount--;
    this.lent.pop();
    this.trimLent();
    this.lastUsed = nowMs;
    this.insertIdle(nowMs);
  }

  /** Most recent last, so start() reuses the freshest instance. */
  private insertIdle(sinceMs: number): void {
    this.idleSince.push(sinceMs);
    if (this.idleSince.length > 1 && this.idleSince[this.idleSince.length - 2] > sinceMs) this.idleSince.sort((a, b) => a - b);
  }

  /** Never more lent instances than calls in flight. */
  private trimLent(): void {
    if (this.lent.length > this.busyCount) this.lent.splice(0, this.lent.length - this.busyCount);
  }
}
