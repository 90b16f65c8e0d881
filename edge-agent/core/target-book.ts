/**
 * The per-target book: for the edge and every tier, its latency model, its slots (edge workers
 * busy, or the tier's warm pool), its circuit breaker, a 429 cap, slots held by timed-out calls,
 * and probes in flight. Every "how many batches may it start", "is it healthy" and "how much can
 * it carry" is answered here, once.
 *
 * Breakers: an `unavailable` error opens one at once, `breakerFailures` failures in a row too;
 * after a cool-down (doubling up to a maximum) it is half-open: one call at a time until one
 * succeeds. A 429 caps the tier at the calls of ours it was running, for a cool-down.
 */
import type { Tier } from '../../shared/tiers.ts';
import type { DecideTarget } from './decide.ts';
import { LatencyModel } from './latency-model.ts';
import type { ResolvedOptions } from './options.ts';
import type { PlannerInput } from './planner.ts';
import { throughputRps, type TransferPredictor } from './predictors.ts';
import { insertSorted } from './math.ts';
import { CoreOptionError } from './validate.ts';
import { WarmPool } from './warm-pool.ts';
import { EDGE, type BatchObservation, type TargetId, type TierState } from './types.ts';

interface Breaker {
  fails: number;
  cooldownMs: number;
  halfOpen: boolean;
}

/** What a failure did to the target's breaker. */
export type FailureEffect = { readonly opened: false } | { readonly opened: true; readonly untilMs: number };

export class TargetBook {
  private readonly latency = new Map<TargetId, LatencyModel>();
  private readonly pools = new Map<TargetId, WarmPool>();
  private edgeBusy = 0;
  /** Predicted end of each running edge batch (or the release of its held slot), ascending; one per busy worker. */
  private readonly edgeEnds: number[] = [];
  /** The same ends at the mean latency, ascending (admission's estimate of when the edge serves a newcomer). */
  private readonly edgeMeanEnds: number[] = [];
  /** Per tier, the mean end of each call running (cold start included), ascending: when an instance of ours may be free again. */
  private readonly tierMeanEnds = new Map<TargetId, number[]>();
  private readonly unhealthy = new Map<TargetId, number>();
  private readonly breakers = new Map<TargetId, Breaker>();
  /** Instance caps learned from 429s: the tier ran no more than `cap` of ours at once. */
  private readonly caps = new Map<TargetId, { cap: number; untilMs: number }>();
  /** Slots held after a timed-out call (the target is still working on it): target → release times. */
  private readonly held = new Map<TargetId, number[]>();
  /** Probe calls in flight: target → give-up times (several while a tier scales out). */
  private readonly probing = new Map<TargetId, number[]>();
  private readonly lastProbe = new Map<TargetId, number>();

  constructor(private readonly o: ResolvedOptions) {
    const p = o.profile;
    if (o.edgeWorkers > 0) {
      const e = p.targets[EDGE];
      if (!e) throw new CoreOptionError(`Expected \`profile.targets\` to have an \`${EDGE}\` entry when \`edgeWorkers\` is ${o.edgeWorkers}`);
      this.latency.set(EDGE, new LatencyModel(e));
    }
    for (const t of o.tiers) {
      const tp = p.targets[t.key];
      if (!tp) throw new CoreOptionError(`Expected \`profile.targets\` to have an entry for tier \`${t.key}\` (profile has ${Object.keys(p.targets).join(', ')})`);
      this.latency.set(t.key, new LatencyModel(tp));
      this.pools.set(t.key, new WarmPool(o.keepAliveMs));
    }
  }

  get tiers(): readonly Tier[] {
    return this.o.tiers;
  }

  /** The edge has workers (whatever its health). */
  get hasEdge(): boolean {
    return this.o.edgeWorkers > 0 && this.latency.has(EDGE);
  }

  has(target: TargetId): boolean {
    return this.latency.has(target);
  }

  isTier(target: TargetId): boolean {
    return this.pools.has(target);
  }

  model(target: TargetId): LatencyModel | undefined {
    return this.latency.get(target);
  }

  /** A tier's warm pool (undefined for the edge). */
  pool(target: TargetId): WarmPool | undefined {
    return this.pools.get(target);
  }

  // ── health ────────────────────────────────────────────────────────────────

  healthy(target: TargetId): boolean {
    return !this.unhealthy.has(target);
  }

  /** The edge is there and healthy. */
  get edgeUp(): boolean {
    return this.o.edgeWorkers > 0 && this.healthy(EDGE);
  }

  /** Some tier is in service (healthy). */
  tierInService(): boolean {
    for (const t of this.o.tiers) if (this.healthy(t.key)) return true;
    return false;
  }

