/**
 * The agent's runtime: the only place where real time, timers and backends meet the pure
 * scheduling core. It admits requests into the core, acts on each `decide(now)` (run the
 * dispatched batches, answer the rejected requests, sleep until `wakeAtMs`), and feeds every
 * batch's measured timings back through `onComplete`.
 *
 * Invariant: every admitted request is settled exactly once — by a result, by its item's model
 * error, by the core rejecting it, by a backend failure that cannot be retried in time, by the
 * backstop sweep (a request the core forgot), or by shutdown. `settle` is the single gate.
 */
import type { Logger } from 'pino';
import type { BatchObservation } from '../core/index.ts';
import { BackendError, type BatchOutcome, type InferenceBackend, type TargetId } from '../backends/backend.ts';
import type { ItemResult } from '../../shared/wire/index.ts';
import { HttpError } from './errors.ts';
import { EventHub } from './events.ts';
import { AgentMetrics, flattenNumbers } from './metrics.ts';
import type { AcceptedMime } from './image-input.ts';

/** What the runtime needs of the scheduling core (edge-agent/core's Scheduler satisfies it). */
export interface SchedulerPort {
  admit(
    req: { id: string; arrivalMs: number; deadlineMs: number; bytes: number },
    nowMs: number,
  ): { ok: true } | { ok: false; code: string; reason: string; retryAfterMs?: number };
  decide(
    nowMs: number,
    opts?: { flush?: boolean },
  ): {
    dispatch: readonly { target: string; requestIds: readonly string[]; atRisk: boolean; predictedMs: number }[];
    reject: readonly { requestId: string; reason: string; code: string }[];
    wakeAtMs: number | null;
    /** One-item calls outside the queue (prewarm a cold tier, probe a half-open one or the link). */
    probe?: readonly { target: string; reason: string; timeoutMs: number }[];
  };
  /** The runtime executes probe orders (a core without them simply never issues any). */
  enableProbes?(on?: boolean): void;
  onComplete(obs: BatchObservation, nowMs: number): void;
  advance(nowMs: number): void;
  markUnhealthy(target: string, untilMs: number): void;
  plan(): unknown;
  estimates(): unknown;
  queueDepth(): number;
  busy(): Record<string, number>;
  drainEvents(): readonly unknown[];
  stats(): { replans: number; changepoints: number };
}


/** One image to infer. */
export interface InferInput {
  readonly type: AcceptedMime;
  readonly bytes: Uint8Array;
}

/** The answer to one image (the body of a 200 from /v1/infer). */
export interface InferAnswer {
  readonly id: string;
  readonly text?: string;
  readonly confidence?: number;
  readonly labels?: ItemResult['labels'];
  readonly route: { readonly target: 'edge' | 'fc'; readonly tier?: string; readonly batchSize: number };
  readonly timings: { readonly queueMs: number; readonly transferMs: number; readonly inferMs: number; readonly totalMs: number };
  readonly costUsd: number;
  readonly deadlineMet: boolean;
}

