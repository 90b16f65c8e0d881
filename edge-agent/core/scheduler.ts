/**
 * The stateful facade the agent and the simulator drive: admission, the virtual queue (EDF),
 * estimators, changepoint-triggered planning and dispatch decisions. Time only enters as `nowMs`.
 */
import { FC3_PRICING, type PricingTable } from '../../shared/pricing.ts';
import type { Profile } from '../../shared/profile.ts';
import type { Tier } from '../../shared/tiers.ts';
import { ArrivalRateEstimator } from './arrival-rate.ts';
import { classFor, decide as decidePure, type DecideState, type DecideTarget } from './decide.ts';
import { DeadlineClasses, classBudgetMs } from './deadline-classes.ts';
import { LatencyModel } from './latency-model.ts';
import { LinkEstimator } from './link-estimator.ts';
import { classStillFeasible, makePlan, type PlannerInput } from './planner.ts';
import { CoreOptionError, checkInt, checkNumber, checkOneOf } from './validate.ts';
import { WarmPool } from './warm-pool.ts';
import {
  EDGE,
  type ProbeOrder,
  type BatchObservation,
  type CoreEvent,
  type Decision,
  type Estimates,
  type Plan,
  type QueuedRequest,
  type ReplanReason,
  type TargetId,
  type TierState,
} from './types.ts';

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** FC tiers (from s.yaml). */
  readonly tiers: readonly Tier[];
  /** Latency priors for `edge` and every tier key; also rtt, uplink and item size. */
  readonly profile: Profile;
  /** Local workers (≥ 0; 0 = no edge target). */
  readonly edgeWorkers: number;
  /** Largest batch. @default 32 */
  readonly maxBatch?: number;
  /** Quantile deadlines are checked at. @default 'q95' */
  readonly quantile?: 'q95' | 'q99';
  /** Slack kept on top of the predicted quantile, ms. @default 10 */
  readonly safetyMarginMs?: number;
  /** Arrival-count tick, ms. @default 1000 */
  readonly tickMs?: number;
  /** When to re-plan: on changepoints (default) or every `periodicMs` (a baseline). */
  readonly replan?: 'changepoint' | { readonly periodicMs: number };
  /** Largest planned edge utilisation, (0, 1]. @default 0.8 */
  readonly edgeUtilisationCap?: number;
  /** Queue length above which admission sheds load ('overloaded'). @default 10000 */
  readonly maxQueue?: number;
  /** @default FC3_PRICING */
  readonly pricing?: PricingTable;
  /** Concurrent batches per tier (FC instances; instanceConcurrency 1). @default 100 */
  readonly tierMaxInstances?: number;
  /** An FC instance idle longer than this is cold. @default 300000 */
  readonly keepAliveMs?: number;
  /** In 'changepoint' mode, re-check the plan after this long without a replan; it counts as a replan only if the plan changes. @default 300000 */
  readonly safetyPeriodMs?: number;
  /** Ticks of arrivals before the first rate-based plan. @default 10 */
  readonly warmupTicks?: number;
  /** Shortest gap between two 'infeasible' replans (latency noise must not cause a replan storm). @default 5000 */
  readonly minInfeasibleGapMs?: number;
  /** Hysteresis: the plan must stay infeasible this long (every check in between) before an 'infeasible' replan. @default 3000 */
  readonly infeasiblePersistMs?: number;
  /** First cool-down of a target whose breaker opens (doubles on each failed probe). @default 2000 */
  readonly breakerCooldownMs?: number;
  /** Longest breaker cool-down. @default 8000 */
  readonly breakerMaxCooldownMs?: number;
  /** Consecutive failures (timeouts, 5xx, bad answers) that open a target's breaker; `unavailable` opens it at once. @default 2 */
  readonly breakerFailures?: number;
  /** Shed at admission (503 overloaded) when the queue ahead would not drain before the deadline. @default true */
  readonly shedOnDrain?: boolean;
  /** Gap between two link probes while the link estimate keeps the cloud unused. @default 2000 */
  readonly linkProbeMs?: number;
}

type Admit = { ok: true } | { ok: false; code: 'deadline_impossible' | 'overloaded'; reason: string; retryAfterMs?: number };

const MAX_EVENTS = 10_000;

/**
 * The scheduling core's facade.
 * @example
 * const s = new Scheduler({ tiers, profile, edgeWorkers: 1 }, 0);
 * s.admit({ id: 'a', arrivalMs: 0, deadlineMs: 500, bytes: 20000 }, 0);
 * const d = s.decide(0); // → dispatch orders, rejections, wakeAtMs
 * s.onComplete({ target: 'edge', batchSize: 1, ... }, 40);
 */