  halfOpen(target: TargetId): boolean {
    return this.breakers.get(target)?.halfOpen === true;
  }

  /** The tier throttles (a 429 cap) or fails (a breaker): no scaling out. */
  troubled(target: TargetId): boolean {
    return this.caps.has(target) || this.breakers.has(target);
  }

  unhealthyUntil(): Record<TargetId, number> {
    return Object.fromEntries(this.unhealthy);
  }

  /** When the first target taken out of service is tried again (Infinity: none is out). */
  backInServiceAtMs(): number {
    let at = Infinity;
    for (const until of this.unhealthy.values()) at = Math.min(at, until);
    return at;
  }

  excluded(): TargetId[] {
    return [...this.unhealthy.keys()];
  }

  /** Keep `target` out until `untilMs` (an earlier time never shortens it). */
  markUnhealthy(target: TargetId, untilMs: number): void {
    const prev = this.unhealthy.get(target) ?? -Infinity;
    this.unhealthy.set(target, Math.max(prev, untilMs));
  }

  /** A call succeeded: its breaker closes. @returns true when it was half-open (the target recovered). */
  success(target: TargetId): boolean {
    const b = this.breakers.get(target);
    if (!b) return false;
    this.breakers.delete(target);
    return b.halfOpen;
  }

  /** A call failed with `code`: a cap for a 429, else a step of the breaker. */
  failure(target: TargetId, code: string, nowMs: number): FailureEffect {
    if (!this.latency.has(target)) return { opened: false };
    if (code === 'throttled' && target !== EDGE) {
      // Saturated, not broken: it ran `busy` calls of ours; don't send more until a cool-down.
      const busy = this.pools.get(target)!.busy + (this.held.get(target)?.length ?? 0);
      if (busy > 0) {
        const prev = this.caps.get(target);
        this.caps.set(target, { cap: Math.min(busy, prev?.cap ?? Infinity), untilMs: nowMs + this.o.breakerCooldownMs });
        return { opened: false };
      }
      // It refuses even with nothing of ours running: out for a cool-down like a failure.
    }
    // The edge timing out means it is behind (its slot is held), not broken.
    if (code === 'timeout' && target === EDGE) return { opened: false };
    let b = this.breakers.get(target);
    if (!b) this.breakers.set(target, (b = { fails: 0, cooldownMs: this.o.breakerCooldownMs, halfOpen: false }));
    b.fails++;
    const now = b.halfOpen || b.fails >= this.o.breakerFailures || code === 'unavailable' || code === 'throttled';
    if (!now) return { opened: false };
    if (b.halfOpen) b.cooldownMs = Math.min(this.o.breakerMaxCooldownMs, b.cooldownMs * 2);
    b.halfOpen = false;
    b.fails = 0;
    return { opened: true, untilMs: nowMs + b.cooldownMs };
  }

  /**
   * Time passes: cool-downs end (the target is half-open: back, one call at a time), caps
   * expire, held slots come back. @returns the targets that came back.
   */
  advance(nowMs: number): TargetId[] {
    const back: TargetId[] = [];
    for (const [t, until] of this.unhealthy) {
      if (until <= nowMs) {
        this.unhealthy.delete(t);
        const b = this.breakers.get(t);
        if (b) b.halfOpen = true;
        else this.breakers.set(t, { fails: 0, cooldownMs: this.o.breakerCooldownMs, halfOpen: true });
        back.push(t);
      }
    }
    for (const [t, c] of this.caps) if (c.untilMs <= nowMs) this.caps.delete(t);
    for (const [t, times] of this.held) {
      // A timed-out call's slot comes back once the target has surely finished it.
      let k = 0;
      for (const at of times) {
        if (at > nowMs) times[k++] = at;
        else if (t === EDGE) this.edgeDone();
        else {
          this.pools.get(t)?.finish(at);
          this.tierCallEnds(t);
        }
      }
      times.length = k;
      if (k === 0) this.held.delete(t);
    }
    return back;
  }

  // ── slots ─────────────────────────────────────────────────────────────────

  /** Instances of a tier we may run at once: the instance limit, under a 429 cap. */
  private instanceLimit(target: TargetId): number {
    const cap = this.caps.get(target);
    return cap ? Math.min(this.o.tierMaxInstances, cap.cap) : this.o.tierMaxInstances;
  }

  /** Batches `target` may run at once now: half-open, one. */
  private slotLimit(target: TargetId): number {
    const limit = target === EDGE ? this.o.edgeWorkers : this.instanceLimit(target);
    return this.halfOpen(target) ? Math.min(limit, 1) : limit;
  }

  /** Batches running on `target`. */
  busy(target: TargetId): number {
    return target === EDGE ? this.edgeBusy : (this.pools.get(target)?.busy ?? 0);
  }

