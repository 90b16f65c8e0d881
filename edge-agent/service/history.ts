/**
 * The agent's recent past, for the dashboard: the last 15 minutes of 1-second statistics and the
 * last 500 events, kept in bounded memory and served when a page opens (`GET /v1/history`), so
 * a page opened after the traffic — or reloaded — shows the same charts.
 *
 * It is one more subscriber of the runtime's EventHub: the runtime publishes `stats` once a
 * second while anyone listens (from now on, always), plus dispatch, complete, changepoint and
 * replan events. It reads nothing else of the runtime but `pending`, `stats()` and the core's
 * estimates, and changes nothing.
 *
 * Arrivals are counted without a hook in the runtime, from its invariant that every admitted
 * request is settled exactly once: admitted = answered + rejected + pending. The count only ever
 * grows, so a point where a settlement is seen before its counter (the two are read a microtask
 * apart) can delay an arrival by one point but never invent one.
 */
import type { Estimates } from '../core/types.ts';
import type { AgentEvent, EventHub, Subscription } from './events.ts';
import type { RuntimeStats } from './runtime.ts';

/** What the history reads of the runtime (AgentRuntime satisfies it). */
export interface HistorySource {
  readonly events: EventHub;
  /** Requests admitted and not yet answered. */
  readonly pending: number;
  stats(): RuntimeStats;
  planSnapshot(): { readonly estimates: unknown };
}

export interface HistoryOptions {
  /**
   * How far back the 1-second points go, ms.
   * @default 900000 (15 min)
   */
  readonly windowMs?: number;
  /**
   * Most events kept (every type but `stats`); the oldest go first.
   * @default 500
   */
  readonly maxEvents?: number;
}

/** Batches one target completed within one point's second. */
export interface TargetBatches {
  readonly batches: number;
  readonly items: number;
  readonly maxBatchSize: number;
}

/** One second of the agent, as the dashboard draws it: the runtime's counters of that second, plus what the history derives. */
export interface HistoryPoint extends Pick<RuntimeStats, 'epochMs' | 'queueDepth' | 'inFlight' | 'answered' | 'deadlineMet' | 'deadlineAttainment' | 'costUsd' | 'costPer1000Usd' | 'rejected' | 'replans' | 'changepoints'> {
  /** Position in the history's one sequence (points and events share it); `?after=` pages on it. */
  readonly seq: number;
  /** Requests admitted since the previous point. */
  readonly arrivals: number;
  /** Measured arrival rate: admissions over the last 5 points, req/s. */
  readonly rateRps: number;
  /** The core's arrival-rate estimate (BOCPD's current segment), req/s. */
  readonly rateEstimateRps: number | null;
  /** The estimate as shown: decayed by the silence since the last arrival ({@link decayedRateRps}). */
  readonly rateShownRps: number | null;
  /** Time since the latest arrival, ms (null: none yet). */
  readonly sinceArrivalMs: number | null;
  /** The core's uplink estimate (`estimates.link.uplinkMbps`); huge when no size-dependence was seen. */
  readonly uplinkMbps: number | null;
  /** Items answered since the previous point, by target (`edge` or a tier key). */
  readonly answeredBy: Readonly<Record<string, number>>;
  /** Batches completed (successfully) since the previous point, by target. */
  readonly batches: Readonly<Record<string, TargetBatches>>;
}

/** One event as published by the runtime, with its place in the sequence. */
export interface HistoryEvent {
  readonly seq: number;
  readonly type: string;
  readonly epochMs: number;
  readonly data: unknown;
}

/** `GET /v1/history`: everything after `seq` = after (all of it without). */
export interface HistorySnapshot {
  readonly windowMs: number;
  /** Period of the points (the runtime's `stats`), ms. */
  readonly stepMs: number;
  /** Latest sequence number: pass it as `?after=` to get only what is newer. */
  readonly seq: number;
  readonly points: HistoryPoint[];
  readonly events: HistoryEvent[];
  /** Changepoint events of the whole window (they would soon scroll out of `events`). */
  readonly changepoints: HistoryEvent[];
}

