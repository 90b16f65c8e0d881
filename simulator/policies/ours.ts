/**
 * `ours` and `ours-periodic`: the scheduling core (edge-agent/core `Scheduler`) exactly as the
 * agent runs it, driven with virtual time. The adapter only translates; it never decides.
 */
import { Scheduler, type CoreEvent, type SchedulerOptions } from '../../edge-agent/core/index.ts';
import type { Admission, BatchObservation, Decision, PolicyContext, SimPolicy, SimRequest } from '../types.ts';

/** A re-plan the core reported, for tests and the report. */
export interface ReplanRecord {
  readonly atMs: number;
  readonly reason: string;
}

export class CorePolicy implements SimPolicy {
  private readonly core: Scheduler;
  private readonly cps: { tMs: number; stream: string }[] = [];
  private readonly replanLog: ReplanRecord[] = [];

  constructor(
    readonly name: string,
    ctx: PolicyContext,
    replan: SchedulerOptions['replan'],
  ) {
    this.core = new Scheduler(
      {
        tiers: [...ctx.tiers],
        profile: ctx.profile,
        edgeWorkers: ctx.edgeWorkers,
        replan,
        pricing: ctx.pricing,
        keepAliveMs: ctx.keepAliveMs,
      },
      0,
    );
    // The live agent runs the core's probe orders (prewarm, health, link); so does the simulator.
    this.core.enableProbes(true);
  }

  private drain(): void {
    for (const e of this.core.drainEvents() as CoreEvent[]) {
      if (e.type === 'changepoint') this.cps.push({ tMs: e.changeAtMs, stream: e.stream });
      else if (e.type === 'replan') this.replanLog.push({ atMs: e.atMs, reason: e.reason });
    }
  }

  admit(req: SimRequest, nowMs: number): Admission {
    return this.core.admit(req, nowMs);
  }

  decide(nowMs: number): Decision {
    const d = this.core.decide(nowMs);
    this.drain();
    return d;
  }

  onComplete(obs: BatchObservation, nowMs: number): void {
    this.core.onComplete(obs, nowMs);
  }

  replans(): number {
    return this.core.stats().replans;
  }

  changepoints(): { tMs: number; stream: string }[] {
    this.drain();
    return [...this.cps];
  }

  /** Every re-plan with its reason (events drained so far). */
  replanHistory(): ReplanRecord[] {
    this.drain();
    return [...this.replanLog];
  }
}

/** The agent's policy: re-plan on changepoints. */
export function ours(ctx: PolicyContext): CorePolicy {
  return new CorePolicy('ours', ctx, 'changepoint');
}

/** The same core re-planning every second instead (the re-plan-count baseline). */
export function oursPeriodic(ctx: PolicyContext): CorePolicy {
  return new CorePolicy('ours-periodic', ctx, { periodicMs: 1000 });
}