export interface RuntimeOptions {
  readonly scheduler: SchedulerPort;
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

interface Waiter {
  readonly id: string;
  readonly input: InferInput;
  readonly arrivalMs: number;
  readonly deadlineMs: number;
  readonly route: string;
  readonly resolve: (a: InferAnswer) => void;
  readonly reject: (e: HttpError) => void;
  settled: boolean;
  inFlight: boolean;
  attempts: number;
  lastError?: BackendError;
}

/** Counts for the SSE `stats` event and the dashboard. */
export interface RuntimeStats {
  readonly epochMs: number;
  readonly rateRps: number;
  readonly queueDepth: number;
  readonly inFlight: number;
  readonly answered: number;
  readonly deadlineMet: number;
  readonly deadlineAttainment: number | null;
  readonly costUsd: number;
  readonly costPer1000Usd: number | null;
  readonly routes: Record<string, number>;
  readonly rejected: number;
  readonly replans: number;
  readonly changepoints: number;
  readonly uplinkMbps?: number;
}

const RETRYABLE: ReadonlySet<BackendError['code']> = new Set(['timeout', 'throttled', 'unavailable', 'bad_response', 'closed', 'function_error']);
/** Window of the arrival-rate figure in `stats`. */
const RATE_WINDOW_MS = 5000;
/** Period of the SSE `stats` event. */
export const STATS_EVERY_MS = 1000;

/**
 * The runtime. Build it with the core's Scheduler and the backends, then hand it to createApp.
 * @example
 * const rt = new AgentRuntime({ scheduler, backends: [edge, fc], logger });
 * const answer = await rt.infer({ type: 'image/png', bytes }, 800); // 800 ms budget
 */
export class AgentRuntime {
  readonly events = new EventHub();
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  private readonly scheduler: SchedulerPort;
  private readonly backends: readonly InferenceBackend[];
  private readonly byTarget = new Map<TargetId, InferenceBackend>();
  private readonly clock: () => number;
  private readonly model?: string;
  private readonly maxRetries: number;
  private readonly backstopMs: number;
  private readonly waiters = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private pumpQueued = false;
  private readonly sweeper: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 8);
  private draining = false;
  private closed = false;
  private readonly arrivals: number[] = [];
  /** The latest admitted image: the payload of probe calls (their results are discarded). */
  private sample: InferInput | null = null;
  /** Probe calls in flight (closed with the backends). */
  private probes = 0;
  private answered = 0;
  private met = 0;
  private rejected = 0;
  private costUsdTotal = 0;
  private readonly routeItems: Record<string, number> = {};
  private readonly metMet: { inc(): void };
  private readonly metMissed: { inc(): void };
  private readonly requestCounters = new Map<string, { inc(): void }>();
  private readonly perTarget = new Map<TargetId, { batchSize: { observe(v: number): void }; latency: { observe(v: number): void }; okSeconds: { observe(v: number): void } }>();

  constructor(options: RuntimeOptions) {
    this.scheduler = options.scheduler;
    this.backends = options.backends;
    this.logger = options.logger;
    this.clock = options.clock ?? (() => performance.now());
    this.model = options.model;
    this.maxRetries = nonNegative('maxRetries', options.maxRetries, 1);
    this.backstopMs = nonNegative('backstopMs', options.backstopMs, 2000);
    for (const b of this.backends) for (const t of b.targets) {
      if (this.byTarget.has(t)) throw new Error(`two backends serve target ${t} (${this.byTarget.get(t)!.kind} and ${b.kind})`);
      this.byTarget.set(t, b);
    }
    const sched = this.scheduler;
    this.metrics = new AgentMetrics(
      {
        queueDepth: () => sched.queueDepth(),
        busy: () => sched.busy(),
        estimates: () => flattenNumbers(sched.estimates()),
        changepoints: () => sched.stats().changepoints,
        replans: () => sched.stats().replans,
      },
      { defaultMetrics: options.defaultMetrics },
    );
    // This runtime runs the core's probe orders (prewarm cold tiers, probe half-open ones and the link).
    this.scheduler.enableProbes?.(true);
    this.metMet = this.metrics.deadlines.labels({ met: 'true' });
    this.metMissed = this.metrics.deadlines.labels({ met: 'false' });
    this.sweeper = setInterval(() => this.sweep(), 250);
    this.sweeper.unref();
    // The `stats` event, once a second, only while someone listens.
    this.ticker = setInterval(() => {
      if (this.events.subscribers > 0) this.events.publish('stats', this.stats());
    }, STATS_EVERY_MS);
    this.ticker.unref();
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
    return this.waiters.size;
  }

