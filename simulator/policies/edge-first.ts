/**
 * A rule-based batcher shared by several baselines: the edge takes the oldest requests whenever
 * a worker is free (up to `edgeMaxBatch`); what waits longer than `maxDelayMs`, or fills
 * `cloudMaxBatch`, goes to one fixed FC tier. Triton's dynamic batcher with an edge in front.
 */
import { EDGE, type BatchObservation, type Decision, type DispatchOrder, type PolicyContext, type RejectOrder, type SimPolicy, type SimRequest } from '../types.ts';
import { Fifo } from './common.ts';

export interface EdgeFirstOptions {
  readonly name: string;
  /** 0 = never use the edge. */
  readonly edgeMaxBatch: number;
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

  constructor(
    private readonly ctx: PolicyContext,
    private readonly o: EdgeFirstOptions,
  ) {
    this.name = o.name;
    if (o.edgeMaxBatch > 0 && ctx.edgeWorkers === 0 && !o.cloudTier) throw new RangeError(`${o.name}: no edge workers and no FC tier`);
  }

  admit(req: SimRequest): { ok: true } {
    this.q.push(req);
    return { ok: true };
  }

  decide(nowMs: number): Decision {
    const reject: RejectOrder[] = [];
    const dispatch: DispatchOrder[] = [];
    this.q.expire(nowMs, reject);
    if (this.o.edgeMaxBatch > 0) {
      while (this.edgeBusy < this.ctx.edgeWorkers && this.q.length > 0) {
        dispatch.push({ target: EDGE, requestIds: this.q.take(this.o.edgeMaxBatch).map((r) => r.id) });
        this.edgeBusy++;
      }
    }
    let wakeAtMs: number | null = null;
    if (this.o.cloudTier) {
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
    if (obs.target === EDGE) this.edgeBusy--;
  }

  replans(): number {
    return 0;
  }
}
