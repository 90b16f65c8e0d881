/**
 * The scheduling core's facade: the one object the live agent and the simulator drive, through
 * the `SchedulingCore` API (`api.ts`). It owns nothing but the wiring: each concern is a module
 * over the shared parts (`parts.ts`) — the per-target book, the EDF queue, admission and
 * shedding, the probe policy, the re-plan policy, the event log — and none calls back into it.
 * Time only enters as `nowMs`.
 */
import { AdmissionControl, type Admission } from './admission.ts';
import type { SchedulingCore } from './api.ts';
import { ArrivalRateEstimator } from './arrival-rate.ts';
import { classFor, decide as decidePure, type DecideState } from './decide.ts';
import { DeadlineClasses, classBudgetMs } from './deadline-classes.ts';
import { EdfQueue } from './edf-queue.ts';
import { EventLog } from './event-log.ts';
import { LinkEstimator } from './link-estimator.ts';
import { resolveOptions, type SchedulerOptions } from './options.ts';
import type { CoreParts } from './parts.ts';
import { Planning } from './planning.ts';
import { ProbePolicy } from './probe-policy.ts';
import { ReplanPolicy } from './replan-policy.ts';
import { TargetBook } from './target-book.ts';
import { UplinkBacklog } from './uplink-backlog.ts';
import { CloudPunctuality } from './cloud-punctuality.ts';
import { checkNumber } from './validate.ts';
import { EDGE, type BatchObservation, type CoreEvent, type Decision, type Estimates, type Plan, type QueuedRequest, type ReplanReason, type TargetId } from './types.ts';

export type { SchedulerOptions } from './options.ts';

/**
 * @example
 * const s = new Scheduler({ tiers, profile, edgeWorkers: 1 }, 0);
 * s.admit({ id: 'a', arrivalMs: 0, deadlineMs: 500, bytes: 20000 }, 0);
 * const d = s.decide(0); // → dispatch orders, rejections, wakeAtMs
 * s.onComplete({ target: 'edge', batchSize: 1, ... }, 40);
 */
export class Scheduler implements SchedulingCore {
  private readonly p: CoreParts;
  private readonly planning: Planning;
  private readonly replans: ReplanPolicy;
  private readonly admission: AdmissionControl;
  private readonly probePolicy: ProbePolicy;
  private readonly uplink = new UplinkBacklog();
  private readonly cloudPunctuality = new CloudPunctuality();
  private probesEnabled = false;
  private lastNowMs: number;

  constructor(opts: SchedulerOptions, nowMs: number) {
    checkNumber('nowMs', nowMs, -Infinity);
    const o = resolveOptions(opts);
    const prof = o.profile;
    const book = new TargetBook(o);
    this.p = {
      o,
      book,
      queue: new EdfQueue(),
      rate: new ArrivalRateEstimator({ tickMs: o.tickMs }, nowMs),
      link: new LinkEstimator({ rttMs: prof.rttMs, bandwidthBps: prof.uplinkMbps * 1e6 }),
      classes: new DeadlineClasses(),
      log: new EventLog(),
      item: { bytes: prof.itemBytes },
    };
    this.lastNowMs = nowMs;
    this.planning = new Planning(this.p, nowMs);
    this.replans = new ReplanPolicy(this.p, this.planning, nowMs);
    this.admission = new AdmissionControl(this.p, this.planning);
    this.probePolicy = new ProbePolicy(this.p, this.planning, this.admission);
  }

  /** Admission: reject early if no target can meet the deadline, or if the queue is over capacity (overload → retryAfterMs). Counts one arrival. */
  admit(req: QueuedRequest, nowMs: number): Admission {
    this.advance(nowMs);
    this.p.rate.record(nowMs, 1);
    return this.admission.admit(req, nowMs, this.probesEnabled, () => this.replans.onNewClass(nowMs));
  }

  /**
   * Put an admitted request whose batch failed back in the queue, for another target to serve.
   * Not an arrival: the rate, the deadline classes and the item size see each request once.
   * @returns false when it is already queued.
   */
  requeue(req: QueuedRequest, nowMs: number): boolean {
    this.advance(nowMs);
    if (this.p.queue.has(req.id)) return false;
    this.p.queue.insert(req);
    return true;
  }

  /** The driver executes {@link ProbeOrder}s (prewarm, health and link probes) and reports them through onComplete. */
  enableProbes(on = true): void {
    this.probesEnabled = on;
  }

