/**
 * What the agent tells about itself: Prometheus metrics, the running totals of the `stats`
 * event (answered, on time, cost, routes), and the live event stream (the core's events go out
 * under their own type). The rate and link figures are the core's estimates, read by name.
 */
import type { CoreEvent, SchedulingCore, TargetId } from '../core/index.ts';
import type { HttpError } from './errors.ts';
import { EventHub } from './events.ts';
import { AgentMetrics, flattenNumbers } from './metrics.ts';
import type { InferAnswer, SettleListener, Waiter } from './request-registry.ts';

/** Counts for the SSE `stats` event and the dashboard. */
export interface RuntimeStats {
  readonly epochMs: number;
  /** The core's arrival-rate estimate (BOCPD's current segment), req/s. */
  readonly rateRps: number;
  readonly queueDepth: number;
  /** Requests whose batch is running. */
  readonly inFlight: number;
  readonly answered: number;
  readonly deadlineMet: number;
  readonly deadlineAttainment: number | null;
  readonly costUsd: number;
  readonly costPer1000Usd: number | null;
  /** Requests answered per target. */
  readonly routes: Record<string, number>;
  readonly rejected: number;
  readonly replans: number;
  readonly changepoints: number;
  /** The core's uplink estimate (absent while it has no finite bandwidth). */
  readonly uplinkMbps?: number;
}

/** Period of the SSE `stats` event. */
export const STATS_EVERY_MS = 1000;

export class Telemetry implements SettleListener {
  readonly events = new EventHub();
  readonly metrics: AgentMetrics;
  private answered = 0;
  private met = 0;
  private rejected = 0;
  private costUsdTotal = 0;
  private readonly routeItems: Record<string, number> = {};
  /** How many answered items met / missed their deadline prom-client has been given. */
  private readonly flushedDeadlines = { met: 0, missed: 0 };
  /** Answers per (route, outcome): the count and how much of it prom-client has been given. */
  private readonly requestCounts = new Map<string, { readonly route: string; readonly outcome: string; n: number; flushed: number }>();
  private readonly perTarget = new Map<TargetId, { batchSize: { observe(v: number): void }; latency: { observe(v: number): void }; okSeconds: { observe(v: number): void } }>();

  constructor(
    private readonly core: SchedulingCore,
    options: { defaultMetrics?: boolean } = {},
  ) {
    this.metrics = new AgentMetrics(
      {
        queueDepth: () => core.queueDepth(),
        busy: () => core.busy(),
        estimates: () => flattenNumbers(core.estimates()),
        changepoints: () => core.stats().changepoints,
        replans: () => core.stats().replans,
        flushCounts: () => this.flushCounts(),
      },
      { defaultMetrics: options.defaultMetrics },
    );
  }

  /** The `stats` snapshot; `inFlight` is the registry's. */
  stats(inFlight: number): RuntimeStats {
    const s = this.core.stats();
    const est = this.core.estimates();
    const bps = est.link.bandwidthBps;
    return {
      epochMs: Date.now(),
      rateRps: est.rate.rateRps,
      queueDepth: this.core.queueDepth(),
      inFlight,
      answered: this.answered,
      deadlineMet: this.met,
      deadlineAttainment: this.answered ? this.met / this.answered : null,
      costUsd: this.costUsdTotal,
      costPer1000Usd: this.answered ? (this.costUsdTotal / this.answered) * 1000 : null,
      routes: { ...this.routeItems },
      rejected: this.rejected,
      replans: s.replans,
      changepoints: s.changepoints,
      ...(Number.isFinite(bps) ? { uplinkMbps: bps / 1e6 } : {}),
    };
  }

  /** A request refused before it was queued (503/504 at admission; `shutdown`: not counted as rejected). */
  refused(route: string, status: number, shutdown = false): void {
    if (!shutdown) this.rejected++;
    this.count(route, String(status));
  }

  succeeded(w: Waiter, a: InferAnswer, target: string): void {
    this.answered++;
    if (a.deadlineMet) this.met++;
    this.routeItems[target] = (this.routeItems[target] ?? 0) + 1;
    this.targetMetrics(target).latency.observe(a.timings.totalMs / 1000);
    this.count(w.route, '200');
  }

  failed(w: Waiter, e: HttpError): void {
    this.rejected++;
    this.count(w.route, String(e.status));
  }

  /** A call billed `usd` on `target` (a batch or a probe). */
  billed(target: TargetId, usd: number): void {
    if (!(usd > 0)) return;
    this.metrics.costUsd.inc({ target }, usd);
    this.costUsdTotal += usd;
  }

  batchStarted(target: TargetId, size: number): void {
    this.targetMetrics(target).batchSize.observe(size);
  }

  batchSucceeded(target: TargetId, seconds: number): void {
    this.targetMetrics(target).okSeconds.observe(seconds);
  }

  batchFailed(target: TargetId, code: string, seconds: number): void {
    this.metrics.backendErrors.inc({ target, code });
    this.metrics.batchSeconds.observe({ target, ok: 'false' }, seconds);
  }

  retried(): void {
    this.metrics.retries.inc();
  }

  /** Publish an event of the agent's own (built only when someone listens). */
  publish(type: string, data: () => object): void {
    if (this.events.subscribers > 0) this.events.publish(type, { epochMs: Date.now(), ...data() });
  }

  /** The core's events (changepoints, replans, …) go out under their own `type`. */
  publishCore(evs: readonly CoreEvent[]): void {
    if (evs.length === 0 || this.events.subscribers === 0) return;
    for (const ev of evs) {
      // The runtime publishes its own `dispatch` (with bytes and timeout); one per batch, not two.
      if (ev.type === 'dispatch') continue;
      this.events.publish(ev.type, { epochMs: Date.now(), ...ev });
    }
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
    const key = `${route}\u0000${outcome}`;
    const c = this.requestCounts.get(key);
    if (c) c.n++;
    else this.requestCounts.set(key, { route, outcome, n: 1, flushed: 0 });
  }

  /** Give prom-client what was counted since the last scrape (its counters' collect hook). */
  private flushCounts(): void {
    for (const c of this.requestCounts.values()) {
      if (c.n > c.flushed) this.metrics.requests.inc({ route: c.route, outcome: c.outcome }, c.n - c.flushed);
      c.flushed = c.n;
    }
    const d = this.flushedDeadlines;
    if (this.met > d.met) this.metrics.deadlines.inc({ met: 'true' }, this.met - d.met);
    const missed = this.answered - this.met;
    if (missed > d.missed) this.metrics.deadlines.inc({ met: 'false' }, missed - d.missed);
    d.met = this.met;
    d.missed = missed;
  }
}