/**
 * A silence this many times the expected gap between arrivals is a 1-in-20 event for a Poisson
 * stream (e^-3 ≈ 0.05).
 */
export const SILENCE_EVIDENCE = 3;

/**
 * The rate estimate to show after `sinceArrivalMs` without an arrival: the core's estimate,
 * capped at the largest rate for which such a silence is still a 1-in-20 event,
 * `SILENCE_EVIDENCE / seconds` (P(no arrival in t | λ) = e^(−λt) ≥ e^−3 ⇔ λ ≤ 3/t).
 *
 * Why here and not in the core: BOCPD re-segments only when the counts say so, and a run of
 * empty ticks after a long steady segment takes a while to outweigh it; meanwhile the core
 * rightly keeps planning with its estimate. A person reading the page wants to see that the
 * traffic stopped, so the display decays while the planner's number stays what it is (the
 * point carries both). At steady traffic the cap never binds: a gap of 3/λ is rare.
 * @example decayedRateRps(2.5, 20_000) // 0.15 req/s after 20 s of silence
 */
export function decayedRateRps(estimateRps: number, sinceArrivalMs: number | null): number {
  if (sinceArrivalMs === null || sinceArrivalMs <= 0) return estimateRps;
  return Math.min(estimateRps, SILENCE_EVIDENCE / (sinceArrivalMs / 1000));
}

/** Points the measured arrival rate is averaged over (≈ 5 s). */
const RATE_WINDOW_POINTS = 5;

/** Period of the runtime's `stats` event (STATS_EVERY_MS), ms. */
const STEP_MS = 1000;
/** Changepoints kept at most, whatever the window. */
const MAX_CHANGEPOINTS = 200;

function finiteOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x <= 0) throw new RangeError(`Expected \`${name}\` to be a whole number > 0, got \`${String(v)}\``);
  return x;
}

/**
 * The history. Build it when the agent starts; it listens until the runtime closes its hub.
 * @example
 * const history = new History(runtime);
 * app.get('/v1/history', (c) => c.json(history.snapshot()));
 */
export class History {
  readonly windowMs: number;
  readonly maxEvents: number;
  private readonly source: HistorySource;
  private readonly sub: Subscription;
  private readonly points: HistoryPoint[] = [];
  private readonly events: HistoryEvent[] = [];
  private readonly changepoints: HistoryEvent[] = [];
  private seq = 0;
  /** Most requests ever seen admitted (answered + rejected + pending). */
  private admitted: number;
  private lastArrivalEpochMs: number | null = null;
  private lastRoutes: Record<string, number>;
  /** Completed batches since the last point, by target. */
  private batches: Record<string, { batches: number; items: number; maxBatchSize: number }> = {};

  constructor(source: HistorySource, options: HistoryOptions = {}) {
    this.windowMs = positiveInt('windowMs', options.windowMs, 900_000);
    this.maxEvents = positiveInt('maxEvents', options.maxEvents, 500);
    this.source = source;
    const s = source.stats();
    this.admitted = s.answered + s.rejected + source.pending;
    this.lastRoutes = { ...s.routes };
    this.sub = source.events.subscribe();
    void this.listen();
  }

  /** Points and events newer than `afterSeq` (everything kept with 0). */
  snapshot(afterSeq = 0): HistorySnapshot {
    const newer = <T extends { seq: number }>(xs: readonly T[]) => (afterSeq > 0 ? xs.filter((x) => x.seq > afterSeq) : [...xs]);
    return { windowMs: this.windowMs, stepMs: STEP_MS, seq: this.seq, points: newer(this.points), events: newer(this.events), changepoints: newer(this.changepoints) };
  }

  /** Stop listening (the runtime's shutdown also ends it). */
  close(): void {
    this.sub.close();
  }

  private async listen(): Promise<void> {
    for (;;) {
      const ev = await this.sub.next();
      if (!ev) return;
      if (ev.type === 'stats') this.onStats(ev.data as RuntimeStats);
      else this.onEvent(ev);
    }
  }

