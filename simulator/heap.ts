/**
 * Binary min-heap event queue for virtual time. Ties break by kind priority, then insertion
 * order, so a run is deterministic: completions free capacity before arrivals at the same instant.
 */

/** Smaller runs first at equal times. */
export type EventKind = 'complete' | 'arrival' | 'wake';
const PRIORITY: Record<EventKind, number> = { complete: 0, arrival: 1, wake: 2 };

export interface SimEvent {
  readonly tMs: number;
  readonly kind: EventKind;
  /** Arrival index, batch id, or unused for wakes. */
  readonly ref: number;
}

interface Entry extends SimEvent {
  readonly seq: number;
}

/** Min-heap ordered by (tMs, kind, insertion order). */
export class EventQueue {
  private heap: Entry[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(ev: SimEvent): void {
    const h = this.heap;
    h.push({ ...ev, seq: this.seq++ });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  peek(): SimEvent | undefined {
    return this.heap[0];
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Entry, b: Entry): boolean {
  if (a.tMs !== b.tMs) return a.tMs < b.tMs;
  const pa = PRIORITY[a.kind];
  const pb = PRIORITY[b.kind];
  if (pa !== pb) return pa < pb;
  return a.seq < b.seq;
}