  /** Batches in flight per target. */
  busyByTarget(): Record<TargetId, number> {
    const out: Record<TargetId, number> = {};
    if (this.o.edgeWorkers > 0) out[EDGE] = this.edgeBusy;
    for (const [k, p] of this.pools) out[k] = p.busy;
    return out;
  }

  /** A tier has a busy or an idle warm instance. */
  warm(target: TargetId, nowMs: number): boolean {
    const pool = this.pools.get(target);
    return !!pool && (pool.busy > 0 || pool.warmIdle(nowMs) > 0);
  }

  /**
   * A batch of `size` starts on `target`. @returns true when it lands on a cold instance.
   * An edge worker counts as busy until the batch's q99 latency (work waits for it only then) —
   * at the planning quantile where the tail is multiplicative: the Jetson's q99 is 2.02 × the
   * mean, so a worker on a batch of 26 looked busy for 1.6 s, the round ahead of it took ~20
   * requests and the cloud the rest over links that could not carry them. An additive q99 pads a
   * few ms on the OCR edge, where q95 measured worse (ocr-x3, LTE car-4, 1000 ms: 95.15 → 93.24 %).
   */
  start(target: TargetId, nowMs: number, size = 1): boolean {
    if (target === EDGE) {
      this.edgeBusy++;
      const m = this.latency.get(EDGE)!;
      insertSorted(this.edgeEnds, nowMs + m.predict(Math.max(1, size), m.relativeTail ? this.o.quantile : 'q99'));
      insertSorted(this.edgeMeanEnds, nowMs + m.predict(Math.max(1, size), 'mean'));
      return false;
    }
    const cold = this.pools.get(target)!.start(nowMs);
    this.tierCallStarts(target, nowMs, size, cold);
    return cold;
  }

  private tierCallStarts(target: TargetId, nowMs: number, size: number, cold: boolean): void {
    const m = this.latency.get(target)!;
    const ends = this.tierMeanEnds.get(target) ?? [];
    insertSorted(ends, nowMs + m.predict(Math.max(1, size), 'mean') + (cold ? m.coldStartMs : 0));
    this.tierMeanEnds.set(target, ends);
  }

  /** A tier's call ended (or its held slot came back): the earliest mean end goes. */
  private tierCallEnds(target: TargetId, heldUntilMs?: number): void {
    const ends = this.tierMeanEnds.get(target);
    ends?.shift();
    if (ends && heldUntilMs !== undefined) insertSorted(ends, heldUntilMs);
  }

  /**
   * A call ended: free its slot. A timed-out call frees nothing yet (the target still runs it):
   * its slot is held for the batch's predicted time; a call that never reached FC gives back
   * the warm instance it was lent.
   */
  release(obs: BatchObservation, nowMs: number): void {
    const target = obs.target;
    const pool = this.pools.get(target);
    if (obs.error === 'timeout' && !obs.probe) {
      const m = this.latency.get(target);
      const holdMs = Math.min(10_000, Math.max(100, (m?.predict(Math.max(1, obs.batchSize), 'q99') ?? 0) + (pool && obs.wallMs < (m?.coldStartMs ?? 0) ? (m?.coldStartMs ?? 0) : 0)));
      const h = this.held.get(target);
      if (h) h.push(nowMs + holdMs);
      else this.held.set(target, [nowMs + holdMs]);
      if (target === EDGE) {
        // The worker is still on it: free when the held slot comes back.
        this.edgeEnds.shift();
        this.edgeMeanEnds.shift();
        insertSorted(this.edgeEnds, nowMs + holdMs);
        insertSorted(this.edgeMeanEnds, nowMs + holdMs);
      } else this.tierCallEnds(target, nowMs + holdMs);
    } else if (target === EDGE) this.edgeDone();
    else if (pool) {
      this.tierCallEnds(target);
      if (obs.ok || obs.error === 'function_error' || obs.error === 'bad_response') pool.finish(nowMs);
      else pool.abandon(); // refused or unreachable: no instance of ours got warm
    }
  }

  /** An edge batch ended (or its held slot came back): the earliest predicted end goes. */
  private edgeDone(): void {
    this.edgeBusy = Math.max(0, this.edgeBusy - 1);
    this.edgeEnds.shift();
    this.edgeMeanEnds.shift();
  }

  /** Predicted end of each running edge batch at its mean latency, ascending. */
  edgeMeanBusyUntil(): readonly number[] {
    return this.edgeMeanEnds;
  }

  // ── probes in flight ──────────────────────────────────────────────────────

  probeInFlight(target: TargetId): boolean {
    return this.probing.has(target);
  }