  /**
   * Infer one image with a deadline `budgetMs` from now. Resolves with the answer or rejects
   * with an HttpError (503 overloaded/shutting down, 504 deadline, 422 item error, 502 backend).
   */
  infer(input: InferInput, budgetMs: number, route = '/v1/infer'): Promise<InferAnswer> {
    if (this.draining || this.closed) {
      this.count(route, '503');
      return Promise.reject(new HttpError(503, 'shutting_down', 'the agent is shutting down and takes no new requests', { retryAfterMs: 5000 }));
    }
    const now = this.clock();
    const id = `${this.idPrefix}-${(this.nextId++).toString(36)}`;
    const deadlineMs = now + budgetMs;
    this.arrivals.push(now);
    if (this.arrivals.length > 100_000) this.arrivals.splice(0, 50_000);
    const verdict = this.scheduler.admit({ id, arrivalMs: now, deadlineMs, bytes: input.bytes.length }, now);
    this.publishCoreEvents();
    if (!verdict.ok) {
      this.rejected++;
      const err =
        verdict.code === 'overloaded'
          ? new HttpError(503, 'overloaded', `load shed: ${verdict.reason}`, { retryAfterMs: verdict.retryAfterMs ?? 1000 })
          : new HttpError(504, verdict.code, `deadline of ${round(budgetMs)} ms cannot be met: ${verdict.reason}`);
      this.count(route, String(err.status));
      return Promise.reject(err);
    }
    this.sample = input;
    return new Promise<InferAnswer>((resolve, reject) => {
      this.waiters.set(id, { id, input, arrivalMs: now, deadlineMs, route, resolve, reject, settled: false, inFlight: false, attempts: 0 });
      this.schedulePump();
    });
  }

  /** The plan and estimates of the core, JSON-ready. */
  planSnapshot(): { plan: unknown; estimates: unknown; queueDepth: number; busy: Record<string, number>; replans: number; changepoints: number; targets: string[] } {
    const s = this.scheduler.stats();
    return {
      plan: this.scheduler.plan(),
      estimates: this.scheduler.estimates(),
      queueDepth: this.scheduler.queueDepth(),
      busy: this.scheduler.busy(),
      replans: s.replans,
      changepoints: s.changepoints,
      targets: this.targets,
    };
  }

  /** Counters for the SSE `stats` event. */
  stats(): RuntimeStats {
    const now = this.clock();
    let recent = 0;
    for (let i = this.arrivals.length - 1; i >= 0 && this.arrivals[i] > now - RATE_WINDOW_MS; i--) recent++;
    const s = this.scheduler.stats();
    const est = flattenNumbers(this.scheduler.estimates());
    const uplink = est.uplinkMbps ?? est['link.uplinkMbps'] ?? (est.bandwidthBps !== undefined ? est.bandwidthBps / 1e6 : undefined);
    return {
      epochMs: Date.now(),
      rateRps: recent / (RATE_WINDOW_MS / 1000),
      queueDepth: this.scheduler.queueDepth(),
      inFlight: [...this.waiters.values()].filter((w) => w.inFlight).length,
      answered: this.answered,
      deadlineMet: this.met,
      deadlineAttainment: this.answered ? this.met / this.answered : null,
      costUsd: this.costUsdTotal,
      costPer1000Usd: this.answered ? (this.costUsdTotal / this.answered) * 1000 : null,
      routes: { ...this.routeItems },
      rejected: this.rejected,
      replans: s.replans,
      changepoints: s.changepoints,
      ...(uplink !== undefined ? { uplinkMbps: uplink } : {}),
    };
  }

