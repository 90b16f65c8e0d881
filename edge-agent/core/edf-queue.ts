/** The virtual queue: waiting requests in earliest-deadline-first order (stable: FIFO among equal deadlines). */
import type { QueuedRequest } from './types.ts';

export class EdfQueue {
  private readonly items: QueuedRequest[] = [];
  private readonly ids = new Map<string, QueuedRequest>();

  get length(): number {
    return this.items.length;
  }

  /** The waiting requests, earliest deadline first (a live view: do not keep it across calls). */
  get view(): readonly QueuedRequest[] {
    return this.items;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Requests waiting with a deadline ≤ `deadlineMs` (the EDF position of a new one). */
  position(deadlineMs: number): number {
    const q = this.items;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid].deadlineMs <= deadlineMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Deadline of a waiting request (Infinity when it is not waiting). */
  deadlineOf(id: string): number {
    return this.ids.get(id)?.deadlineMs ?? Infinity;
  }

  /** Bytes of the waiting requests among `ids`. */
  bytesOf(ids: readonly string[]): number {
    let bytes = 0;
    for (const id of ids) bytes += Math.max(0, this.ids.get(id)?.bytes ?? 0);
    return bytes;
  }

  insert(req: QueuedRequest): void {
    const at = this.position(req.deadlineMs);
    if (at === this.items.length) this.items.push(req);
    else this.items.splice(at, 0, req);
    this.ids.set(req.id, req);
  }

  /** Remove the requests a decision took: usually an EDF prefix, plus any laxer run the edge took behind a waiting head. */
  remove(taken: readonly string[]): void {
    const count = taken.length;
    for (const id of taken) this.ids.delete(id);
    let prefix = true;
    for (let k = 0; k < count && prefix; k++) if (this.ids.has(this.items[k].id)) prefix = false;
    if (prefix) {
      this.items.splice(0, count);
      return;
    }
    let w = 0;
    for (const r of this.items) if (this.ids.has(r.id)) this.items[w++] = r;
    this.items.length = w;
  }
}
