/**
 * Fan-out of the agent's live events (dispatches, completions, core events, stats) to any number
 * of subscribers (SSE clients). Publishing never blocks: each subscriber has a bounded buffer and
 * a slow one loses its oldest events rather than growing the agent's memory.
 */

/** One event as sent over SSE: `event: <type>`, `data: <JSON>`. */
export interface AgentEvent {
  readonly type: string;
  readonly data: unknown;
}

export interface Subscription {
  /** Next event, or undefined once closed. */
  next(): Promise<AgentEvent | undefined>;
  /** Events dropped because this subscriber fell behind. */
  readonly dropped: number;
  close(): void;
}

/** Events a slow subscriber may fall behind by before the oldest are dropped. */
export const SUBSCRIBER_BUFFER = 1000;

export class EventHub {
  private readonly subs = new Set<{ buf: AgentEvent[]; wake: (() => void) | null; closed: boolean; dropped: number }>();

  /** Number of live subscribers (publishers may skip building events nobody reads). */
  get subscribers(): number {
    return this.subs.size;
  }

  publish(type: string, data: unknown): void {
    for (const s of this.subs) {
      if (s.buf.length >= SUBSCRIBER_BUFFER) {
        s.buf.shift();
        s.dropped++;
      }
      s.buf.push({ type, data });
      const w = s.wake;
      s.wake = null;
      w?.();
    }
  }

  subscribe(): Subscription {
    const s = { buf: [] as AgentEvent[], wake: null as (() => void) | null, closed: false, dropped: 0 };
    this.subs.add(s);
    const hub = this;
    return {
      async next() {
        while (!s.closed && s.buf.length === 0) await new Promise<void>((r) => (s.wake = r));
        return s.closed ? undefined : s.buf.shift();
      },
      get dropped() {
        return s.dropped;
      },
      close() {
        if (s.closed) return;
        s.closed = true;
        hub.subs.delete(s);
        const w = s.wake;
        s.wake = null;
        w?.();
      },
    };
  }

  /** Close every subscription (shutdown). */
  closeAll(): void {
    for (const s of [...this.subs]) {
      s.closed = true;
      this.subs.delete(s);
      s.wake?.();
    }
  }
}