  lastProbeMs(target: TargetId): number {
    return this.lastProbe.get(target) ?? -Infinity;
  }

  /** A probe call starts on `target`; it is given up on at `giveUpMs`. */
  startProbe(target: TargetId, nowMs: number, giveUpMs: number): void {
    const inFlight = this.probing.get(target);
    if (inFlight) inFlight.push(giveUpMs);
    else this.probing.set(target, [giveUpMs]);
    this.lastProbe.set(target, nowMs);
    this.tierCallStarts(target, nowMs, 1, this.pools.get(target)!.start(nowMs));
  }

  /** One probe of `target` is no longer in flight (the oldest). */
  dropProbe(target: TargetId): void {
    const inFlight = this.probing.get(target);
    inFlight?.shift();
    if (!inFlight || inFlight.length === 0) this.probing.delete(target);
  }

  /** Abandon one probe of `target` given up on: no longer in flight, its instance never got warm. */
  abandonProbe(target: TargetId): void {
    this.dropProbe(target);
    this.pools.get(target)?.abandon();
    this.tierCallEnds(target);
  }

  /** One entry per probe whose give-up time has passed (abandon each with {@link abandonProbe} as it comes). */
  *expiredProbes(nowMs: number): Generator<TargetId> {
    for (const [t, untils] of this.probing) for (const until of [...untils]) if (until <= nowMs) yield t;
  }

  // ── views for decide() and the planner ────────────────────────────────────

  /** Healthy targets as decide() sees them. */
  decideTargets(nowMs: number): DecideTarget[] {
    const targets: DecideTarget[] = [];
    if (this.edgeUp) {
      targets.push({ id: EDGE, isEdge: true, freeSlots: Math.max(0, this.slotLimit(EDGE) - this.edgeBusy), warmIdle: Infinity, busy: this.edgeBusy, busyUntilMs: this.edgeEnds, busyUntilMeanMs: this.edgeMeanEnds, latency: this.latency.get(EDGE)! });
    }
    for (const t of this.o.tiers) {
      if (!this.healthy(t.key)) continue;
      const pool = this.pools.get(t.key)!;
      targets.push({ id: t.key, isEdge: false, freeSlots: Math.max(0, this.slotLimit(t.key) - pool.busy), warmIdle: pool.warmIdle(nowMs), busy: pool.busy, busyUntilMeanMs: this.tierMeanEnds.get(t.key) ?? [], latency: this.latency.get(t.key)!, tier: t });
    }
    return targets;
  }

  /** The healthy edge and tiers as the planner sees them. */
  plannerTargets(nowMs: number): Pick<PlannerInput, 'edge' | 'tiers'> {
    const edgeModel = this.latency.get(EDGE);
    return {
      edge: this.o.edgeWorkers > 0 && edgeModel && this.healthy(EDGE) ? { workers: this.o.edgeWorkers, latency: edgeModel } : null,
      tiers: this.o.tiers.filter((t) => this.healthy(t.key)).map((t) => ({ tier: t, latency: this.latency.get(t.key)!, warm: this.warm(t.key, nowMs) })),
    };
  }

  /**
   * Items/s every healthy target finishes: the edge at `edgeCapacityRps` (the plan's), plus each
   * healthy tier's warm and busy instances (within its limit) at batch `b` over `link`.
   */
  capacityRps(nowMs: number, edgeCapacityRps: number, b: number, link: TransferPredictor, itemBytes: number): number {
    let rps = this.healthy(EDGE) ? edgeCapacityRps : 0;
    for (const t of this.o.tiers) {
      if (!this.healthy(t.key)) continue;
      const pool = this.pools.get(t.key)!;
      const instances = Math.min(this.instanceLimit(t.key), pool.busy + pool.warmIdle(nowMs));
      rps += throughputRps(instances, b, this.latency.get(t.key)!.predict(b, 'mean') + link.transferMs(b * itemBytes, 'mean'));
    }
    return rps;
  }

  /** Warm/cold state per tier. */
  tierStates(nowMs: number): Record<TargetId, TierState> {
    const tiers: Record<TargetId, TierState> = {};
    for (const [k, pool] of this.pools) {
      const idle = pool.warmIdle(nowMs);
      tiers[k] = { state: idle > 0 || pool.busy > 0 ? 'warm' : 'cold', warmIdleInstances: idle, busy: pool.busy, lastUsedMs: pool.lastUsedMs };
    }
    return tiers;
  }

  latencySnapshots(): Record<TargetId, ReturnType<LatencyModel['snapshot']>> {
    const out: Record<TargetId, ReturnType<LatencyModel['snapshot']>> = {};
    for (const [k, m] of this.latency) out[k] = m.snapshot();
    return out;
  }
}