  /** The pure decide() input for `nowMs` (exposed for tests and the simulator's introspection). */
  decideState(nowMs: number, flush = false): DecideState {
    const plan = this.planning.current;
    const o = this.p.o;
    return {
      queue: this.p.queue.view,
      targets: this.p.book.decideTargets(nowMs),
      backInServiceAtMs: this.p.book.backInServiceAtMs(),
      link: this.p.link,
      plan: { edgeBatchSize: plan.edge.batchSize, edgeMaxBatchSize: plan.edge.maxBatchSize, classes: plan.cloud.classes, sendWhenFull: plan.cloud.sendWhenFull, rateRps: plan.rateRps },
      quantile: o.quantile,
      safetyMarginMs: o.safetyMarginMs,
      maxBatch: o.maxBatch,
      pricing: o.pricing,
      ...(flush ? { flush } : {}),
      ...(this.probesEnabled ? { prewarmed: true } : {}),
      uplinkAheadBytes: this.uplink.bytesAhead(nowMs, this.p.link),
      cloudOnTimeShare: this.cloudPunctuality.onTimeShare,
    };
  }

  /** What to send now; dispatched/rejected requests leave the queue; dispatched targets count busy until onComplete. */
  decide(nowMs: number, opts: { flush?: boolean } = {}): Decision {
    this.advance(nowMs);
    const { book, log, queue } = this.p;
    const d = decidePure(this.decideState(nowMs, opts.flush === true), nowMs);
    const taken: string[] = [];
    for (const r of d.reject) {
      taken.push(r.requestId);
      log.emit({ type: 'reject', requestId: r.requestId, code: r.code, atMs: nowMs });
    }
    for (const o of d.dispatch) {
      for (const id of o.requestIds) taken.push(id);
      if (o.target !== EDGE) {
        this.uplink.sent(o.target, nowMs, queue.bytesOf(o.requestIds), this.p.link);
        // Only calls the estimates counted on time: an at-risk one was sent knowing it may miss.
        if (!o.atRisk) this.cloudPunctuality.dispatched(o.target, nowMs, o.requestIds.length, queue.deadlineOf(o.requestIds[0]));
      }
      const cold = book.start(o.target, nowMs, o.requestIds.length);
      log.emit({ type: 'dispatch', target: o.target, batchSize: o.requestIds.length, atMs: nowMs, atRisk: o.atRisk === true, predictedMs: o.predictedMs ?? null, cold });
    }
    queue.remove(taken);
    this.admission.decided(nowMs, d.saturated === true);
    if (!this.probesEnabled) return d;
    for (const t of book.expiredProbes(nowMs)) {
      book.abandonProbe(t);
      this.failed(t, 'timeout', nowMs);
    }
    const probe = this.probePolicy.orders(nowMs);
    for (const o of probe) this.uplink.sent(o.target, nowMs, this.p.item.bytes, this.p.link);
    return probe.length ? { ...d, probe } : d;
  }

  /**
   * A finished batch (success or failure): feeds the estimators, frees the target.
   * - A `timeout` frees nothing yet: the target still runs the call, so its slot is held for the
   *   batch's predicted time (released by advance), and the call teaches no latency. It counts
   *   toward the breaker only when the call had at least twice its predicted time (late is not
   *   hung: batches leave as late as their deadline allows, and a loaded box or link makes such
   *   calls late on every tier alike). Probes always have ample time.
   * - `throttled` (429) caps the tier at the calls of ours it was running (saturated, not broken).
   * - Other failures count toward the target's breaker; a success closes it.
   */
  onComplete(obs: BatchObservation, nowMs: number): void {
    this.advance(nowMs);
    const { book, link, log } = this.p;
    const target = obs.target;
    if (obs.probe) {
      if (!book.probeInFlight(target)) return; // already given up on (its slot was released then)
      book.dropProbe(target);
    }
    book.release(obs, nowMs);
    if (obs.error === 'cancelled' || obs.error === 'closed') return;
    if (target !== EDGE && !obs.probe) this.cloudPunctuality.finished(target, obs.batchSize, nowMs - obs.wallMs, nowMs, obs.ok);
    const late = obs.error === 'timeout' && !obs.probe && !this.hadAmpleTime(obs);
    if (obs.ok) {
      if (book.success(target)) log.emit({ type: 'healthy', target, atMs: nowMs });
    } else if (!late) this.failed(target, obs.error ?? 'unavailable', nowMs);
    this.admission.served(nowMs, obs.ok && obs.batchSize > 0 ? obs.batchSize : 0);
    const model = book.model(target);
    if (obs.ok && model && obs.batchSize > 0) model.observe(obs.batchSize, Math.max(0, obs.wallMs - obs.transferMs), obs.coldStart);
    let linkChanged = false;
    if (target !== EDGE && obs.ok && obs.bytes > 0 && obs.transferMs > 0) {
      this.probePolicy.linkObserved(nowMs);
      const ahead = this.uplink.aheadOf(target, obs.bytes, nowMs - obs.wallMs);
      linkChanged = link.observe(ahead + obs.bytes, obs.transferMs, obs.ok);
      if (linkChanged) log.emit({ type: 'changepoint', stream: 'link', atMs: nowMs, changeAtMs: nowMs, pChange: link.snapshot().pChange });
    }
    this.replans.afterCompletion(nowMs, linkChanged);
  }

