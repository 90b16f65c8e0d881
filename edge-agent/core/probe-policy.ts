/**
 * The probe policy: one-item calls outside the queue that the driver makes for the core
 * (when it called `enableProbes()`), reported back through onComplete with `probe: true`.
 * - health: a half-open tier with nothing running gets a probe;
 * - prewarm: a cold tier the plan wants, when the cloud is to carry traffic (the plan overflows
 *   to it, the edge is missing or unhealthy, or every slot is busy with more waiting than the
 *   edge's next round takes — a burst the edge absorbs by batching pays no cold start); a warm
 *   one scales out when it has no idle instance and fewer busy or starting than
 *   1.5 · λ_cloud · (transfer + l(b)) / b + 1 (≤ 4 a second; not while it throttles or fails);
 *   a class the edge cannot serve at all is prewarmed from its first request, sized to that
 *   count in one wave (the open tick's arrivals included) and scaled out every 250 ms;
 * - link: every `linkProbeMs` while the link estimate keeps the cloud out or puts one item's
 *   transfer at more than twice the profile's (little traffic would re-measure it): to a warm
 *   tier; with none warm, a cold probe to the smallest healthy tier at most every 5 periods.
 */
import type { AdmissionControl } from './admission.ts';
import type { CoreParts } from './parts.ts';
import type { Planning } from './planning.ts';
import { transferTimeMs } from './predictors.ts';
import { EDGE, type PlanClass, type ProbeOrder, type TargetId } from './types.ts';

export class ProbePolicy {
  private lastColdLinkProbeMs = -Infinity;
  private lastLinkObsMs = -Infinity;

  constructor(
    private readonly p: CoreParts,
    private readonly planning: Planning,
    private readonly admission: AdmissionControl,
  ) {}

  /** A call measured the link at `nowMs` (no link probe is due for a while). */
  linkObserved(nowMs: number): void {
    this.lastLinkObsMs = nowMs;
  }

