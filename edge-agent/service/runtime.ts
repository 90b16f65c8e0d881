/**
 * The agent's runtime: the dispatch loop, the only place where real time, timers and backends
 * meet the pure scheduling core. It admits requests into the core, carries out each
 * `decide(now)` (`carryOut`: answer the rejected, run the dispatched batches and the probes,
 * sleep until the wake-up), and feeds every call's measured timings back through `onComplete`.
 * Requests live in the registry (`request-registry.ts`, the settle-once gate); counts, metrics
 * and events in `telemetry.ts`.
 */
import type { EdgeSetup } from '../backends/local-onnx.ts';
import type { Logger } from 'pino';
import { callTimeoutMs, carryOut, type BatchObservation, type DecisionDriver, type DispatchOrder, type ProbeOrder, type RejectOrder, type SchedulingCore } from '../core/index.ts';
import { BackendError, type BatchOutcome, type InferenceBackend, type TargetId } from '../backends/backend.ts';
import { HttpError } from './errors.ts';
import { RequestRegistry, type InferAnswer, type InferInput, type Waiter } from './request-registry.ts';
import { STATS_EVERY_MS, Telemetry, type RuntimeStats } from './telemetry.ts';

export type { InferAnswer, InferInput } from './request-registry.ts';
export type { RuntimeStats } from './telemetry.ts';
export { STATS_EVERY_MS } from './telemetry.ts';

export interface RuntimeOptions {
  readonly scheduler: SchedulingCore;
  /** Every backend; each serves the targets it lists (`edge`, tier keys). */
  readonly backends: readonly InferenceBackend[];
  readonly logger: Logger;
  /**
   * Monotonic clock in ms, passed to the core as `nowMs`.
   * @default performance.now
   */
  readonly clock?: () => number;
  /** Model name passed to backends. */
  readonly model?: string;
  /** How the local edge runs, for `GET /v1/plan`. */
  readonly edgeSetup?: EdgeSetup;
  /**
   * Times a request may be re-queued after a backend failure.
   * @default 1
   */
  readonly maxRetries?: number;
  /**
   * A request still unanswered this long after its deadline is answered 504 by the backstop
   * sweep (protects against a lost dispatch; a healthy core never triggers it), ms.
   * @default 2000
   */
  readonly backstopMs?: number;
  /** Collect Node's default process metrics too. @default false */
  readonly defaultMetrics?: boolean;
}

/** How long past its head's deadline a call that runs to its end may take before it counts as hung (a time-out). */
const RUN_TO_END_LIMIT_MS = 10_000;

const RETRYABLE: ReadonlySet<BackendError['code']> = new Set(['timeout', 'throttled', 'unavailable', 'bad_response', 'closed', 'function_error']);

/**
 * The runtime. Build it with the core's Scheduler and the backends, then hand it to createApp.
 * @example
 * const rt = new AgentRuntime({ scheduler, backends: [edge, fc], logger });
 * const answer = await rt.infer({ type: 'image/png', bytes }, 800); // 800 ms budget
 */