  private onEvent(ev: AgentEvent): void {
    const data = (ev.data ?? {}) as Record<string, unknown>;
    const epochMs = finiteOrNull(data.epochMs) ?? Date.now();
    const entry: HistoryEvent = { seq: ++this.seq, type: ev.type, epochMs, data: ev.data };
    this.events.push(entry);
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    if (ev.type === 'changepoint') {
      this.changepoints.push(entry);
      if (this.changepoints.length > MAX_CHANGEPOINTS) this.changepoints.shift();
    }
    if (ev.type === 'complete' && data.ok !== false && typeof data.target === 'string') {
      const size = finiteOrNull(data.batchSize) ?? 0;
      const b = (this.batches[data.target] ??= { batches: 0, items: 0, maxBatchSize: 0 });
      b.batches++;
      b.items += size;
      b.maxBatchSize = Math.max(b.maxBatchSize, size);
    }
  }

  /** Arrivals per second over the last {@link RATE_WINDOW_POINTS} points (this one's `arrivals` included). */
  private measuredRateRps(arrivals: number, epochMs: number): number {
    let n = arrivals;
    let from = epochMs;
    for (let k = this.points.length - 1, seen = 1; k >= 0 && seen < RATE_WINDOW_POINTS; k--, seen++) {
      n += this.points[k].arrivals;
      from = this.points[k].epochMs;
    }
    const spanS = Math.max(1, (epochMs - from) / 1000 + 1);
    return n / spanS;
  }

  private onStats(s: RuntimeStats): void {
    const admitted = s.answered + s.rejected + this.source.pending;
    const arrivals = Math.max(0, admitted - this.admitted);
    this.admitted = Math.max(this.admitted, admitted);
    if (arrivals > 0) this.lastArrivalEpochMs = s.epochMs;

    const est = this.source.planSnapshot().estimates as Partial<Estimates> | undefined;
    const rateEstimateRps = finiteOrNull(est?.rate?.rateRps);
    const sinceArrivalMs = this.lastArrivalEpochMs === null ? null : Math.max(0, s.epochMs - this.lastArrivalEpochMs);

    const answeredBy: Record<string, number> = {};
    for (const [target, n] of Object.entries(s.routes)) {
      const d = n - (this.lastRoutes[target] ?? 0);
      if (d > 0) answeredBy[target] = d;
    }
    this.lastRoutes = { ...s.routes };

    this.points.push({
      seq: ++this.seq,
      epochMs: s.epochMs,
      arrivals,
      rateRps: this.measuredRateRps(arrivals, s.epochMs),
      rateEstimateRps,
      rateShownRps: rateEstimateRps === null ? null : decayedRateRps(rateEstimateRps, sinceArrivalMs),
      sinceArrivalMs,
      uplinkMbps: finiteOrNull(est?.link?.uplinkMbps),
      queueDepth: s.queueDepth,
      inFlight: s.inFlight,
      answered: s.answered,
      deadlineMet: s.deadlineMet,
      deadlineAttainment: s.deadlineAttainment,
      costUsd: s.costUsd,
      costPer1000Usd: s.costPer1000Usd,
      rejected: s.rejected,
      replans: s.replans,
      changepoints: s.changepoints,
      answeredBy,
      batches: this.batches,
    });
    this.batches = {};
    this.trim(s.epochMs);
  }

  /** Drop what fell out of the window; the count cap holds even if the wall clock jumps. */
  private trim(nowEpochMs: number): void {
    const from = nowEpochMs - this.windowMs;
    let drop = 0;
    while (drop < this.points.length && this.points[drop].epochMs < from) drop++;
    const cap = Math.ceil(this.windowMs / STEP_MS) + 1;
    drop = Math.max(drop, this.points.length - cap);
    if (drop > 0) this.points.splice(0, drop);
    while (this.changepoints.length > 0 && this.changepoints[0].epochMs < from) this.changepoints.shift();
  }
}