export class Scheduler {
  private readonly o: Required<Omit<SchedulerOptions, 'replan'>> & { readonly periodicMs: number | null };
  private readonly latency = new Map<TargetId, LatencyModel>();
  private readonly pools = new Map<TargetId, WarmPool>();
  private readonly link: LinkEstimator;
  private readonly rate: ArrivalRateEstimator;
  private readonly classes = new DeadlineClasses();
  private readonly unhealthy = new Map<TargetId, number>();
  private readonly queue: QueuedRequest[] = [];
  private readonly queued = new Set<string>();
  private edgeBusy = 0;
  private itemBytes: number;
  private current: Plan;
  private replanCount = 0;
  private changepointCount = 0;
  private lastReplanMs: number;
  private lastSafetyCheckMs: number;
  private lastInfeasibleMs = -Infinity;
  /** Since when every check found the plan infeasible (null: the last check found it feasible). */
  private infeasibleSinceMs: number | null = null;
  private warmupCheckedTicks = 0;
  private lastColdLinkProbeMs = -Infinity;
  private warmedUp = false;
  private events: CoreEvent[] = [];
  private lastNowMs: number;
  /** Slots held after a timed-out call (the target is still working on it): target → release times. */
  private readonly held = new Map<TargetId, number[]>();
  /** Breakers: consecutive failures, current cool-down, half-open after the cool-down. */
  private readonly breakers = new Map<TargetId, { fails: number; cooldownMs: number; halfOpen: boolean }>();
  /** Instance caps learned from 429s: the tier ran no more than `cap` of ours at once. */
  private readonly caps = new Map<TargetId, { cap: number; untilMs: number }>();
  /** Probe calls in flight: target → give-up times (several while a tier scales out). */
  private readonly probing = new Map<TargetId, number[]>();
  private readonly lastProbeMs = new Map<TargetId, number>();
  private probesEnabled = false;
  private lastLinkObsMs = -Infinity;
  /** Items finished (ok) recently, for the drain rate while saturated: [atMs, items] pairs. */
  private readonly served: number[] = [];
  private saturatedSinceMs: number | null = null;
  private lastSaturatedMs = -Infinity;

  constructor(opts: SchedulerOptions, nowMs: number) {
    checkNumber('nowMs', nowMs, -Infinity);
    if (!opts || !Array.isArray(opts.tiers)) throw new CoreOptionError('Expected `tiers` to be an array of tiers');
    if (!opts.profile || typeof opts.profile.targets !== 'object') throw new CoreOptionError('Expected `profile` to be a Profile with `targets`');
    const replan = opts.replan ?? 'changepoint';
    let periodicMs: number | null = null;
    if (typeof replan === 'object' && replan !== null) periodicMs = checkNumber('replan.periodicMs', replan.periodicMs, 0, Infinity, true);
    else checkOneOf('replan', replan, ['changepoint']);
    this.o = {
      tiers: opts.tiers,
      profile: opts.profile,
      edgeWorkers: checkInt('edgeWorkers', opts.edgeWorkers, 0),
      maxBatch: checkInt('maxBatch', opts.maxBatch ?? 32, 1, 4096),
      quantile: checkOneOf('quantile', opts.quantile ?? 'q95', ['q95', 'q99']),
      safetyMarginMs: checkNumber('safetyMarginMs', opts.safetyMarginMs ?? 10, 0),
      tickMs: checkNumber('tickMs', opts.tickMs ?? 1000, 0, Infinity, true),
      edgeUtilisationCap: checkNumber('edgeUtilisationCap', opts.edgeUtilisationCap ?? 0.8, 0, 1, true),
      maxQueue: checkInt('maxQueue', opts.maxQueue ?? 10_000, 1),
      pricing: opts.pricing ?? FC3_PRICING,
      tierMaxInstances: checkInt('tierMaxInstances', opts.tierMaxInstances ?? 100, 1),
      keepAliveMs: checkNumber('keepAliveMs', opts.keepAliveMs ?? 300_000, 0),
      safetyPeriodMs: checkNumber('safetyPeriodMs', opts.safetyPeriodMs ?? 300_000, 0, Infinity, true),
      warmupTicks: checkInt('warmupTicks', opts.warmupTicks ?? 10, 1),
      minInfeasibleGapMs: checkNumber('minInfeasibleGapMs', opts.minInfeasibleGapMs ?? 5000, 0),
      infeasiblePersistMs: checkNumber('infeasiblePersistMs', opts.infeasiblePersistMs ?? 3000, 0),
      breakerCooldownMs: checkNumber('breakerCooldownMs', opts.breakerCooldownMs ?? 2000, 0),
      breakerMaxCooldownMs: checkNumber('breakerMaxCooldownMs', opts.breakerMaxCooldownMs ?? 8000, 0),
      breakerFailures: checkInt('breakerFailures', opts.breakerFailures ?? 2, 1),
      shedOnDrain: opts.shedOnDrain ?? true,
      linkProbeMs: checkNumber('linkProbeMs', opts.linkProbeMs ?? 2000, 0, Infinity, true),
      periodicMs,
    };
    const p = opts.profile;
    if (this.o.edgeWorkers > 0) {
      const e = p.targets[EDGE];
      if (!e) throw new CoreOptionError(`Expected \`profile.targets\` to have an \`${EDGE}\` entry when \`edgeWorkers\` is ${this.o.edgeWorkers}`);
      this.latency.set(EDGE, new LatencyModel(e));
    }
    for (const t of opts.tiers) {
      const tp = p.targets[t.key];
      if (!tp) throw new CoreOptionError(`Expected \`profile.targets\` to have an entry for tier \`${t.key}\` (profile has ${Object.keys(p.targets).join(', ')})`);
      this.latency.set(t.key, new LatencyModel(tp));
      this.pools.set(t.key, new WarmPool(this.o.keepAliveMs));
    }
    this.link = new LinkEstimator({ rttMs: p.rttMs, bandwidthBps: p.uplinkMbps * 1e6 });
    this.rate = new ArrivalRateEstimator({ tickMs: this.o.tickMs }, nowMs);
    this.itemBytes = p.itemBytes;
    this.lastNowMs = nowMs;
    this.lastReplanMs = nowMs;
    this.lastSafetyCheckMs = nowMs;
    this.current = this.computePlan('initial', nowMs, 0);
  }

  // ── admission ──────────────────────────────────────────────────────────────