  /**
   * Graceful shutdown: refuse new requests (503), let queued requests run while they can still
   * meet their deadline, answer whatever is left after `graceMs` with 503, close the backends.
   */
  async drain(graceMs = 30_000): Promise<void> {
    if (this.closed) return;
    this.draining = true;
    this.events.publish('shutdown', { epochMs: Date.now(), pending: this.waiters.size });
    const until = this.clock() + graceMs;
    while (this.waiters.size > 0 && this.clock() < until) {
      // Flush: cloud batches held to fill up leave now, while they can still make their deadline.
      this.pump(true);
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const w of [...this.waiters.values()]) {
      this.fail(w, new HttpError(503, 'shutting_down', `the agent shut down before this request could be served (waited ${round(graceMs)} ms)`, { retryAfterMs: 5000 }));
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
    for (const w of [...this.waiters.values()]) this.fail(w, new HttpError(503, 'shutting_down', 'the agent closed', { retryAfterMs: 5000 }));
    this.events.closeAll();
    await Promise.allSettled(this.backends.map((b) => b.close()));
  }

  // ------------------------------------------------------------------ the loop

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    // Admissions in the same tick share one decide().
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(flush = this.draining): void {
    if (this.closed) return;
    const now = this.clock();
    let decision: ReturnType<SchedulerPort['decide']>;
    try {
      decision = flush ? this.scheduler.decide(now, { flush: true }) : this.scheduler.decide(now);
    } catch (err) {
      this.logger.error({ err }, 'scheduler.decide failed');
      for (const w of [...this.waiters.values()]) if (!w.inFlight) this.fail(w, new HttpError(500, 'scheduler_error', `scheduler failed: ${(err as Error).message}`));
      return;
    }
    for (const r of decision.reject) {
      const w = this.waiters.get(r.requestId);
      if (!w) continue;
      const why = w.lastError ? `${r.reason} (after ${w.lastError.target} failed: ${w.lastError.message})` : r.reason;
      this.fail(w, new HttpError(504, r.code || 'deadline_missed', why));
    }
    for (const d of decision.dispatch) {
      const batch = d.requestIds.map((id) => this.waiters.get(id)).filter((w): w is Waiter => !!w && !w.settled);
      if (batch.length > 0) void this.runBatch(d.target, batch, d.atRisk, d.predictedMs);
      // Everyone in it was already answered (backstop, shutdown): free the target in the core
      // without teaching its estimators anything.
      else this.observe({ target: d.target, batchSize: 0, bytes: 0, ok: false, wallMs: 0, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, error: 'cancelled' }, now);
    }
    for (const p of decision.probe ?? []) void this.runProbe(p.target, p.reason, p.timeoutMs);
    this.publishCoreEvents();
    this.arm(decision.wakeAtMs, now);
  }

  /**
   * A probe order: one item (the latest request's image) outside the queue, result discarded;
   * its timings teach the core (cold start, link, health) like any batch. Never throws.
   */
  private async runProbe(target: TargetId, reason: string, timeoutMs: number): Promise<void> {
    const startMs = this.clock();
    const input = this.sample;
    const backend = this.byTarget.get(target);
    const base = { target, batchSize: 1, bytes: input?.bytes.length ?? 0, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, probe: true };
    if (!input || !backend || this.closed) {
      this.observe({ ...base, batchSize: 0, bytes: 0, ok: false, wallMs: 0, error: 'cancelled' }, startMs);
      return;
    }
    this.probes++;
    try {
      const out = await backend.run(target, [{ id: `probe-${reason}-${(this.nextId++).toString(36)}`, type: input.type, bytes: input.bytes }], { timeoutMs, ...(this.model ? { model: this.model } : {}) });
      const now = this.clock();
      this.observe({ ...base, ok: true, wallMs: out.wallMs || now - startMs, inferMs: out.inferMs, transferMs: out.transferMs, coldStart: out.coldStart, costUsd: out.costUsd }, now);
      if (out.costUsd > 0) {
        this.metrics.costUsd.inc({ target }, out.costUsd);
        this.costUsdTotal += out.costUsd;
      }
      this.logger.debug({ target, reason, coldStart: out.coldStart, wallMs: Math.round(out.wallMs) }, 'probe ok');
    } catch (e) {
      const code = e instanceof BackendError ? e.code : 'bad_response';
      this.logger.info({ target, reason, code }, 'probe failed');
      this.observe({ ...base, ok: false, wallMs: this.clock() - startMs, error: code }, this.clock());
    } finally {
      this.probes--;
    }
    if (this.scheduler.queueDepth() > 0) this.schedulePump();
  }

  private arm(wakeAtMs: number | null, now: number): void {
    if (wakeAtMs === null || !Number.isFinite(wakeAtMs)) return;
    if (this.timer && this.timerAtMs <= wakeAtMs) return; // an earlier wake-up is already set
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = wakeAtMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAtMs = Infinity;
      this.pump();
    }, Math.max(0, wakeAtMs - now));
  }

  private async runBatch(target: TargetId, batch: Waiter[], atRisk: boolean, predictedMs: number): Promise<void> {
    const startMs = this.clock();
    for (const w of batch) {
      w.inFlight = true;
      w.attempts++;
    }
    const deadline = Math.min(...batch.map((w) => w.deadlineMs));
    const timeoutMs = Math.max(1, deadline - startMs);
    const bytes = batch.reduce((s, w) => s + w.input.bytes.length, 0);
    const backend = this.byTarget.get(target);
    if (this.events.subscribers > 0) {
      this.events.publish('dispatch', { epochMs: Date.now(), target, batchSize: batch.length, bytes, atRisk, predictedMs: round(predictedMs), timeoutMs: round(timeoutMs) });
    }
    const m = this.targetMetrics(target);
    m.batchSize.observe(batch.length);
    let outcome: BatchOutcome;
    try {
      if (!backend) throw new BackendError('unavailable', `no backend serves target ${target} (live: ${this.targets.join(', ')})`, target);
      outcome = await backend.run(
        target,
        batch.map((w) => ({ id: w.id, type: w.input.type, bytes: w.input.bytes })),
        { timeoutMs, ...(this.model ? { model: this.model } : {}) },
      );
      if (outcome.results.length !== batch.length) {
        throw new BackendError('bad_response', `${target} answered ${outcome.results.length} results for a batch of ${batch.length}`, target);
      }
    } catch (e) {
      const err = e instanceof BackendError ? e : new BackendError('bad_response', `backend threw: ${(e as Error)?.message ?? String(e)}`, target, { cause: e });
      this.onBatchFailed(target, batch, err, startMs, bytes);
      return;
    }
    const now = this.clock();
    this.observe({ target, batchSize: batch.length, bytes, ok: true, wallMs: outcome.wallMs || now - startMs, inferMs: outcome.inferMs, transferMs: outcome.transferMs, coldStart: outcome.coldStart, costUsd: outcome.costUsd }, now);
    m.okSeconds.observe((now - startMs) / 1000);
    if (outcome.costUsd > 0) {
      this.metrics.costUsd.inc({ target }, outcome.costUsd);
      this.costUsdTotal += outcome.costUsd;
    }
    const byId = new Map(outcome.results.map((r) => [r.id, r]));
    const isEdge = target === 'edge';
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i];
      const r = byId.get(w.id) ?? outcome.results[i];
      if (r.error) {
        this.fail(w, new HttpError(422, r.error.code, `the model could not read this image: ${r.error.message}`));
        continue;
      }
      const totalMs = now - w.arrivalMs;
      const answer: InferAnswer = {
        id: w.id,
        ...(r.text !== undefined ? { text: r.text } : {}),
        ...(r.confidence !== undefined ? { confidence: r.confidence } : {}),
        ...(r.labels !== undefined ? { labels: r.labels } : {}),
        route: isEdge ? { target: 'edge', batchSize: batch.length } : { target: 'fc', tier: target, batchSize: batch.length },
        timings: { queueMs: round(startMs - w.arrivalMs), transferMs: round(outcome.transferMs), inferMs: round(outcome.inferMs), totalMs: round(totalMs) },
        costUsd: outcome.costUsd / batch.length,
        deadlineMet: now <= w.deadlineMs,
      };
      this.succeed(w, answer, target);
    }
    if (this.events.subscribers > 0) {
      this.events.publish('complete', { epochMs: Date.now(), target, batchSize: batch.length, ok: true, durationMs: round(now - startMs), inferMs: round(outcome.inferMs), transferMs: round(outcome.transferMs), coldStart: outcome.coldStart, costUsd: outcome.costUsd });
    }
    // A target just became free: ask for the next batch, unless nobody waits (saves a decide()
    // per request at low queue depth; the next admit asks anyway).
    if (this.scheduler.queueDepth() > 0) this.pump();
    else this.publishCoreEvents();
  }

  private onBatchFailed(target: TargetId, batch: Waiter[], err: BackendError, startMs: number, bytes: number): void {
    const now = this.clock();
    this.logger.warn({ target, batchSize: batch.length, code: err.code, err: err.message }, 'batch failed');
    this.metrics.backendErrors.inc({ target, code: err.code });
    this.metrics.batchSeconds.observe({ target, ok: 'false' }, (now - startMs) / 1000);
    this.observe({ target, batchSize: batch.length, bytes, ok: false, wallMs: now - startMs, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, error: err.code }, now);
    if (this.events.subscribers > 0) this.events.publish('complete', { epochMs: Date.now(), target, batchSize: batch.length, ok: false, error: err.code, message: err.message, durationMs: round(now - startMs) });
    for (const w of batch) {
      w.inFlight = false;
      w.lastError = err;
      if (w.settled) continue;
      const canRetry = RETRYABLE.has(err.code) && !this.closed && w.attempts <= this.maxRetries && w.deadlineMs > now;
      if (canRetry) {
        // Re-queue through the core: it knows which target can still make the deadline, and
        // markUnhealthy above keeps it off the one that just failed.
        const verdict = this.scheduler.admit({ id: w.id, arrivalMs: w.arrivalMs, deadlineMs: w.deadlineMs, bytes: w.input.bytes.length }, now);
        if (verdict.ok) {
          this.metrics.retries.inc();
          continue;
        }
      }
      this.fail(w, backendHttpError(err));
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

  /** Core events (changepoints, replans, …) go out under their own `type`. */
  private publishCoreEvents(): void {
    const evs = this.scheduler.drainEvents();
    if (evs.length === 0 || this.events.subscribers === 0) return;
    for (const ev of evs) {
      const e = ev as { type?: unknown; kind?: unknown };
      const type = typeof e.type === 'string' ? e.type : typeof e.kind === 'string' ? e.kind : 'core';
      // The runtime publishes its own `dispatch` (with bytes and timeout); one per batch, not two.
      if (type === 'dispatch') continue;
      this.events.publish(type, { epochMs: Date.now(), ...(ev as object) });
    }
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
    for (const w of [...this.waiters.values()]) {
      if (now > w.deadlineMs + this.backstopMs) {
        this.logger.error({ requestId: w.id, inFlight: w.inFlight, lateMs: round(now - w.deadlineMs) }, 'request left unanswered past its deadline; answering 504');
        this.fail(w, new HttpError(504, 'deadline_missed', `no result ${round(now - w.deadlineMs)} ms after the deadline (${w.inFlight ? 'batch still running' : 'never dispatched'})`));
      }
    }
  }

  // ------------------------------------------------------------------ settling

  private succeed(w: Waiter, a: InferAnswer, target: TargetId): void {
    if (w.settled) return;
    w.settled = true;
    this.waiters.delete(w.id);
    this.answered++;
    if (a.deadlineMet) this.met++;
    this.routeItems[target] = (this.routeItems[target] ?? 0) + 1;
    (a.deadlineMet ? this.metMet : this.metMissed).inc();
    this.targetMetrics(target).latency.observe(a.timings.totalMs / 1000);
    this.count(w.route, '200');
    w.resolve(a);
  }

  private fail(w: Waiter, e: HttpError): void {
    if (w.settled) return;
    w.settled = true;
    this.waiters.delete(w.id);
    this.rejected++;
    this.count(w.route, String(e.status));
    w.reject(e);
  }

  private targetMetrics(target: TargetId) {
    let m = this.perTarget.get(target);
    if (!m) {
      m = {
        batchSize: this.metrics.batchSize.labels({ target }),
        latency: this.metrics.latencySeconds.labels({ target }),
        okSeconds: this.metrics.batchSeconds.labels({ target, ok: 'true' }),
      };
      this.perTarget.set(target, m);
    }
    return m;
  }

  private count(route: string, outcome: string): void {
    // Label children are cached: prom-client hashes the label object on every call otherwise.
    const key = `${route}\u0000${outcome}`;
    let child = this.requestCounters.get(key);
    if (!child) this.requestCounters.set(key, (child = this.metrics.requests.labels({ route, outcome })));
    child.inc();
  }
}

function backendHttpError(err: BackendError): HttpError {
  if (err.code === 'timeout') return new HttpError(504, 'deadline_missed', `${err.target} did not answer before the deadline: ${err.message}`, { cause: err });
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