export class AgentRuntime {
  readonly logger: Logger;
  private readonly telemetry: Telemetry;
  private readonly requests: RequestRegistry;
  private readonly scheduler: SchedulingCore;
  private readonly backends: readonly InferenceBackend[];
  private readonly byTarget = new Map<TargetId, InferenceBackend>();
  private readonly clock: () => number;
  private readonly model?: string;
  private readonly edgeSetup?: EdgeSetup;
  private readonly maxRetries: number;
  private readonly backstopMs: number;
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private pumpQueued = false;
  private readonly sweeper: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 8);
  private draining = false;
  private closed = false;
  /** The latest admitted image: the payload of probe calls (their results are discarded). */
  private sample: InferInput | null = null;
  /** How this loop carries out a decision (bound once: no closures per decision). */
  private readonly driver: DecisionDriver;

  constructor(options: RuntimeOptions) {
    this.scheduler = options.scheduler;
    this.backends = options.backends;
    this.logger = options.logger;
    this.clock = options.clock ?? (() => performance.now());
    this.model = options.model;
    this.edgeSetup = options.edgeSetup;
    this.maxRetries = nonNegative('maxRetries', options.maxRetries, 1);
    this.backstopMs = nonNegative('backstopMs', options.backstopMs, 2000);
    for (const b of this.backends) for (const t of b.targets) {
      if (this.byTarget.has(t)) throw new Error(`two backends serve target ${t} (${this.byTarget.get(t)!.kind} and ${b.kind})`);
      this.byTarget.set(t, b);
    }
    this.telemetry = new Telemetry(this.scheduler, { defaultMetrics: options.defaultMetrics });
    this.requests = new RequestRegistry(this.telemetry);
    this.driver = {
      reject: (r) => this.onReject(r),
      dispatch: (d) => this.onDispatch(d),
      probe: (p) => void this.runProbe(p),
      wakeAt: (at) => this.arm(at),
    };
    // This runtime runs the core's probe orders (prewarm cold tiers, probe half-open ones and the link).
    this.scheduler.enableProbes(true);
    this.sweeper = setInterval(() => this.sweep(), 250);
    this.sweeper.unref();
    // The `stats` event, once a second, only while someone listens.
    this.ticker = setInterval(() => {
      if (this.events.subscribers > 0) this.events.publish('stats', this.stats());
    }, STATS_EVERY_MS);
    this.ticker.unref();
  }

  get events() {
    return this.telemetry.events;
  }

  get metrics() {
    return this.telemetry.metrics;
  }

  /** Targets with a live backend, e.g. `['edge', 'tier-c1-m2048', …]`. */
  get targets(): TargetId[] {
    return [...this.byTarget.keys()];
  }

  /** Backend kinds, e.g. `['edge', 'fc']`. */
  get backendKinds(): string[] {
    return this.backends.map((b) => b.kind);
  }

  /** Ready to take requests: backends up and not shutting down. */
  get ready(): boolean {
    return !this.draining && !this.closed && this.byTarget.size > 0;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Requests admitted and not yet answered. */
  get pending(): number {
    return this.requests.size;
  }

  /**
   * Infer one image with a deadline `budgetMs` from now. Resolves with the answer or rejects
   * with an HttpError (503 overloaded/shutting down, 504 deadline, 422 item error, 502 backend).
   */
  infer(input: InferInput, budgetMs: number, route = '/v1/infer'): Promise<InferAnswer> {
    if (this.draining || this.closed) {
      this.telemetry.refused(route, 503, true);
      return Promise.reject(new HttpError(503, 'shutting_down', 'the agent is shutting down and takes no new requests', { retryAfterMs: 5000 }));
    }
    const now = this.clock();
    const id = `${this.idPrefix}-${(this.nextId++).toString(36)}`;
    const deadlineMs = now + budgetMs;
    const verdict = this.scheduler.admit({ id, arrivalMs: now, deadlineMs, bytes: input.bytes.length }, now);
    this.publishCoreEvents();
    if (!verdict.ok) {
      const err =
        verdict.code === 'overloaded'
          ? new HttpError(503, 'overloaded', `load shed: ${verdict.reason}`, { retryAfterMs: verdict.retryAfterMs ?? 1000 })
          : new HttpError(504, verdict.code, `deadline of ${round(budgetMs)} ms cannot be met: ${verdict.reason}`);
      this.telemetry.refused(route, err.status);
      return Promise.reject(err);
    }
    this.sample = input;
    const answer = this.requests.add({ id, input, arrivalMs: now, deadlineMs, route });
    this.schedulePump();
    return answer;
  }

  /** The plan and estimates of the core, JSON-ready. */
  planSnapshot() {
    const s = this.scheduler.stats();
    return {
      plan: this.scheduler.plan(),
      estimates: this.scheduler.estimates(),
      queueDepth: this.scheduler.queueDepth(),
      busy: this.scheduler.busy(),
      replans: s.replans,
      changepoints: s.changepoints,
      targets: this.targets,
      ...(this.edgeSetup ? { edge: this.edgeSetup } : {}),
    };
  }

  /** Counters for the SSE `stats` event. */
  stats(): RuntimeStats {
    return this.telemetry.stats(this.requests.inFlight());
  }

  /**
   * Graceful shutdown: refuse new requests (503), let queued requests run while they can still
   * meet their deadline, answer whatever is left after `graceMs` with 503, close the backends.
   */
  async drain(graceMs = 30_000): Promise<void> {
    if (this.closed) return;
    this.draining = true;
    this.events.publish('shutdown', { epochMs: Date.now(), pending: this.requests.size });
    const until = this.clock() + graceMs;
    while (this.requests.size > 0 && this.clock() < until) {
      // Flush: cloud batches held to fill up leave now, while they can still make their deadline.
      this.pump(true);
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const w of this.requests.all()) {
      this.requests.fail(w, new HttpError(503, 'shutting_down', `the agent shut down before this request could be served (waited ${round(graceMs)} ms)`, { retryAfterMs: 5000 }));
    }
    await this.close();
  }

  /** Stop timers and close every backend (pending calls reject with `closed`). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    clearInterval(this.sweeper);
    clearInterval(this.ticker);
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.requests.all()) this.requests.fail(w, new HttpError(503, 'shutting_down', 'the agent closed', { retryAfterMs: 5000 }));
    this.events.closeAll();
    await Promise.allSettled(this.backends.map((b) => b.close()));
  }

  // ------------------------------------------------------------------ the loop

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    // Admissions in the same turn of the event loop share one decide(): every request whose
    // bytes arrived in this poll phase is queued before the core looks at the queue (a microtask
    // ran one decide() per request under load, each over the whole queue). The check phase
    // follows the poll phase of the same turn, so no request waits for a later turn.
    setImmediate(this.runPump);
  }

  /** The deferred pump (bound once: no closure per schedule). */
  private readonly runPump = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  private pump(flush = this.draining): void {
    if (this.closed) return;
    const now = this.clock();
    let decision: ReturnType<SchedulingCore['decide']>;
    try {
      decision = flush ? this.scheduler.decide(now, { flush: true }) : this.scheduler.decide(now);
    } catch (err) {
      this.logger.error({ err }, 'scheduler.decide failed');
      for (const w of this.requests.all()) if (!w.inFlight) this.requests.fail(w, new HttpError(500, 'scheduler_error', `scheduler failed: ${(err as Error).message}`));
      return;
    }
    carryOut(decision, now, this.driver);
    this.publishCoreEvents();
  }

  private onReject(r: RejectOrder): void {
    const w = this.requests.get(r.requestId);
    if (!w) return;
    const why = w.lastError ? `${r.reason} (after ${w.lastError.target} failed: ${w.lastError.message})` : r.reason;
    this.requests.fail(
      w,
      r.code === 'overloaded' ? new HttpError(503, 'overloaded', `load shed after queueing: ${why}`, { retryAfterMs: r.retryAfterMs ?? 1000 }) : new HttpError(504, r.code || 'deadline_missed', why),
    );
  }

  private onDispatch(d: DispatchOrder): void {
    const batch = d.requestIds.map((id) => this.requests.get(id)).filter((w): w is Waiter => !!w);
    if (batch.length > 0) void this.runBatch(d.target, batch, d.atRisk === true, d.predictedMs ?? null);
    // Everyone in it was already answered (backstop, shutdown): free the target in the core
    // without teaching its estimators anything.
    else this.observe({ target: d.target, batchSize: 0, bytes: 0, ok: false, wallMs: 0, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, error: 'cancelled' }, this.clock());
  }

  /**
   * A probe order: one item (the latest request's image) outside the queue, result discarded;
   * its timings teach the core (cold start, link, health) like any batch. Never throws.
   */
  private async runProbe({ target, reason, timeoutMs }: ProbeOrder): Promise<void> {
    const startMs = this.clock();
    const input = this.sample;
    const backend = this.byTarget.get(target);
    const base = { target, batchSize: 1, bytes: input?.bytes.length ?? 0, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, probe: true };
    if (!input || !backend || this.closed) {
      this.observe({ ...base, batchSize: 0, bytes: 0, ok: false, wallMs: 0, error: 'cancelled' }, startMs);
      return;
    }
    try {
      const out = await backend.run(target, [{ id: `probe-${reason}-${(this.nextId++).toString(36)}`, type: input.type, bytes: input.bytes }], { timeoutMs, ...(this.model ? { model: this.model } : {}) });
      const now = this.clock();
      this.observe({ ...base, ok: true, wallMs: out.wallMs || now - startMs, inferMs: out.inferMs, transferMs: out.transferMs, coldStart: out.coldStart, costUsd: out.costUsd }, now);
      this.telemetry.billed(target, out.costUsd);
      this.logger.debug({ target, reason, coldStart: out.coldStart, wallMs: Math.round(out.wallMs) }, 'probe ok');
    } catch (e) {
      const code = e instanceof BackendError ? e.code : 'bad_response';
      this.logger.info({ target, reason, code }, 'probe failed');
      this.observe({ ...base, ok: false, wallMs: this.clock() - startMs, error: code }, this.clock());
    }
    if (this.scheduler.queueDepth() > 0) this.schedulePump();
  }

  private arm(wakeAtMs: number): void {
    if (this.timer && this.timerAtMs <= wakeAtMs) return; // an earlier wake-up is already set
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = wakeAtMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAtMs = Infinity;
      this.pump();
    }, Math.max(0, wakeAtMs - this.clock()));
  }

  private async runBatch(target: TargetId, batch: Waiter[], atRisk: boolean, predictedMs: number | null): Promise<void> {
    const startMs = this.clock();
    for (const w of batch) {
      w.inFlight = true;
      w.attempts++;
    }
    let earliestMs = Infinity;
    let bytes = 0;
    for (const w of batch) {
      if (w.deadlineMs < earliestMs) earliestMs = w.deadlineMs;
      bytes += w.input.bytes.length;
    }
    const timeoutMs = callTimeoutMs(earliestMs, startMs);
    const backend = this.byTarget.get(target);
    this.telemetry.publish('dispatch', () => ({ target, batchSize: batch.length, bytes, atRisk, predictedMs: predictedMs === null ? null : round(predictedMs), timeoutMs: round(timeoutMs) }));
    this.telemetry.batchStarted(target, batch.length);
    // A call that cannot be cut (an edge worker's ONNX run) is let run to its end: its late
    // requests are answered at their deadlines here, and the core frees the target when it
    // really is free. Cut at the head's deadline, the worker still ran for a while the core
    // counted it busy for (at least 100 ms) after, idle: 0.74 of wall time busy under 3× overload.
    const runsToEnd = backend?.runsToEnd === true;
    const late = runsToEnd ? this.answerLateAtDeadlines(target, batch, startMs) : undefined;
    let outcome: BatchOutcome;
    try {
      if (!backend) throw new BackendError('unavailable', `no backend serves target ${target} (live: ${this.targets.join(', ')})`, target);
      outcome = await backend.run(
        target,
        batch.map((w) => ({ id: w.id, type: w.input.type, bytes: w.input.bytes })),
        { timeoutMs: runsToEnd ? timeoutMs + RUN_TO_END_LIMIT_MS : timeoutMs, ...(this.model ? { model: this.model } : {}) },
      );
      if (outcome.results.length !== batch.length) {
        throw new BackendError('bad_response', `${target} answered ${outcome.results.length} results for a batch of ${batch.length}`, target);
      }
    } catch (e) {
      const err = e instanceof BackendError ? e : new BackendError('bad_response', `backend threw: ${(e as Error)?.message ?? String(e)}`, target, { cause: e });
      this.onBatchFailed(target, batch, err, startMs, bytes);
      return;
    } finally {
      late?.cancel();
    }
    const now = this.clock();
    this.observe({ target, batchSize: batch.length, bytes, ok: true, wallMs: outcome.wallMs || now - startMs, inferMs: outcome.inferMs, transferMs: outcome.transferMs, coldStart: outcome.coldStart, costUsd: outcome.costUsd }, now);
    this.telemetry.batchSucceeded(target, (now - startMs) / 1000);
    this.telemetry.billed(target, outcome.costUsd);
    // Results come back in the batch's order; match by id only when one does not (built once, then).
    let byId: Map<string, (typeof outcome.results)[number]> | null = null;
    // What every answer of the batch shares, computed once: the answers are serialised and
    // dropped, never mutated, so one route object serves them all.
    const route: InferAnswer['route'] = target === 'edge' ? { target: 'edge', batchSize: batch.length } : { target: 'fc', tier: target, batchSize: batch.length };
    const transferMs = round(outcome.transferMs);
    const inferMs = round(outcome.inferMs);
    const costUsd = outcome.costUsd / batch.length;
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i];
      let r = outcome.results[i];
      if (r.id !== w.id) r = (byId ??= new Map(outcome.results.map((x) => [x.id, x]))).get(w.id) ?? r;
      if (r.error) {
        this.requests.fail(w, new HttpError(422, r.error.code, `the model could not read this image: ${r.error.message}`));
        continue;
      }
      // Fields assigned one by one in the answer's key order (the JSON reads as before): an
      // object spread per optional field cost more than the rest of the answer.
      const answer: { -readonly [K in keyof InferAnswer]: InferAnswer[K] } = { id: w.id } as InferAnswer;
      if (r.text !== undefined) answer.text = r.text;
      if (r.confidence !== undefined) answer.confidence = r.confidence;
      if (r.labels !== undefined) answer.labels = r.labels;
      answer.route = route;
      answer.timings = { queueMs: round(startMs - w.arrivalMs), transferMs, inferMs, totalMs: round(now - w.arrivalMs) };
      answer.costUsd = costUsd;
      answer.deadlineMet = now <= w.deadlineMs;
      this.requests.succeed(w, answer, target);
    }
    this.telemetry.publish('complete', () => ({ target, batchSize: batch.length, ok: true, durationMs: round(now - startMs), inferMs: round(outcome.inferMs), transferMs: round(outcome.transferMs), coldStart: outcome.coldStart, costUsd: outcome.costUsd }));
    // A target just became free: ask for the next batch, unless nobody waits (saves a decide()
    // per request at low queue depth; the next admit asks anyway).
    if (this.scheduler.queueDepth() > 0) this.pump();
    else this.publishCoreEvents();
  }

  /**
   * Answer each request of a running batch that has not been answered by its deadline with a
   * 504 at that deadline (the batch goes on; the rest get its results). Cancel when it ends.
   */
  private answerLateAtDeadlines(target: TargetId, batch: readonly Waiter[], startMs: number): { cancel(): void } {
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      let next = Infinity;
      for (const w of batch) if (!w.settled && w.deadlineMs < next) next = w.deadlineMs;
      if (next === Infinity) return;
      timer = setTimeout(() => {
        const now = this.clock();
        for (const w of batch) {
          if (w.settled || w.deadlineMs > now) continue;
          this.requests.fail(w, new HttpError(504, 'deadline_missed', `${target} did not answer before the deadline: its batch of ${batch.length} has run ${round(now - startMs)} ms`));
        }
        arm();
      }, Math.max(0, next - this.clock()));
    };
    arm();
    return { cancel: () => clearTimeout(timer) };
  }

  private onBatchFailed(target: TargetId, batch: Waiter[], err: BackendError, startMs: number, bytes: number): void {
    const now = this.clock();
    this.logger.warn({ target, batchSize: batch.length, code: err.code, err: err.message }, 'batch failed');
    this.telemetry.batchFailed(target, err.code, (now - startMs) / 1000);
    this.observe({ target, batchSize: batch.length, bytes, ok: false, wallMs: now - startMs, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, error: err.code }, now);
    this.telemetry.publish('complete', () => ({ target, batchSize: batch.length, ok: false, error: err.code, message: err.message, durationMs: round(now - startMs) }));
    for (const w of batch) {
      w.inFlight = false;
      w.lastError = err;
      if (w.settled) continue;
      // Back into the core's queue (not a new arrival): it knows which target can still make
      // the deadline, and the failure just observed keeps it off the one that failed.
      const canRetry = RETRYABLE.has(err.code) && !this.closed && w.attempts <= this.maxRetries && w.deadlineMs > now;
      if (canRetry && this.scheduler.requeue({ id: w.id, arrivalMs: w.arrivalMs, deadlineMs: w.deadlineMs, bytes: w.input.bytes.length }, now)) {
        this.telemetry.retried();
        continue;
      }
      this.requests.fail(w, backendHttpError(err));
    }
    this.schedulePump();
  }

  private observe(obs: BatchObservation, now: number): void {
    try {
      this.scheduler.onComplete(obs, now);
    } catch (err) {
      this.logger.error({ err, target: obs.target }, 'scheduler.onComplete failed');
    }
    this.publishCoreEvents();
  }

  private publishCoreEvents(): void {
    this.telemetry.publishCore(this.scheduler.drainEvents());
  }

  /** Backstop: nothing waits forever, even if the core or a backend loses a request. */
  private sweep(): void {
    const now = this.clock();
    // Time passes in the core without traffic too: held slots are released, breakers half-open.
    try {
      this.scheduler.advance(now);
    } catch (err) {
      this.logger.error({ err }, 'scheduler.advance failed');
    }
    for (const w of this.requests.all()) {
      if (now > w.deadlineMs + this.backstopMs) {
        this.logger.error({ requestId: w.id, inFlight: w.inFlight, lateMs: round(now - w.deadlineMs) }, 'request left unanswered past its deadline; answering 504');
        this.requests.fail(w, new HttpError(504, 'deadline_missed', `no result ${round(now - w.deadlineMs)} ms after the deadline (${w.inFlight ? 'batch still running' : 'never dispatched'})`));
      }
    }
  }
}

function backendHttpError(err: BackendError): HttpError {
  if (err.code === 'timeout') return new HttpError(504, 'deadline_missed', `${err.target} did not answer before the deadline: ${err.message}`, { cause: err });
  // FC is at its instance limit (429) and the retry met it too: capacity, not a fault — 503 with when to retry.
  if (err.code === 'throttled') return new HttpError(503, 'backend_throttled', `${err.target} is at its instance limit (429), also on retry: ${err.message}`, { cause: err, retryAfterMs: 1000 });
  if (err.code === 'closed') return new HttpError(503, 'shutting_down', `${err.target} closed: ${err.message}`, { cause: err, retryAfterMs: 5000 });
  return new HttpError(502, `backend_${err.code}`, `${err.target} failed (${err.code}): ${err.message}`, { cause: err });
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`Expected \`${name}\` to be a finite number ≥ 0, got \`${String(v)}\``);
  return x;
}