  /** Admission: reject early if no target can meet the deadline, or if the queue is over capacity (overload → retryAfterMs). */
  admit(req: QueuedRequest, nowMs: number): Admit {
    this.advance(nowMs);
    this.rate.record(nowMs, 1);
    if (!Number.isFinite(req.deadlineMs)) return { ok: false, code: 'deadline_impossible', reason: `deadline ${String(req.deadlineMs)} is not a finite time` };
    if (this.queued.has(req.id)) return { ok: true }; // idempotent re-admission
    if (this.queue.length >= this.o.maxQueue) {
      const drainRps = Math.max(1, this.rate.snapshot().rateRps, this.current.edge.capacityRps);
      const retryAfterMs = Math.min(30_000, Math.max(100, Math.ceil(((this.queue.length - this.o.maxQueue / 2) * 1000) / drainRps)));
      this.emit({ type: 'reject', requestId: req.id, code: 'overloaded', atMs: nowMs });
      return { ok: false, code: 'overloaded', reason: `queue has ${this.queue.length} waiting (max ${this.o.maxQueue})`, retryAfterMs };
    }
    const slack = req.deadlineMs - nowMs;
    const fastest = this.fastestWarmMeanMs(req.bytes, nowMs);
    if (!(fastest <= slack)) {
      this.emit({ type: 'reject', requestId: req.id, code: 'deadline_impossible', atMs: nowMs });
      const warm = this.probesEnabled ? this.fastestWarmMeanMs(req.bytes, null) : fastest;
      if (warm <= slack) {
        // Only cold starts stand in the way: the class still enters the plan, whose tier is then
        // prewarmed (a probe), so the next such request finds it warm.
        if (this.classes.observe(req.deadlineMs - req.arrivalMs, nowMs) && this.o.periodicMs === null) this.replan('new-deadline-class', nowMs);
        return { ok: false, code: 'deadline_impossible', reason: `deadline in ${slack.toFixed(0)} ms; the tiers that could meet it are cold (a cold start takes longer), one is being warmed up`, retryAfterMs: 2000 };
      }
      return {
        ok: false,
        code: 'deadline_impossible',
        reason: Number.isFinite(fastest)
          ? `deadline in ${slack.toFixed(0)} ms, the fastest target needs ${fastest.toFixed(0)} ms`
          : 'no healthy target is available',
      };
    }
    if (this.o.shedOnDrain && this.isSaturated(nowMs)) {
      // Early shedding: at capacity, the requests due before this one drain at the measured rate;
      // if that wait plus the fastest service misses the deadline, say so now (503), not at it.
      const ahead = this.position(req.deadlineMs);
      const waitMs = (ahead * 1000) / Math.max(this.drainRps(nowMs), this.edgeDrainRps(ahead));
      if (waitMs + fastest > slack) {
        const retryAfterMs = Math.min(30_000, Math.max(1000, Math.ceil(waitMs - slack + fastest)));
        this.emit({ type: 'reject', requestId: req.id, code: 'overloaded', atMs: nowMs });
        return { ok: false, code: 'overloaded', reason: `at capacity: ${ahead} requests due earlier would take ~${waitMs.toFixed(0)} ms to drain, the deadline is in ${slack.toFixed(0)} ms`, retryAfterMs };
      }
    }
    const budget = req.deadlineMs - req.arrivalMs;
    const opened = this.classes.observe(budget, nowMs);
    this.itemBytes += (Math.max(0, req.bytes) - this.itemBytes) * 0.01;
    this.insert(req);
    if (opened && this.o.periodicMs === null) this.replan('new-deadline-class', nowMs);
    return { ok: true };
  }

  /** Queued requests with a deadline ≤ `deadlineMs` (EDF position). */
  private position(deadlineMs: number): number {
    const q = this.queue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid].deadlineMs <= deadlineMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Every target was busy with requests waiting, within the last tick. */
  private isSaturated(nowMs: number): boolean {
    return nowMs - this.lastSaturatedMs <= this.o.tickMs && this.queue.length > 0;
  }

  /**
   * Items per second the targets finish while saturated: measured over the saturated stretch
   * (≤ 5 s); before a second of it exists, not below the capacity of every target: the edge's
   * plus, per healthy tier, instances × batch ÷ latency at the batch its classes plan.
   */
  private drainRps(nowMs: number): number {
    const since = Math.max(this.saturatedSinceMs ?? nowMs, nowMs - 5000);
    let items = 0;
    for (let k = this.served.length - 2; k >= 0 && this.served[k] >= since; k -= 2) items += this.served[k + 1];
    const spanMs = nowMs - since;
    const measured = spanMs > 0 ? (items * 1000) / spanMs : 0;
    return Math.max(1, spanMs >= 1000 ? measured : Math.max(measured, this.capacityRps(nowMs)));
  }

  /**
   * Items per second the healthy edge alone drains `ahead` waiting requests at: it batches what
   * waits, up to the plan's backlog maximum. A floor under the measured drain rate, which was
   * measured at smaller backlogs (smaller batches) than a burst's.
   */
  private edgeDrainRps(ahead: number): number {
    if (!this.healthy(EDGE) || this.o.edgeWorkers <= 0) return 0;
    const b = Math.max(1, Math.min(ahead, this.current.edge.maxBatchSize));
    return (this.o.edgeWorkers * b * 1000) / Math.max(1e-6, this.latency.get(EDGE)!.predict(b, 'mean'));
  }

  /** Items per second all healthy targets can finish: edge capacity + Σ tiers warm instances · b / (transfer + l(b)). */
  private capacityRps(nowMs: number): number {
    let rps = this.healthy(EDGE) ? this.current.edge.capacityRps : 0;
    let b = 1;
    for (const c of this.current.cloud.classes) b = Math.max(b, c.batchSize);
    for (const t of this.o.tiers) {
      if (!this.healthy(t.key)) continue;
      const cap = this.caps.get(t.key);
      const pool = this.pools.get(t.key)!;
      const instances = Math.min(this.o.tierMaxInstances, cap ? cap.cap : Infinity, pool.busy + pool.warmIdle(nowMs));
      rps += (instances * b * 1000) / Math.max(1e-6, this.latency.get(t.key)!.predict(b, 'mean') + this.link.transferMs(b * this.itemBytes, 'mean'));
    }
    return rps;
  }

