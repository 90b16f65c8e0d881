/**
 * When to re-plan — every rule in one place. In changepoint mode (the default):
 * - an arrivals changepoint; a target turning unhealthy (if the plan uses it) or coming back;
 * - a new deadline class;
 * - a link changepoint, only when the current plan no longer fits or the new one takes another
 *   tier or feasibility for some class;
 * - the plan staying infeasible under the current estimates at every check for
 *   `infeasiblePersistMs` (at most once per `minInfeasibleGapMs`): one noisy sample must not re-plan;
 * - once after `warmupTicks` ticks, and during warm-up at any tick ≥ 2 where the live rate is more
 *   than 50 % off the plan's (the first plan rests on the profile's prior rate, which BOCPD cannot
 *   flag: there is no change inside the data);
 * - every `safetyPeriodMs` the plan is recomputed, and counts as a re-plan only if it changed.
 * In periodic mode (a baseline), only every `periodicMs`.
 */
import type { CoreParts } from './parts.ts';
import type { Planning } from './planning.ts';
import { EDGE, type Plan, type ReplanReason, type TargetId } from './types.ts';

export class ReplanPolicy {
  private lastReplanMs: number;
  private lastSafetyCheckMs: number;
  private lastInfeasibleMs = -Infinity;
  /** Since when every check found the plan infeasible (null: the last check found it feasible). */
  private infeasibleSinceMs: number | null = null;
  private warmupCheckedTicks = 0;
  private warmedUp = false;

  constructor(
    private readonly p: CoreParts,
    private readonly planning: Planning,
    nowMs: number,
  ) {
    this.lastReplanMs = nowMs;
    this.lastSafetyCheckMs = nowMs;
  }

  /** Re-planning only on a fixed period (the baseline mode). */
  get periodic(): boolean {
    return this.p.o.periodicMs !== null;
  }

  /** Time passed: `reason` is what the estimators saw meanwhile (an arrivals change, a target back), if anything. */
  onTick(nowMs: number, reason: ReplanReason | null): void {
    const o = this.p.o;
    if (o.periodicMs !== null) {
      if (nowMs - this.lastReplanMs >= o.periodicMs) this.replan('periodic', nowMs);
      return;
    }
    if (!this.warmedUp) {
      const ticks = this.p.rate.ticks;
      if (ticks >= o.warmupTicks) {
        this.warmedUp = true;
        reason ??= 'warmup';
      } else if (ticks >= 2 && ticks !== this.warmupCheckedTicks) {
        this.warmupCheckedTicks = ticks;
        const live = this.p.rate.snapshot().rateRps;
        const planned = this.planning.current.rateRps;
        if (Math.abs(live - planned) > 0.5 * Math.max(1, planned)) reason ??= 'warmup';
      }
    }
    if (reason) {
      this.replan(reason, nowMs);
      return;
    }
    if (nowMs - Math.max(this.lastReplanMs, this.lastSafetyCheckMs) >= o.safetyPeriodMs) {
      this.lastSafetyCheckMs = nowMs;
      this.p.classes.expire(nowMs);
      const next = this.planning.compute('safety-period', nowMs);
      if (materiallyDifferent(this.planning.current, next)) this.commit(next);
    }
  }

  /** A request opened a new deadline class. */
  onNewClass(nowMs: number): void {
    if (!this.periodic) this.replan('new-deadline-class', nowMs);
  }

  /** `target` is out until `untilMs`: re-plan if the plan uses it. */
  onUnhealthy(target: TargetId, untilMs: number, nowMs: number): void {
    const plan = this.planning.current;
    const used = target === EDGE ? plan.edge.workers > 0 : plan.cloud.classes.some((c) => c.tier === target);
    if (used && !this.periodic && untilMs > nowMs) this.replan('target-health', nowMs);
  }

  /**
   * A completion taught the estimators something; `linkChanged`: the link's detector fired. A
   * link change re-plans only if the current plan no longer fits, or the new one takes another
   * tier (or changes a class's feasibility): a batch size that merely could grow waits for the
   * next re-plan (decide() sizes each cloud batch to the head's deadline).
   */
  afterCompletion(nowMs: number, linkChanged: boolean): void {
    if (this.periodic) return;
    if (linkChanged) {
      const next = this.planning.compute('changepoint:link', nowMs);
      if (!this.planning.stillFeasible(nowMs) || routesDiffer(this.planning.current, next)) this.commit(next);
      return;
    }
    // Hysteresis: the plan must stay infeasible at every check for infeasiblePersistMs.
    if (this.planning.stillFeasible(nowMs)) {
      this.infeasibleSinceMs = null;
      return;
    }
    this.infeasibleSinceMs ??= nowMs;
    if (nowMs - this.infeasibleSinceMs >= this.p.o.infeasiblePersistMs && nowMs - this.lastInfeasibleMs >= this.p.o.minInfeasibleGapMs) {
      this.lastInfeasibleMs = nowMs;
      this.infeasibleSinceMs = null;
      this.replan('infeasible', nowMs);
    }
  }

  private replan(reason: ReplanReason, nowMs: number): void {
    this.commit(this.planning.compute(reason, nowMs));
  }

  private commit(plan: Plan): void {
    this.planning.commit(plan);
    this.infeasibleSinceMs = null;
    this.lastReplanMs = plan.atMs;
  }
}

/** Another tier, or another feasibility, for some class (or other classes)? */
function routesDiffer(a: Plan, b: Plan): boolean {
  if (a.cloud.classes.length !== b.cloud.classes.length) return true;
  return a.cloud.classes.some((c, i) => {
    const d = b.cloud.classes[i];
    return c.budgetMs !== d.budgetMs || c.tier !== d.tier || c.feasible !== d.feasible;
  });
}

/** Not the same edge batch and (tier, batch) per class? */
function materiallyDifferent(a: Plan, b: Plan): boolean {
  if (a.edge.batchSize !== b.edge.batchSize) return true;
  if (a.cloud.classes.length !== b.cloud.classes.length) return true;
  return a.cloud.classes.some((c, i) => {
    const d = b.cloud.classes[i];
    return c.budgetMs !== d.budgetMs || c.tier !== d.tier || c.batchSize !== d.batchSize;
  });
}
