/**
 * A rule-based batcher shared by several baselines: a free edge worker takes the oldest requests
 * (up to its maximum batch) unless its edge rule says to hold for more; what waits longer than
 * `maxDelayMs`, or fills `cloudMaxBatch`, goes to one fixed FC tier. Triton's dynamic batcher
 * with an edge in front. While a free worker holds, the requests it holds are the edge's: the
 * cloud does not take them (they are fewer than the edge's batch, hence all that waits).
 */
import { EDGE, type BatchObservation, type Decision, type DispatchOrder, type PolicyContext, type RejectOrder, type SimPolicy, type SimRequest } from '../types.ts';
import { Fifo } from './common.ts';

/** When a free edge worker sends what waits, and how much. */
export interface EdgeRule {
  /** Largest batch the edge takes. */
  maxBatch(): number;
  /**
   * With `n` (< maxBatch) requests waiting, `oldest` first, and a worker free at `nowMs`: null =
   * send them now, else hold until this time (new arrivals ask again earlier).
   */
  holdUntilMs(oldest: SimRequest, n: number, nowMs: number): number | null;
  /** Every completed batch (edge or FC), for rules that learn. */
  observe?(obs: BatchObservation): void;
  /** Every admitted request, for rules that track the arrival rate. */
  onArrival?(req: SimRequest, nowMs: number): void;
}

/**
 * Triton-style fixed edge rule: hold at most `waitMs` after the oldest arrived for a batch of
 * `batch`. `waitMs` 0 = send whatever waits at once.
 */
export function fixedEdgeRule(batch: number, waitMs: number): EdgeRule {
  return {
    maxBatch: () => batch,
    holdUntilMs: (oldest, _n, nowMs) => (waitMs > 0 && oldest.arrivalMs + waitMs > nowMs ? oldest.arrivalMs + waitMs : null),
  };
}

export interface EdgeFirstOptions {
  readonly name: string;
  /** 0 = never use the edge. */
  readonly edgeMaxBatch: number;
  /** A free worker holds up to this long after the oldest arrived for a full batch. @default 0 (send at once) */
  readonly edgeWaitMs?: number;
  /** Replaces `edgeMaxBatch` / `edgeWaitMs` with a rule of its own (e.g. an adaptive batcher). */
  readonly edgeRule?: EdgeRule;
  /** null = never use FC. */
  readonly cloudTier: string | null;
  readonly cloudMaxBatch: number;
  /** Oldest request waits at most this long before its batch leaves for FC. */
  readonly maxDelayMs: number;
}

export class EdgeFirstBatcher implements SimPolicy {
  readonly name: string;
  private readonly q = new Fifo();
  private edgeBusy = 0;
  private readonly edge: EdgeRule | null;

  constructor(
    private readonly ctx: PolicyContext,
    private readonly o: EdgeFirstOptions,
  ) {
    this.name = o.name;
    this.edge = o.edgeRule ?? (o.edgeMaxBatch > 0 ? fixedEdgeRule(o.edgeMaxBatch, o.edgeWaitMs ?? 0) : null);
    if (o.edgeMaxBatch > 0 && ctx.edgeWorkers === 0 && !o.cloudTier) throw new RangeError(`${o.name}: no edge workers and no FC tier`);
  }

  admit(req: SimRequest, nowMs: number): { ok: true } {
    this.edge?.onArrival?.(req, nowMs);
    this.q.push(req);
    return { ok: true };
  }

  decide(nowMs: number): Decision {
    const reject: RejectOrder[] = [];
    const dispatch: DispatchOrder[] = [];
    this.q.expire(nowMs, reject);
    let wakeAtMs: number | null = null;
    let holding = false;
    if (this.edge) {
      while (this.edgeBusy < this.ctx.edgeWorkers && this.q.length > 0) {
        const max = Math.max(1, this.edge.maxBatch());
        const n = Math.min(this.q.length, max);
        const hold = n < max ? this.edge.holdUntilMs(this.q.peek()!, n, nowMs) : null;
        if (hold !== null && hold > nowMs) {
          holding = true;
          wakeAtMs = hold;
          break;
        }
        dispatch.push({ target: EDGE, requestIds: this.q.take(n).map((r) => r.id) });
        this.edgeBusy++;
      }
    }
    if (holding) {
      // Everything that waits is the held edge batch.
    } else if (this.o.cloudTier) {
      while (this.q.length >= this.o.cloudMaxBatch) dispatch.push({ target: this.o.cloudTier, requestIds: this.q.take(this.o.cloudMaxBatch).map((r) => r.id) });
      const oldest = this.q.peek();
      if (oldest) {
        const due = oldest.arrivalMs + this.o.maxDelayMs;
        if (due <= nowMs) dispatch.push({ target: this.o.cloudTier, requestIds: this.q.take(this.o.cloudMaxBatch).map((r) => r.id) });
        else wakeAtMs = due;
      }
    } else {
      const oldest = this.q.peek();
      if (oldest) wakeAtMs = oldest.deadlineMs + 1; // to expire it if the edge never frees up in time
    }
    return { dispatch, reject, wakeAtMs };
  }

  onComplete(obs: BatchObservation): void {
    if (obs.target === EDGE && !obs.probe) this.edgeBusy--;
    this.edge?.observe?.(obs);
  }

  replans(): number {
    return 0;
  }
}
