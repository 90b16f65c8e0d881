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
  private warmedUp = false;
  private events: CoreEvent[] = [];
  private lastNowMs: number;

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
    const fastest = this.fastestWarmMeanMs(req.bytes);
    if (!(fastest <= slack)) {
      this.emit({ type: 'reject', requestId: req.id, code: 'deadline_impossible', atMs: nowMs });
      return {
        ok: false,
        code: 'deadline_impossible',
        reason: Number.isFinite(fastest)
          ? `deadline in ${slack.toFixed(0)} ms, the fastest target needs ${fastest.toFixed(0)} ms`
          : 'no healthy target is available',
      };
    }
    const budget = req.deadlineMs - req.arrivalMs;
    const opened = this.classes.observe(budget, nowMs);
    this.itemBytes += (Math.max(0, req.bytes) - this.itemBytes) * 0.01;
    this.insert(req);
    if (opened && this.o.periodicMs === null) this.replan('new-deadline-class', nowMs);
    return { ok: true };
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

  private fastestWarmMeanMs(bytes: number): number {
    let best = Infinity;
    const edge = this.latency.get(EDGE);
    if (edge && this.o.edgeWorkers > 0 && this.healthy(EDGE)) best = edge.predict(1, 'mean');
    const transfer = this.link.transferMs(bytes, 'mean');
    for (const t of this.o.tiers) if (this.healthy(t.key)) best = Math.min(best, transfer + this.latency.get(t.key)!.predict(1, 'mean'));
    return best;
  }

  // ── decisions ──────────────────────────────────────────────────────────────

  /** The pure decide() input for `nowMs` (exposed for tests and the simulator's introspection). */
  decideState(nowMs: number): DecideState {
    const targets: DecideTarget[] = [];
    if (this.o.edgeWorkers > 0 && this.healthy(EDGE)) {
      targets.push({ id: EDGE, isEdge: true, freeSlots: this.o.edgeWorkers - this.edgeBusy, warmIdle: Infinity, latency: this.latency.get(EDGE)! });
    }
    for (const t of this.o.tiers) {
      if (!this.healthy(t.key)) continue;
      const pool = this.pools.get(t.key)!;
      targets.push({ id: t.key, isEdge: false, freeSlots: this.o.tierMaxInstances - pool.busy, warmIdle: pool.warmIdle(nowMs), latency: this.latency.get(t.key)!, tier: t });
    }
    return {
      queue: this.queue,
      targets,
      link: this.link,
      plan: { edgeBatchSize: this.current.edge.batchSize, classes: this.current.cloud.classes, sendWhenFull: this.current.cloud.sendWhenFull },
      quantile: this.o.quantile,
      safetyMarginMs: this.o.safetyMarginMs,
      maxBatch: this.o.maxBatch,
      pricing: this.o.pricing,
    };
  }

  /** What to send now; dispatched/rejected requests leave the queue; dispatched targets count busy until onComplete. */
  decide(nowMs: number): Decision {
    this.advance(nowMs);
    const d = decidePure(this.decideState(nowMs), nowMs);
    let consumed = d.reject.length;
    for (const r of d.reject) {
      this.queued.delete(r.requestId);
      this.emit({ type: 'reject', requestId: r.requestId, code: r.code, atMs: nowMs });
    }
    for (const o of d.dispatch) {
      consumed += o.requestIds.length;
      for (const id of o.requestIds) this.queued.delete(id);
      let cold = false;
      if (o.target === EDGE) this.edgeBusy++;
      else cold = this.pools.get(o.target)!.start(nowMs);
      this.emit({ type: 'dispatch', target: o.target, batchSize: o.requestIds.length, atMs: nowMs, atRisk: o.atRisk, predictedMs: o.predictedMs, cold });
    }
    // decide() consumes an EDF prefix of the queue.
    this.queue.splice(0, consumed);
    return d;
  }

  /** A finished batch (success or failure): feeds the estimators, frees the target. */
  onComplete(obs: BatchObservation, nowMs: number): void {
    this.advance(nowMs);
    const target = obs.target;
    if (target === EDGE) this.edgeBusy = Math.max(0, this.edgeBusy - 1);
    else this.pools.get(target)?.finish(nowMs);
    const model = this.latency.get(target);
    if (obs.ok && model) model.observe(obs.batchSize, Math.max(0, obs.wallMs - obs.transferMs), obs.coldStart);
    if (target !== EDGE && obs.bytes > 0 && obs.transferMs > 0) {
      const changed = this.link.observe(obs.bytes, obs.transferMs, obs.ok);
      if (changed) {
        this.changepointCount++;
        this.emit({ type: 'changepoint', stream: 'link', atMs: nowMs, changeAtMs: nowMs, pChange: this.link.snapshot().pChange });
        if (this.o.periodicMs === null) {
          this.replan('changepoint:link', nowMs);
          return;
        }
      }
    }
    if (this.o.periodicMs === null && nowMs - this.lastInfeasibleMs >= this.o.minInfeasibleGapMs && !this.planStillFeasible(nowMs)) {
      this.lastInfeasibleMs = nowMs;
      this.replan('infeasible', nowMs);
    }
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
        reason ??= 'target-health';
      }
    }
    if (this.o.periodicMs !== null) {
      if (nowMs - this.lastReplanMs >= this.o.periodicMs) this.replan('periodic', nowMs);
      return;
    }
    if (!this.warmedUp && this.rate.ticks >= this.o.warmupTicks) {
      this.warmedUp = true;
      reason ??= 'warmup';
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

/** Same edge batch and the same (tier, batch) per class? */
function materiallyDifferent(a: Plan, b: Plan): boolean {
  if (a.edge.batchSize !== b.edge.batchSize) return true;
  if (a.cloud.classes.length !== b.cloud.classes.length) return true;
  return a.cloud.classes.some((c, i) => {
    const d = b.cloud.classes[i];
    return c.budgetMs !== d.budgetMs || c.tier !== d.tier || c.batchSize !== d.batchSize;
  });
}
