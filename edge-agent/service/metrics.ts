/**
 * Prometheus metrics of the agent (prom-client), on a registry of its own so several agents
 * (tests, benchmarks) can live in one process. The runtime records events; gauges that mirror
 * the scheduler's state are read when scraped, through the `source` callbacks.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** State read at scrape time. */
export interface MetricsSource {
  queueDepth(): number;
  busy(): Record<string, number>;
  /** Flat numeric estimates, e.g. `{ 'edge.aMs': 2, 'uplinkMbps': 20 }`. */
  estimates(): Record<string, number>;
  changepoints(): number;
  replans(): number;
  /**
   * Add the counts kept outside prom-client since the last scrape to `requests` and `deadlines`
   * (called when either is collected). Counting a request is then a plain increment: prom-client
   * hashes and validates the labels on every `inc`, even through a labelled child.
   */
  flushCounts?(): void;
}

export class AgentMetrics {
  readonly registry = new Registry();
  /** Requests answered, by route (/v1/infer, /v1/infer/batch item) and outcome (ok, 504, …). */
  readonly requests: Counter<'route' | 'outcome'>;
  readonly batchSize = new Histogram({ name: 'agent_batch_size', help: 'Items per dispatched batch', labelNames: ['target'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [this.registry] });
  readonly batchSeconds = new Histogram({ name: 'agent_batch_duration_seconds', help: 'Wall time of a batch call on its target', labelNames: ['target', 'ok'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly latencySeconds = new Histogram({ name: 'agent_request_duration_seconds', help: 'Arrival to answer, per item, by target', labelNames: ['target'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly deadlines: Counter<'met'>;
  readonly costUsd = new Counter({ name: 'agent_cost_usd_total', help: 'FC cost of the batches sent, USD (includes the estimated initializer cost of cold starts, see agent_fc_initializer_estimated_*)', labelNames: ['target'], registers: [this.registry] });
  /**
   * FC bills a new instance's initializer apart from the invocation and reports its time in no
   * reply: these count the agent's *estimate* of it (the function's own measurement, else wall −
   * invocation), by target and by what the estimate rests on.
   */
  readonly initializerEstimatedSeconds = new Counter({ name: 'agent_fc_initializer_estimated_billed_seconds_total', help: 'ESTIMATED billed initializer time of FC cold starts (FC bills it apart and does not report it), seconds', labelNames: ['target', 'source'], registers: [this.registry] });
  readonly initializerEstimatedUsd = new Counter({ name: 'agent_fc_initializer_estimated_cost_usd_total', help: 'ESTIMATED cost of FC initializers on cold starts, USD (already included in agent_cost_usd_total)', labelNames: ['target', 'source'], registers: [this.registry] });
  readonly backendErrors = new Counter({ name: 'agent_backend_errors_total', help: 'Failed batch calls, by target and code', labelNames: ['target', 'code'], registers: [this.registry] });
  readonly retries = new Counter({ name: 'agent_retries_total', help: 'Items re-queued after a backend failure', registers: [this.registry] });

  constructor(source: MetricsSource, options: { defaultMetrics?: boolean } = {}) {
    const reg = [this.registry];
    const flush = () => source.flushCounts?.();
    this.requests = new Counter({ name: 'agent_requests_total', help: 'Requests answered, by route and outcome', labelNames: ['route', 'outcome'], registers: reg, collect: flush });
    this.deadlines = new Counter({ name: 'agent_deadlines_total', help: 'Answered items by whether their deadline was met', labelNames: ['met'], registers: reg, collect: flush });
    new Gauge({ name: 'agent_queue_depth', help: 'Requests waiting in the virtual queue', registers: reg, collect() { this.set(source.queueDepth()); } });
    new Gauge({
      name: 'agent_target_busy',
      help: 'Batches running now, by target',
      labelNames: ['target'],
      registers: reg,
      collect() {
        this.reset();
        for (const [t, n] of Object.entries(source.busy())) this.set({ target: t }, n);
      },
    });
    new Gauge({
      name: 'agent_estimate',
      help: "The scheduler's current estimates (latency fit per target, link, arrival rate)",
      labelNames: ['name'],
      registers: reg,
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(source.estimates())) if (Number.isFinite(v)) this.set({ name: k }, v);
      },
    });
    // Mirrors of the core's own monotonic counts, so exposed as counters fed by the difference.
    let seenCp = 0;
    new Counter({ name: 'agent_changepoints_total', help: 'Changepoints detected by BOCPD', registers: reg, collect() { const n = source.changepoints(); if (n > seenCp) this.inc(n - seenCp); seenCp = Math.max(seenCp, n); } });
    let seenRp = 0;
    new Counter({ name: 'agent_replans_total', help: 'Plans recomputed', registers: reg, collect() { const n = source.replans(); if (n > seenRp) this.inc(n - seenRp); seenRp = Math.max(seenRp, n); } });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'agent_' });
  }
}

/** Flatten a JSON value's finite numbers into dotted keys (`targets.edge.aMs`). */
export function flattenNumbers(x: unknown, prefix = '', out: Record<string, number> = {}, depth = 0): Record<string, number> {
  if (depth > 5) return out;
  if (typeof x === 'number' && Number.isFinite(x)) out[prefix || 'value'] = x;
  else if (x && typeof x === 'object' && !Array.isArray(x)) {
    for (const [k, v] of Object.entries(x)) flattenNumbers(v, prefix ? `${prefix}.${k}` : k, out, depth + 1);
  }
  return out;
}