  /** Advance estimators with time (arrival-count ticks, changepoint checks, cool-downs, replans). Cheap; decide() calls it too. */
  advance(nowMs: number): void {
    if (!(nowMs >= this.lastNowMs)) nowMs = this.lastNowMs; // time never runs backwards inside the core
    this.lastNowMs = nowMs;
    let reason: ReplanReason | null = null;
    for (const c of this.p.rate.advance(nowMs)) {
      this.p.log.emit({ type: 'changepoint', stream: 'arrivals', atMs: c.detectedAtMs, changeAtMs: c.changeAtMs, pChange: c.pChange });
      reason = 'changepoint:arrivals';
    }
    if (this.p.book.advance(nowMs).length > 0) reason ??= 'target-health';
    this.replans.onTick(nowMs, reason);
  }

  /** Mark a target unhealthy until a time (fault handling); decide avoids it meanwhile. */
  markUnhealthy(target: TargetId, untilMs: number): void {
    const book = this.p.book;
    if (!book.has(target)) return;
    book.markUnhealthy(target, untilMs);
    this.p.log.emit({ type: 'unhealthy', target, untilMs, atMs: this.lastNowMs });
    this.replans.onUnhealthy(target, untilMs, this.lastNowMs);
  }

  /** A failure of `target`: a breaker that opens takes it out for its cool-down. */
  private failed(target: TargetId, code: string, nowMs: number): void {
    const effect = this.p.book.failure(target, code, nowMs);
    if (effect.opened) this.markUnhealthy(target, effect.untilMs);
  }

  /** The call's budget (its wall time at the timeout) was at least twice what it should take. */
  private hadAmpleTime(obs: BatchObservation): boolean {
    const m = this.p.book.model(obs.target);
    if (!m) return true;
    const n = Math.max(1, obs.batchSize);
    const expected = m.predict(n, 'q99') + (obs.target === EDGE ? 0 : this.p.link.transferMs(obs.bytes, 'q99')) + (obs.coldStart ? m.coldStartMs : 0);
    return obs.wallMs >= 2 * expected;
  }

  // ── views ──────────────────────────────────────────────────────────────────

  /** The current plan (plain JSON). */
  plan(): Plan {
    return this.planning.current;
  }

  /** The estimators' state (plain JSON). */
  estimates(): Estimates {
    const now = this.lastNowMs;
    const { book, rate, link, classes } = this.p;
    const plan = this.planning.current;
    return {
      atMs: now,
      rate: rate.snapshot(),
      link: link.snapshot(),
      latency: book.latencySnapshots(),
      tiers: book.tierStates(now),
      deadlineClasses: classes.snapshot(),
      unhealthy: book.unhealthyUntil(),
      lastReplan: { reason: plan.reason, atMs: plan.atMs, version: plan.version },
    };
  }

  /** Requests waiting. */
  queueDepth(): number {
    return this.p.queue.length;
  }

  /** Batches in flight per target. */
  busy(): Record<TargetId, number> {
    return this.p.book.busyByTarget();
  }

  /** Events since the last drain. */
  drainEvents(): CoreEvent[] {
    return this.p.log.drain();
  }

  /** Plan updates and changepoints so far. */
  stats(): { replans: number; changepoints: number } {
    return this.p.log.totals();
  }

  /** The class budget a request's deadline budget falls in (for reports). */
  static classOf(budgetMs: number): number {
    return classBudgetMs(budgetMs);
  }

  /** The plan's cloud route for a deadline budget (for reports and tests). */
  routeFor(budgetMs: number): { tier: TargetId | null; batchSize: number } | null {
    const c = classFor({ edgeBatchSize: 0, classes: this.planning.current.cloud.classes, sendWhenFull: true }, budgetMs);
    return c ? { tier: c.tier, batchSize: c.batchSize } : null;
  }
}