  /** The probes to make now (their slots are taken in the book; events emitted). */
  orders(nowMs: number): ProbeOrder[] {
    const { o, book, link, log, classes } = this.p;
    const plan = this.planning.current;
    const itemBytes = this.p.item.bytes;
    const out: ProbeOrder[] = [];
    const order = (target: TargetId, reason: ProbeOrder['reason']) => {
      const m = book.model(target)!;
      const timeoutMs = Math.max(2000, 2 * (m.coldStartMs + m.predict(1, 'q99') + link.transferMs(itemBytes, 'q99')));
      book.startProbe(target, nowMs, nowMs + timeoutMs + 1000);
      out.push({ target, reason, timeoutMs });
      log.emit({ type: 'probe', target, reason, atMs: nowMs });
    };
    const ready = (t: TargetId, gapMs: number) => book.healthy(t) && !book.probeInFlight(t) && nowMs - book.lastProbeMs(t) >= gapMs;
    for (const t of o.tiers) if (book.halfOpen(t.key) && book.busy(t.key) === 0 && ready(t.key, 0)) order(t.key, 'health');
    const edgeRound = o.edgeWorkers * Math.max(1, plan.edge.maxBatchSize);
    const cloudWanted = plan.cloud.rateRps > 0 || o.edgeWorkers === 0 || !book.healthy(EDGE) || (this.admission.isSaturated(nowMs) && this.p.queue.length > edgeRound);
    const edge = o.edgeWorkers > 0 && book.healthy(EDGE) ? book.model(EDGE) : undefined;
    for (const c of plan.cloud.classes) {
      const t = c.tier;
      if (t === null || !c.feasible || !book.isTier(t)) continue;
      // A class the edge cannot serve at all (one item misses its budget) is the cloud's alone:
      // from its first request (before the rate estimate has a tick to plan a cloud share with),
      // sized to the arrivals, the open tick's included, and scaled in one wave (no edge absorbs
      // a burst meanwhile). Jetson × Twitter × LTE car 1, 500 ms: one probe at 2 s, then four a
      // second, refused the first 4 s (221 requests) where cloud-only missed 75.
      const cloudOnly = !edge || edge.predict(1, plan.quantile) + o.safetyMarginMs > c.budgetMs;
      if (!cloudWanted && !cloudOnly) continue;
      const pool = book.pool(t)!;
      const idle = pool.warmIdle(nowMs);
      if (pool.busy > 0 || idle > 0) {
        // Warm already: scale out when the cloud's share needs more instances than are warm or
        // starting (a new instance's cold start would miss its batch's deadline). Probes in
        // flight count as busy. Overflow beside the edge: at most four a second.
        if (idle > 0 || !book.healthy(t) || book.troubled(t)) continue;
        if (nowMs - book.lastProbeMs(t) < (cloudOnly ? 250 : 1000)) continue;
        for (let k = Math.min(cloudOnly ? Infinity : 4, this.instancesNeeded(c, t, cloudOnly, nowMs) - pool.busy); k > 0; k--) order(t, 'prewarm');
        continue;
      }
      if (!ready(t, 5000)) continue;
      // Its cold start makes the first batch miss: warm it with a probe (the cloud's own class:
      // what its share needs) while warm targets serve.
      for (let k = cloudOnly ? Math.max(1, this.instancesNeeded(c, t, cloudOnly, nowMs)) : 1; k > 0; k--) order(t, 'prewarm');
    }
    if (o.tiers.length > 0 && classes.budgets().length > 0 && nowMs - this.lastLinkObsMs >= o.linkProbeMs && (this.cloudUnused() || this.linkDegraded())) {
      let pick: TargetId | null = null;
      for (const t of o.tiers) if (ready(t.key, o.linkProbeMs) && book.pool(t.key)!.warmIdle(nowMs) > 0) pick ??= t.key;
      // No warm tier (the outage outlasted the keep-alive, or none was ever warmed: a class
      // infeasible on the link is never prewarmed): a cold probe now and then, else the
      // estimate could never recover.
      if (!pick && nowMs - this.lastColdLinkProbeMs >= 5 * o.linkProbeMs) {
        for (const t of o.tiers) if (ready(t.key, o.linkProbeMs)) pick ??= t.key;
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
   * Instances class `c`'s share keeps busy on tier `t`: 1.5 · λ_cloud · (transfer + l(b)) / b + 1.
   * The live rate, not only the plan's (a plan outlives small moves); for a class only the cloud
   * serves, the open tick's too (a burst, or the first second, before its tick closes).
   */
  private instancesNeeded(c: PlanClass, t: TargetId, cloudOnly: boolean, nowMs: number): number {
    const { o, book, link, rate } = this.p;
    const plan = this.planning.current;
    const b = Math.max(1, c.batchSize);
    const busyMs = link.transferMs(b * this.p.item.bytes, 'mean') + book.model(t)!.predict(b, 'mean');
    const liveRps = cloudOnly ? Math.max(rate.snapshot().rateRps, rate.openTickRps(nowMs)) : rate.snapshot().rateRps;
    const cloudRps = Math.max(plan.cloud.rateRps, liveRps - plan.edge.rateRps);
    return Math.min(o.tierMaxInstances, Math.ceil((1.5 * cloudRps * busyMs) / (1000 * b)) + 1);
  }

  /** The estimate puts one item's transfer at more than twice the profile's link (the cloud is priced out, so little traffic re-measures it). */
  private linkDegraded(): boolean {
    return this.p.link.transferMs(this.p.item.bytes, 'mean') > 2 * this.nominalTransferMs();
  }

  /** One item's transfer on the profile's link. */
  private nominalTransferMs(): number {
    const prof = this.p.o.profile;
    return transferTimeMs(prof.rttMs, this.p.item.bytes, prof.uplinkMbps * 1e6);
  }

  /** No healthy tier meets the tightest class even warm, given the link estimate, though it would on the profile's link. */
  private cloudUnused(): boolean {
    const { o, book, link, classes } = this.p;
    const tight = Math.min(...classes.budgets());
    let bestNow = Infinity;
    for (const t of o.tiers) if (book.healthy(t.key)) bestNow = Math.min(bestNow, book.model(t.key)!.predict(1, o.quantile));
    if (!Number.isFinite(bestNow)) return false;
    const nominal = this.nominalTransferMs();
    return link.transferMs(this.p.item.bytes, o.quantile) + bestNow + o.safetyMarginMs > tight && nominal + bestNow + o.safetyMarginMs <= tight;
  }
}
