/**
 * The log behind admission's measured drain rate: items finished over a recent window, as
 * (time, running total) entries. The items since any time are a binary search and two lookups,
 * not a walk over every batch of the window (at thousands of small batches a second, that walk
 * ran on every admission), and dropping old entries moves an index instead of splicing the array.
 * @example
 * const log = new FinishedLog();
 * log.push(0, 4); log.push(10, 2);
 * log.itemsSince(5); // 2
 */
export class FinishedLog {
  private readonly atMs: number[] = [];
  /** Items finished up to and including entry k, counted from the log's start. */
  private readonly total: number[] = [];
  /** First live entry (the ones before it fell out of the window, kept until compaction). */
  private head = 0;
  /** The running total before entry 0 (what compaction dropped). */
  private before = 0;

  push(nowMs: number, items: number): void {
    const n = this.atMs.length;
    // Times never run backwards here (the core clamps them), so the log stays sorted.
    this.atMs.push(n > 0 ? Math.max(this.atMs[n - 1], nowMs) : nowMs);
    this.total.push((n > 0 ? this.total[n - 1] : this.before) + items);
  }

  /** Drop entries older than `fromMs`. */
  trim(fromMs: number): void {
    while (this.head < this.atMs.length && this.atMs[this.head] < fromMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.atMs.length) {
      this.before = this.total[this.head - 1];
      this.atMs.splice(0, this.head);
      this.total.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Items finished at or after `sinceMs`. */
  itemsSince(sinceMs: number): number {
    const t = this.atMs;
    const end = t.length;
    let lo = this.head;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t[mid] < sinceMs) lo = mid + 1;
      else hi = mid;
    }
    if (lo === end) return 0;
    return this.total[end - 1] - (lo > 0 ? this.total[lo - 1] : this.before);
  }
}