  private insert(req: QueuedRequest): void {
    const q = this.queue;
    // Binary search for the first deadline > req's: stable EDF (FIFO among equal deadlines).
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid].deadlineMs <= req.deadlineMs) lo = mid + 1;
      else hi = mid;
    }
    if (lo === q.length) q.push(req);
    else q.splice(lo, 0, req);
    this.queued.add(req.id);
  }

  private healthy(target: TargetId): boolean {
    return !this.unhealthy.has(target);
  }

  /**
   * Mean time of the fastest healthy target for one request. With `nowMs` and probes enabled, a
   * tier with no warm or busy instance pays its cold start; with null, every tier counts warm.
   */
  private fastestWarmMeanMs(bytes: number, nowMs: number | null): number {
    let best = Infinity;
    const edge = this.latency.get(EDGE);
    if (edge && this.o.edgeWorkers > 0 && this.healthy(EDGE)) best = edge.predict(1, 'mean');
    const transfer = this.link.transferMs(bytes, 'mean');
    for (const t of this.o.tiers) {
      if (!this.healthy(t.key)) continue;
      const m = this.latency.get(t.key)!;
      const pool = this.pools.get(t.key)!;
      const cold = nowMs !== null && this.probesEnabled && pool.busy === 0 && pool.warmIdle(nowMs) === 0;
      best = Math.min(best, transfer + m.predict(1, 'mean') + (cold ? m.coldStartMs : 0));
    }
    return best;
  }

  // ── decisions ──────────────────────────────────────────────────────────────

  /** The pure decide() input for `nowMs` (exposed for tests and the simulator's introspection). */
  decideState(nowMs: number, flush = false): DecideState {
    const targets: DecideTarget[] = [];
    if (this.o.edgeWorkers > 0 && this.healthy(EDGE)) {
      const limit = this.breakers.get(EDGE)?.halfOpen ? 1 : this.o.edgeWorkers;
      targets.push({ id: EDGE, isEdge: true, freeSlots: Math.max(0, limit - this.edgeBusy), warmIdle: Infinity, busy: this.edgeBusy, latency: this.latency.get(EDGE)! });
    }
    for (const t of this.o.tiers) {
      if (!this.healthy(t.key)) continue;
      const pool = this.pools.get(t.key)!;
      let limit = this.o.tierMaxInstances;
      const cap = this.caps.get(t.key);
      if (cap) limit = Math.min(limit, cap.cap);
      // Half-open: one call at a time until one succeeds (a probe usually is that call).
      if (this.breakers.get(t.key)?.halfOpen) limit = Math.min(limit, 1);
      targets.push({ id: t.key, isEdge: false, freeSlots: Math.max(0, limit - pool.busy), warmIdle: pool.warmIdle(nowMs), busy: pool.busy, latency: this.latency.get(t.key)!, tier: t });
    }
    return {
      queue: this.queue,
      targets,
      link: this.link,
      plan: { edgeBatchSize: this.current.edge.batchSize, edgeMaxBatchSize: this.current.edge.maxBatchSize, classes: this.current.cloud.classes, sendWhenFull: this.current.cloud.sendWhenFull },
      quantile: this.o.quantile,
      safetyMarginMs: this.o.safetyMarginMs,
      maxBatch: this.o.maxBatch,
      pricing: this.o.pricing,
      ...(flush ? { flush } : {}),
      ...(this.probesEnabled ? { prewarmed: true } : {}),
    };
  }

  /** The driver executes {@link ProbeOrder}s (prewarm, health and link probes) and reports them through onComplete. */
  enableProbes(on = true): void {
    this.probesEnabled = on;
  }

  /** What to send now; dispatched/rejected requests leave the queue; dispatched targets count busy until onComplete. */
  decide(nowMs: number, opts: { flush?: boolean } = {}): Decision {
    this.advance(nowMs);
    const d = decidePure(this.decideState(nowMs, opts.flush === true), nowMs);
    let consumed = d.reject.length;
    for (const r of d.reject) {
      this.queued.delete(r.requestId);
      this.emit({ type: 'reject', requestId: r.requestId, code: r.code, atMs: nowMs });
    }
    let prefix = true;
    for (const o of d.dispatch) {
      consumed += o.requestIds.length;
      for (const id of o.requestIds) this.queued.delete(id);
      let cold = false;
      if (o.target === EDGE) this.edgeBusy++;
      else cold = this.pools.get(o.target)!.start(nowMs);
      this.emit({ type: 'dispatch', target: o.target, batchSize: o.requestIds.length, atMs: nowMs, atRisk: o.atRisk, predictedMs: o.predictedMs, cold });
    }
    // decide() consumes an EDF prefix of the queue, plus any laxer run the edge took.
    for (let k = 0; k < consumed && prefix; k++) if (this.queued.has(this.queue[k].id)) prefix = false;
    if (prefix) this.queue.splice(0, consumed);
    else {
      let w = 0;
      for (const r of this.queue) if (this.queued.has(r.id)) this.queue[w++] = r;
      this.queue.length = w;
    }
    if (d.saturated) {
      this.saturatedSinceMs ??= nowMs;
      this.lastSaturatedMs = nowMs;
    } else if (nowMs - this.lastSaturatedMs > this.o.tickMs) this.saturatedSinceMs = null;
    const probe = this.probesEnabled ? this.probes(nowMs) : [];
    return probe.length ? { ...d, probe } : d;
  }

  /** Prewarm the plan's cold tiers, probe half-open tiers, probe a link that keeps the cloud unused. */
  private probes(nowMs: number): ProbeOrder[] {
    const out: ProbeOrder[] = [];
    for (const [t, untils] of this.probing) for (const until of [...untils]) if (until <= nowMs) this.abandonProbe(t, nowMs);
    const order = (target: TargetId, reason: ProbeOrder['reason']) => {
      const m = this.latency.get(target)!;
      const timeoutMs = Math.max(2000, 2 * (m.coldStartMs + m.predict(1, 'q99') + this.link.transferMs(this.itemBytes, 'q99')));
      const inFlight = this.probing.get(target);
      if (inFlight) inFlight.push(nowMs + timeoutMs + 1000);
      else this.probing.set(target, [nowMs + timeoutMs + 1000]);
      this.lastProbeMs.set(target, nowMs);
      this.pools.get(target)!.start(nowMs);
      out.push({ target, reason, timeoutMs });
      this.emit({ type: 'probe', target, reason, atMs: nowMs });
    };
    const ready = (t: TargetId, gapMs: number) => this.healthy(t) && !this.probing.has(t) && nowMs - (this.lastProbeMs.get(t) ?? -Infinity) >= gapMs;
    for (const t of this.o.tiers) {
      const b = this.breakers.get(t.key);
      if (b?.halfOpen && this.pools.get(t.key)!.busy === 0 && ready(t.key, 0)) order(t.key, 'health');
    }
    // Prewarm only when the cloud is to carry traffic: the plan overflows to it, there is no
    // (healthy) edge, or every target is busy with more waiting than the edge's next round takes
    // (a burst the edge absorbs by batching is no reason to pay a cold start).
    const edgeRound = this.o.edgeWorkers * Math.max(1, this.current.edge.maxBatchSize);
    const cloudWanted = this.current.cloud.rateRps > 0 || this.o.edgeWorkers === 0 || !this.healthy(EDGE) || (this.isSaturated(nowMs) && this.queue.length > edgeRound);
    for (const c of cloudWanted ? this.current.cloud.classes : []) {
      const t = c.tier;
      if (t === null || !c.feasible || !this.pools.has(t)) continue;
      const pool = this.pools.get(t)!;
      const idle = pool.warmIdle(nowMs);
      if (pool.busy > 0 || idle > 0) {
        // Warm already: scale out when the cloud's share needs more instances than are warm or
        // starting (a new instance's cold start would miss its batch's deadline). Instances
        // needed = λ_cloud · (transfer + l(b)) / b, with headroom; probes in flight count as busy.
        // Not while the tier throttles or fails (a cap or a breaker), at most one round a second.
        if (idle > 0 || !this.healthy(t) || this.caps.has(t) || this.breakers.has(t)) continue;
        if (nowMs - (this.lastProbeMs.get(t) ?? -Infinity) < 1000) continue;
        const b = Math.max(1, c.batchSize);
        const busyMs = this.link.transferMs(b * this.itemBytes, 'mean') + this.latency.get(t)!.predict(b, 'mean');
        // The live rate, not only the plan's (a plan outlives small rate moves).
        const cloudRps = Math.max(this.current.cloud.rateRps, this.rate.snapshot().rateRps - this.current.edge.rateRps);
        const needed = Math.min(this.o.tierMaxInstances, Math.ceil((1.5 * cloudRps * busyMs) / (1000 * b)) + 1);
        for (let k = Math.min(4, needed - pool.busy); k > 0; k--) order(t, 'prewarm');
        continue;
      }
      if (!ready(t, 5000)) continue;
      // Its cold start makes the first batch miss: warm it with a probe while warm targets serve.
      order(t, 'prewarm');
    }
    if (this.o.tiers.length > 0 && this.classes.budgets().length > 0 && nowMs - this.lastLinkObsMs >= this.o.linkProbeMs && (this.cloudUnused() || this.linkDegraded())) {
      // The link estimate keeps the cloud out or prices it out: measure it again (an outage ends).
      let pick: TargetId | null = null;
      for (const t of this.o.tiers) if (ready(t.key, this.o.linkProbeMs) && this.pools.get(t.key)!.warmIdle(nowMs) > 0) pick ??= t.key;
      // No warm tier (the outage outlasted the keep-alive, or none was ever warmed: a class
      // infeasible on the link is never prewarmed): a cold probe now and then, to the first
      // (smallest) healthy tier, else the estimate could never recover.
      if (!pick && nowMs - this.lastColdLinkProbeMs >= 5 * this.o.linkProbeMs) {
        for (const t of this.o.tiers) if (ready(t.key, this.o.linkProbeMs)) pick ??= t.key;
        if (pick) this.lastColdLinkProbeMs = nowMs;
      }
      if (pick) {
        order(pick, 'link');
        this.lastLinkObsMs = nowMs;
      }
    }
    return out;
  }

  /**
   * The estimate puts one item's transfer at more than twice the profile's link: the cloud is
   * priced out (batch 1 at best, or a cheaper target wins), so little traffic measures the link
   * again — it must be probed, or a link that recovered is never noticed.
   */
  private linkDegraded(): boolean {
    return this.link.transferMs(this.itemBytes, 'mean') > 2 * this.nominalTransferMs();
  }

  /** One item's transfer on the profile's link (rtt + bytes at the profile's uplink). */
  private nominalTransferMs(): number {
    const p = this.o.profile;
    return p.rttMs + (this.itemBytes * 8000) / (p.uplinkMbps * 1e6);
  }

  /** No healthy tier meets the tightest class even warm, given the link estimate, though it would on the profile's link. */
  private cloudUnused(): boolean {
    const budgets = this.classes.budgets();
    const tight = Math.min(...budgets);
    let bestNow = Infinity;
    for (const t of this.o.tiers) if (this.healthy(t.key)) bestNow = Math.min(bestNow, this.latency.get(t.key)!.predict(1, this.o.quantile));
    if (!Number.isFinite(bestNow)) return false;
    const nominal = this.nominalTransferMs();
    return this.link.transferMs(this.itemBytes, this.o.quantile) + bestNow + this.o.safetyMarginMs > tight && nominal + bestNow + this.o.safetyMarginMs <= tight;
  }

  private abandonProbe(target: TargetId, nowMs: number): void {
    this.dropProbe(target);
    this.pools.get(target)?.abandon();
    this.failure(target, 'timeout', nowMs);
  }

  /** One probe of `target` is no longer in flight (the oldest). */
  private dropProbe(target: TargetId): void {
    const inFlight = this.probing.get(target);
    inFlight?.shift();
    if (!inFlight || inFlight.length === 0) this.probing.delete(target);
  }

  /**
   * A finished batch (success or failure): feeds the estimators, frees the target.
   * - A `timeout` frees nothing yet: the target still runs the call, so its slot is held for the
   *   batch's predicted time (released by advance), and the call teaches no latency.
   * - `throttled` (429) caps the tier at the calls of ours it was running (saturated, not broken).
   * - Other failures count toward the target's breaker; a success closes it.
   */
  onComplete(obs: BatchObservation, nowMs: number): void {
    this.advance(nowMs);
    const target = obs.target;
    const pool = this.pools.get(target);
    if (obs.probe) {
      if (!this.probing.has(target)) return; // already given up on (its slot was released then)
      this.dropProbe(target);
    }
    const cancelled = obs.error === 'cancelled' || obs.error === 'closed';
    if (obs.error === 'timeout' && !obs.probe) {
      const m = this.latency.get(target);
      const holdMs = Math.min(10_000, Math.max(100, (m?.predict(Math.max(1, obs.batchSize), 'q99') ?? 0) + (pool && obs.wallMs < (m?.coldStartMs ?? 0) ? (m?.coldStartMs ?? 0) : 0)));
      const h = this.held.get(target);
      if (h) h.push(nowMs + holdMs);
      else this.held.set(target, [nowMs + holdMs]);
    } else if (target === EDGE) this.edgeBusy = Math.max(0, this.edgeBusy - 1);
    else if (pool) {
      if (obs.ok || obs.error === 'function_error' || obs.error === 'bad_response') pool.finish(nowMs);
      else pool.abandon(); // refused or unreachable: no instance of ours got warm
    }
    if (cancelled) return;
    // A timeout is late, not hung, unless the call had at least twice its predicted time: batches
    // leave as late as their deadline allows, so budgets are often barely above the prediction,
    // and a box or link under load makes such calls late on every tier alike; taking tiers out
    // for that would move the load onto cold tiers. Probes always have ample time.
    const late = obs.error === 'timeout' && !obs.probe && !this.hadAmpleTime(obs);
    if (obs.ok) this.success(target, nowMs);
    else if (!late) this.failure(target, obs.error ?? 'unavailable', nowMs);
    if (obs.ok && obs.batchSize > 0) this.served.push(nowMs, obs.batchSize);
    while (this.served.length > 0 && this.served[0] < nowMs - 5000) this.served.splice(0, 2);
    const model = this.latency.get(target);
    if (obs.ok && model && obs.batchSize > 0) model.observe(obs.batchSize, Math.max(0, obs.wallMs - obs.transferMs), obs.coldStart);
    if (target !== EDGE && obs.ok && obs.bytes > 0 && obs.transferMs > 0) {
      this.lastLinkObsMs = nowMs;
      const changed = this.link.observe(obs.bytes, obs.transferMs, obs.ok);
      if (changed) {
        this.changepointCount++;
        this.emit({ type: 'changepoint', stream: 'link', atMs: nowMs, changeAtMs: nowMs, pChange: this.link.snapshot().pChange });
        if (this.o.periodicMs === null) {
          // A link change re-plans only if the current plan no longer fits, or the new one takes
          // another tier (or changes a class's feasibility): a batch size that merely could grow
          // waits for the next replan (decide() sizes each cloud batch to the head's deadline).
          const next = this.computePlan('changepoint:link', nowMs, this.current.version + 1);
          if (!this.planStillFeasible(nowMs) || routesDiffer(this.current, next)) this.commit(next);
          return;
        }
      }
    }
    if (this.o.periodicMs !== null) return;
    // Hysteresis: one noisy sample must not re-plan; the plan must stay infeasible at every check
    // for infeasiblePersistMs (and at most one such replan per minInfeasibleGapMs).
    if (this.planStillFeasible(nowMs)) {
      this.infeasibleSinceMs = null;
      return;
    }
    this.infeasibleSinceMs ??= nowMs;
    if (nowMs - this.infeasibleSinceMs >= this.o.infeasiblePersistMs && nowMs - this.lastInfeasibleMs >= this.o.minInfeasibleGapMs) {
      this.lastInfeasibleMs = nowMs;
      this.infeasibleSinceMs = null;
      this.replan('infeasible', nowMs);
    }
  }

  /** The call's budget (its wall time at the timeout) was at least twice what it should take. */
  private hadAmpleTime(obs: BatchObservation): boolean {
    const m = this.latency.get(obs.target);
    if (!m) return true;
    const n = Math.max(1, obs.batchSize);
    const expected = m.predict(n, 'q99') + (obs.target === EDGE ? 0 : this.link.transferMs(obs.bytes, 'q99')) + (obs.coldStart ? m.coldStartMs : 0);
    return obs.wallMs >= 2 * expected;
  }

  private success(target: TargetId, nowMs: number): void {
    const b = this.breakers.get(target);
    if (!b) return;
    if (b.halfOpen) this.emit({ type: 'healthy', target, atMs: nowMs });
    this.breakers.delete(target);
  }

  private failure(target: TargetId, code: string, nowMs: number): void {
    if (!this.latency.has(target)) return;
    if (code === 'throttled' && target !== EDGE) {
      // Saturated, not broken: it ran `busy` calls of ours; don't send more until a cool-down.
      const busy = this.pools.get(target)!.busy + (this.held.get(target)?.length ?? 0);
      if (busy > 0) {
        const prev = this.caps.get(target);
        this.caps.set(target, { cap: Math.min(busy, prev?.cap ?? Infinity), untilMs: nowMs + this.o.breakerCooldownMs });
        return;
      }
      // It refuses even with nothing of ours running: out for a cool-down like a failure.
    }
    // The edge timing out means it is behind (its slot is held), not broken.
    if (code === 'timeout' && target === EDGE) return;
    let b = this.breakers.get(target);
    if (!b) this.breakers.set(target, (b = { fails: 0, cooldownMs: this.o.breakerCooldownMs, halfOpen: false }));
    b.fails++;
    const now = b.halfOpen || b.fails >= this.o.breakerFailures || code === 'unavailable' || code === 'throttled';
    if (!now) return;
    if (b.halfOpen) b.cooldownMs = Math.min(this.o.breakerMaxCooldownMs, b.cooldownMs * 2);
    b.halfOpen = false;
    b.fails = 0;
    this.markUnhealthy(target, nowMs + b.cooldownMs);
  }

  /** Advance estimators with time (arrival-count ticks, changepoint checks, replans). Cheap; decide() calls it too. */
  advance(nowMs: number): void {
    if (!(nowMs >= this.lastNowMs)) nowMs = this.lastNowMs; // time never runs backwards inside the core
    this.lastNowMs = nowMs;
    let reason: ReplanReason | null = null;
    for (const c of this.rate.advance(nowMs)) {
      this.changepointCount++;
      this.emit({ type: 'changepoint', stream: 'arrivals', atMs: c.detectedAtMs, changeAtMs: c.changeAtMs, pChange: c.pChange });
      reason = 'changepoint:arrivals';
    }
    for (const [t, until] of this.unhealthy) {
      if (until <= nowMs) {
        this.unhealthy.delete(t);
        // Half-open: back in the plan, one call at a time until one succeeds.
        const b = this.breakers.get(t);
        if (b) b.halfOpen = true;
        else this.breakers.set(t, { fails: 0, cooldownMs: this.o.breakerCooldownMs, halfOpen: true });
        reason ??= 'target-health';
      }
    }
    for (const [t, c] of this.caps) if (c.untilMs <= nowMs) this.caps.delete(t);
    for (const [t, times] of this.held) {
      // A timed-out call's slot comes back once the target has surely finished it.
      let k = 0;
      for (const at of times) {
        if (at > nowMs) times[k++] = at;
        else if (t === EDGE) this.edgeBusy = Math.max(0, this.edgeBusy - 1);
        else this.pools.get(t)?.finish(at);
      }
      times.length = k;
      if (k === 0) this.held.delete(t);
    }
    if (this.o.periodicMs !== null) {
      if (nowMs - this.lastReplanMs >= this.o.periodicMs) this.replan('periodic', nowMs);
      return;
    }
    if (!this.warmedUp) {
      const ticks = this.rate.ticks;
      if (ticks >= this.o.warmupTicks) {
        this.warmedUp = true;
        reason ??= 'warmup';
      } else if (ticks >= 2 && ticks !== this.warmupCheckedTicks) {
        // During warm-up the plan rests on the profile's prior rate, which BOCPD cannot flag (no
        // change inside the data): re-plan early when the live rate is far from the planned one.
        this.warmupCheckedTicks = ticks;
        const live = this.rate.snapshot().rateRps;
        if (Math.abs(live - this.current.rateRps) > 0.5 * Math.max(1, this.current.rateRps)) reason ??= 'warmup';
      }
    }
    if (reason) {
      this.replan(reason, nowMs);
      return;
    }
    if (nowMs - Math.max(this.lastReplanMs, this.lastSafetyCheckMs) >= this.o.safetyPeriodMs) {
      this.lastSafetyCheckMs = nowMs;
      this.classes.expire(nowMs);
      const next = this.computePlan('safety-period', nowMs, this.current.version + 1);
      if (materiallyDifferent(this.current, next)) this.commit(next);
    }
  }

  /** Mark a target unhealthy until a time (fault handling); decide avoids it meanwhile. */
  markUnhealthy(target: TargetId, untilMs: number): void {
    if (!this.latency.has(target)) return;
    const prev = this.unhealthy.get(target) ?? -Infinity;
    this.unhealthy.set(target, Math.max(prev, untilMs));
    this.emit({ type: 'unhealthy', target, untilMs, atMs: this.lastNowMs });
    const used = target === EDGE ? this.current.edge.workers > 0 : this.current.cloud.classes.some((c) => c.tier === target);
    if (used && this.o.periodicMs === null && untilMs > this.lastNowMs) this.replan('target-health', this.lastNowMs);
  }

  // ── planning ───────────────────────────────────────────────────────────────

  private plannerInput(nowMs: number): PlannerInput {
    const rate = this.rate.snapshot();
    const edgeModel = this.latency.get(EDGE);
    const current = new Map<number, TargetId | null>();
    for (const c of this.current?.cloud.classes ?? []) current.set(c.budgetMs, c.tier);
    return {
      rateRps: rate.rateRps,
      link: this.link,
      itemBytes: this.itemBytes,
      classBudgetsMs: this.classes.budgets(),
      edge: this.o.edgeWorkers > 0 && edgeModel && this.healthy(EDGE) ? { workers: this.o.edgeWorkers, latency: edgeModel } : null,
      tiers: this.o.tiers
        .filter((t) => this.healthy(t.key))
        .map((t) => {
          const pool = this.pools.get(t.key)!;
          return { tier: t, latency: this.latency.get(t.key)!, warm: pool.busy > 0 || pool.warmIdle(nowMs) > 0 };
        }),
      pricing: this.o.pricing,
      maxBatch: this.o.maxBatch,
      quantile: this.o.quantile,
      safetyMarginMs: this.o.safetyMarginMs,
      edgeUtilisationCap: this.o.edgeUtilisationCap,
      tierMaxInstances: this.o.tierMaxInstances,
      paybackHorizonMs: this.o.keepAliveMs,
      currentTiers: current,
    };
  }

  private computePlan(reason: ReplanReason, nowMs: number, version: number): Plan {
    const input = this.plannerInput(nowMs);
    const out = makePlan(input);
    const rate = this.rate.snapshot();
    return {
      version,
      reason,
      atMs: nowMs,
      quantile: this.o.quantile,
      safetyMarginMs: this.o.safetyMarginMs,
      rateRps: rate.rateRps,
      rateSdRps: rate.sdRps,
      rttMs: this.link.rttMs,
      bandwidthBps: finite(this.link.bandwidthBps),
      itemBytes: this.itemBytes,
      edge: out.edge,
      cloud: out.cloud,
      costTable: out.costTable,
      excludedTargets: [...this.unhealthy.keys()],
    };
  }

  private commit(plan: Plan): void {
    this.current = plan;
    this.infeasibleSinceMs = null;
    this.replanCount++;
    this.lastReplanMs = plan.atMs;
    this.emit({ type: 'replan', reason: plan.reason, atMs: plan.atMs, version: plan.version });
  }

  private replan(reason: ReplanReason, nowMs: number): void {
    this.commit(this.computePlan(reason, nowMs, this.current.version + 1));
  }

  private planStillFeasible(nowMs: number): boolean {
    const input = this.plannerInput(nowMs);
    return this.current.cloud.classes.every((c) => classStillFeasible(input, c, this.current.cloud.rateRps));
  }

  // ── views ──────────────────────────────────────────────────────────────────

  /** The current plan (plain JSON). */
  plan(): Plan {
    return this.current;
  }

  /** The estimators' state (plain JSON). */
  estimates(): Estimates {
    const now = this.lastNowMs;
    const latency: Record<TargetId, ReturnType<LatencyModel['snapshot']>> = {};
    for (const [k, m] of this.latency) latency[k] = m.snapshot();
    const tiers: Record<TargetId, TierState> = {};
    for (const [k, pool] of this.pools) {
      const idle = pool.warmIdle(now);
      tiers[k] = { state: idle > 0 || pool.busy > 0 ? 'warm' : 'cold', warmIdleInstances: idle, busy: pool.busy, lastUsedMs: pool.lastUsedMs };
    }
    const link = this.link.snapshot();
    return {
      atMs: now,
      rate: this.rate.snapshot(),
      link,
      latency,
      tiers,
      deadlineClasses: this.classes.snapshot(),
      unhealthy: Object.fromEntries(this.unhealthy),
      lastReplan: { reason: this.current.reason, atMs: this.current.atMs, version: this.current.version },
    };
  }

  /** Requests waiting. */
  queueDepth(): number {
    return this.queue.length;
  }

  /** Batches in flight per target. */
  busy(): Record<TargetId, number> {
    const out: Record<TargetId, number> = {};
    if (this.o.edgeWorkers > 0) out[EDGE] = this.edgeBusy;
    for (const [k, p] of this.pools) out[k] = p.busy;
    return out;
  }

  /** Events since the last drain. */
  drainEvents(): CoreEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  /** Plan updates and changepoints so far. */
  stats(): { replans: number; changepoints: number } {
    return { replans: this.replanCount, changepoints: this.changepointCount };
  }

  /** The class budget a request's deadline budget falls in (for reports). */
  static classOf(budgetMs: number): number {
    return classBudgetMs(budgetMs);
  }

  /** The plan's cloud route for a deadline budget (for reports and tests). */
  routeFor(budgetMs: number): { tier: TargetId | null; batchSize: number } | null {
    const c = classFor({ edgeBatchSize: 0, classes: this.current.cloud.classes, sendWhenFull: true }, budgetMs);
    return c ? { tier: c.tier, batchSize: c.batchSize } : null;
  }

  private emit(e: CoreEvent): void {
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : Number.MAX_VALUE;
}

/** Another tier, or another feasibility, for some class (or other classes)? */
function routesDiffer(a: Plan, b: Plan): boolean {
  if (a.cloud.classes.length !== b.cloud.classes.length) return true;
  return a.cloud.classes.some((c, i) => {
    const d = b.cloud.classes[i];
    return c.budgetMs !== d.budgetMs || c.tier !== d.tier || c.feasible !== d.feasible;
  });
}

/** Not the same edge batch and (tier, batch) per class — nor, with `feasibility`, the same feasible flags? */
function materiallyDifferent(a: Plan, b: Plan, feasibility = false): boolean {
  if (a.edge.batchSize !== b.edge.batchSize) return true;
  if (a.cloud.classes.length !== b.cloud.classes.length) return true;
  return a.cloud.classes.some((c, i) => {
    const d = b.cloud.classes[i];
    return c.budgetMs !== d.budgetMs || c.tier !== d.tier || c.batchSize !== d.batchSize || (feasibility && c.feasible !== d.feasible);
  });
}
