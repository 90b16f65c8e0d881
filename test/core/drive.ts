/** A tiny virtual-time driver for the Scheduler in tests: Poisson arrivals, profile-shaped service times. */
import { Rng } from '../../shared/rng.ts';
import type { Profile } from '../../shared/profile.ts';
import type { Tier } from '../../shared/tiers.ts';
import { Scheduler, type Decision, type SchedulerOptions } from '../../edge-agent/core/index.ts';

export function testTiers(): Tier[] {
  const mk = (vcpu: number, memoryMb: number): Tier => ({
    key: `tier-c${vcpu}-m${memoryMb}`,
    functionName: `f-${vcpu}`,
    vcpu,
    memoryMb,
    diskSizeMb: 512,
    timeoutS: 60,
    instanceConcurrency: 1,
    region: 'cn-hangzhou',
    runtime: 'nodejs20',
    handler: 'index.handler',
    code: '.',
    environmentVariables: {},
  });
  return [mk(1, 2048), mk(2, 4096), mk(4, 8192)];
}

export function testProfile(): Profile {
  return {
    version: 1,
    model: 'test',
    source: 'test',
    createdAt: '2026-01-01T00:00:00Z',
    itemBytes: 20000,
    rttMs: 30,
    uplinkMbps: 20,
    targets: {
      edge: { aMs: 2, kMs: 15, residualQ95Ms: 8, residualQ99Ms: 15, coldStartMs: 0, samples: 0 },
      'tier-c1-m2048': { aMs: 5, kMs: 24, residualQ95Ms: 10, residualQ99Ms: 20, coldStartMs: 1400, samples: 0 },
      'tier-c2-m4096': { aMs: 4, kMs: 13, residualQ95Ms: 8, residualQ99Ms: 15, coldStartMs: 1300, samples: 0 },
      'tier-c4-m8192': { aMs: 4, kMs: 8, residualQ95Ms: 6, residualQ99Ms: 12, coldStartMs: 1300, samples: 0 },
    },
  };
}

export interface DriveOptions {
  readonly seed: number;
  readonly durationMs: number;
  /** Arrival rate (req/s) at a time. */
  readonly rateAt: (tMs: number) => number;
  /** Uplink bits/s at a time. */
  readonly bpsAt?: (tMs: number) => number;
  readonly budgetMs?: number;
  readonly noiseSigma?: number;
  readonly scheduler?: Partial<SchedulerOptions>;
}

export interface DriveResult {
  readonly scheduler: Scheduler;
  readonly replans: { reason: string; atMs: number }[];
  readonly admitted: Set<string>;
  readonly outcomes: Map<string, number>;
  /** Admitted requests dispatched that finished after their deadline, and dispatches sent at risk. */
  readonly late: number;
  readonly atRiskDispatches: number;
  readonly dispatches: number;
  /** Requests dispatched (each once). */
  readonly served: number;
}

/** Run arrivals and completions in virtual time; every decision is applied. */
export function drive(o: DriveOptions): DriveResult {
  const rng = new Rng(o.seed);
  const profile = testProfile();
  const s = new Scheduler({ tiers: testTiers(), profile, edgeWorkers: 1, ...o.scheduler }, 0);
  const bpsAt = o.bpsAt ?? (() => 20e6);
  const sigma = o.noiseSigma ?? 0.05;
  const inflight: { endMs: number; obs: Parameters<Scheduler['onComplete']>[0] }[] = [];
  const admitted = new Set<string>();
  const outcomes = new Map<string, number>();
  const replans: { reason: string; atMs: number }[] = [];
  const deadlines = new Map<string, number>();
  let late = 0;
  let atRiskDispatches = 0;
  let dispatches = 0;
  let served = 0;
  let uplinkFreeAtMs = -Infinity;
  const apply = (d: Decision, now: number) => {
    for (const r of d.reject) outcomes.set(r.requestId, (outcomes.get(r.requestId) ?? 0) + 1);
    for (const x of d.dispatch) {
      for (const id of x.requestIds) outcomes.set(id, (outcomes.get(id) ?? 0) + 1);
      const n = x.requestIds.length;
      const p = profile.targets[x.target];
      const inferMs = (p.aMs + p.kMs * n) * rng.lognormal(sigma);
      const bytes = n * 20000;
      // One uplink, as in the simulator's world and the local FC: an upload goes out after those ahead of it.
      let transferMs = 0;
      if (x.target !== 'edge') {
        uplinkFreeAtMs = Math.max(now, uplinkFreeAtMs) + ((bytes * 8000) / bpsAt(now)) * rng.lognormal(sigma);
        transferMs = uplinkFreeAtMs - now + 30 * rng.lognormal(sigma);
      }
      dispatches++;
      served += x.requestIds.length;
      if (x.atRisk) atRiskDispatches++;
      for (const id of x.requestIds) if (now + inferMs + transferMs > deadlines.get(id)!) late++;
      inflight.push({ endMs: now + inferMs + transferMs, obs: { target: x.target, batchSize: n, bytes, ok: true, wallMs: inferMs + transferMs, inferMs, transferMs, coldStart: false, costUsd: 0 } });
    }
    for (const e of s.drainEvents()) if (e.type === 'replan') replans.push({ reason: e.reason, atMs: e.atMs });
  };
  let t = 0;
  let id = 0;
  let wake: number | null = null;
  while (t < o.durationMs) {
    const next = t + rng.exponential(Math.max(o.rateAt(t), 1e-6) / 1000);
    // Completions and wake-ups before the next arrival, in time order.
    for (;;) {
      inflight.sort((a, b) => a.endMs - b.endMs);
      const c = inflight[0]?.endMs ?? Infinity;
      const w = wake ?? Infinity;
      const first = Math.min(c, w);
      if (first > next) break;
      if (c <= w) {
        const f = inflight.shift()!;
        s.onComplete(f.obs, f.endMs);
        const d = s.decide(f.endMs);
        wake = d.wakeAtMs;
        apply(d, f.endMs);
      } else {
        const d = s.decide(w);
        wake = d.wakeAtMs !== null && d.wakeAtMs <= w ? w + 0.001 : d.wakeAtMs;
        apply(d, w);
      }
    }
    t = next;
    const rid = `r${id++}`;
    const r = s.admit({ id: rid, arrivalMs: t, deadlineMs: t + (o.budgetMs ?? 500), bytes: 20000 }, t);
    if (r.ok) admitted.add(rid);
    deadlines.set(rid, t + (o.budgetMs ?? 500));
    const d = s.decide(t);
    wake = d.wakeAtMs;
    apply(d, t);
  }
  return { scheduler: s, replans, admitted, outcomes, late, atRiskDispatches, dispatches, served };
}
