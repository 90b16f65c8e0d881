/**
 * The current plan: assembling the planner's input from the core's parts, computing a plan,
 * committing it. *When* to re-plan is the re-plan policy's (`replan-policy.ts`), not this module's.
 */
import type { CoreParts } from './parts.ts';
import { classStillFeasible, makePlan, type PlannerInput } from './planner.ts';
import type { Plan, ReplanReason, TargetId } from './types.ts';

export class Planning {
  private plan: Plan;

  constructor(
    private readonly p: CoreParts,
    nowMs: number,
  ) {
    this.plan = this.compute('initial', nowMs);
  }

  get current(): Plan {
    return this.plan;
  }

  /** A plan from the current estimates (not committed). */
  compute(reason: ReplanReason, nowMs: number): Plan {
    const p = this.p;
    const out = makePlan(this.input(nowMs));
    const rate = p.rate.snapshot();
    return {
      version: this.plan ? this.plan.version + 1 : 0,
      reason,
      atMs: nowMs,
      quantile: p.o.quantile,
      safetyMarginMs: p.o.safetyMarginMs,
      rateRps: rate.rateRps,
      rateSdRps: rate.sdRps,
      rttMs: p.link.rttMs,
      bandwidthBps: finite(p.link.bandwidthBps),
      itemBytes: p.item.bytes,
      edge: out.edge,
      cloud: out.cloud,
      costTable: out.costTable,
      excludedTargets: p.book.excluded(),
    };
  }

  commit(plan: Plan): void {
    this.plan = plan;
    this.p.log.emit({ type: 'replan', reason: plan.reason, atMs: plan.atMs, version: plan.version });
  }

  /** Every cloud class of the current plan still fits its budget under the current estimates. */
  stillFeasible(nowMs: number): boolean {
    const input = this.input(nowMs);
    return this.plan.cloud.classes.every((c) => classStillFeasible(input, c, this.plan.cloud.rateRps));
  }

  private input(nowMs: number): PlannerInput {
    const p = this.p;
    const current = new Map<number, TargetId | null>();
    for (const c of this.plan?.cloud.classes ?? []) current.set(c.budgetMs, c.tier);
    return {
      rateRps: p.rate.snapshot().rateRps,
      link: p.link,
      itemBytes: p.item.bytes,
      classBudgetsMs: p.classes.budgets(),
      ...p.book.plannerTargets(nowMs),
      pricing: p.o.pricing,
      maxBatch: p.o.maxBatch,
      edgeMaxBatch: p.o.edgeMaxBatch,
      quantile: p.o.quantile,
      safetyMarginMs: p.o.safetyMarginMs,
      edgeUtilisationCap: p.o.edgeUtilisationCap,
      tierMaxInstances: p.o.tierMaxInstances,
      paybackHorizonMs: p.o.keepAliveMs,
      currentTiers: current,
    };
  }
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : Number.MAX_VALUE;
}
