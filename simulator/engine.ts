/**
 * The discrete-event loop: arrivals from the trace, batch completions from the world, and the
 * policy's own wake-ups, all in virtual time. After every event the policy is asked to decide;
 * the loop carries out its dispatches and rejections and books every request exactly once.
 */
import { EventQueue } from './heap.ts';
import type { World } from './world.ts';
import { carryOut, type DecisionDriver } from '../edge-agent/core/index.ts';
import { EDGE, type BatchObservation, type SimPolicy, type SimRequest } from './types.ts';

/** One dispatched batch, kept for the report's route/batch-size plot. */
export interface BatchRecord {
  readonly tMs: number;
  readonly target: string;
  readonly size: number;
  readonly endMs: number;
  readonly costUsd: number;
  readonly coldStart: boolean;
}

/** Per-request outcome: latency (ms) when served, NaN when rejected. */
export interface RunTrace {
  readonly policy: string;
  readonly requests: number;
  readonly latencyMs: Float64Array;
  readonly onTime: Uint8Array;
  readonly servedAt: Uint8Array; // 0 = rejected, 1 = edge, 2 = FC
  readonly rejectCodes: Record<string, number>;
  /** Requests the policy still held when the world ran out of events (a policy bug). */
  readonly stranded: number;
  readonly batches: BatchRecord[];
  readonly costUsd: number;
  /** FC and edge calls, probes included. */
  readonly invocations: number;
  readonly coldStarts: number;
  /** Probe calls the policy ordered (prewarm, health, link). */
  readonly probes: number;
  readonly replans: number;
  readonly changepoints: { tMs: number; stream: string }[];
  /** True when `abortWhen` stopped the run; the numbers are then partial. */
  readonly aborted: boolean;
}

export interface EngineOptions {
  readonly arrivalsMs: readonly number[];
  readonly sloMs: number;
  readonly itemBytes: number;
  /** Called every ~1 % of arrivals, for a progress bar. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Stop early once this returns true (a grid search pruning hopeless candidates). */
  readonly abortWhen?: (costUsd: number, missed: number) => boolean;
}

/** Drive `policy` over the arrivals in `world` until every request is served or rejected. */
export function runEngine(policy: SimPolicy, world: World, o: EngineOptions): RunTrace {
  const n = o.arrivalsMs.length;
  const latencyMs = new Float64Array(n).fill(NaN);
  const onTime = new Uint8Array(n);
  const servedAt = new Uint8Array(n);
  const booked = new Uint8Array(n); // 1 = admitted, 2 = finished (served or rejected)
  const rejectCodes: Record<string, number> = {};
  const reqs: SimRequest[] = new Array(n);
  const batches: BatchRecord[] = [];
  const inflight = new Map<number, { idx: number[]; obs: BatchObservation; edge: boolean }>();
  const q = new EventQueue();
  let costUsd = 0;
  let nextBatchId = 0;
  let wakeAtMs: number | null = null;
  let pending = 0; // admitted, not yet finished
  let missed = 0; // rejected or late
  let probes = 0;
  let aborted = false;

  const indexOf = (id: string): number => {
    const i = Number(id);
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`policy ${policy.name} returned unknown request id ${id}`);
    return i;
  };
  const reject = (i: number, code: string): void => {
    if (booked[i] === 2) throw new Error(`policy ${policy.name} rejected request ${i}, which was already finished`);
    booked[i] = 2;
    missed++;
    rejectCodes[code] = (rejectCodes[code] ?? 0) + 1;
  };

  // Arrivals are pushed lazily, one ahead, to keep the heap small.
  if (n > 0) q.push({ tMs: o.arrivalsMs[0], kind: 'arrival', ref: 0 });
  const progressEvery = Math.max(1, Math.floor(n / 100));

  // The engine carries out a decision through the core's carryOut, as the live runtime does.
  let nowAt = 0;
  const driver: DecisionDriver = {
    reject(r) {
      const i = indexOf(r.requestId);
      if (booked[i] !== 1) throw new Error(`policy ${policy.name} rejected request ${i} in state ${booked[i]}`);
      reject(i, r.code);
      pending--;
    },
    dispatch(b) {
      const nowMs = nowAt;
      const idx = b.requestIds.map(indexOf);
      for (const i of idx) {
        if (booked[i] !== 1) throw new Error(`policy ${policy.name} dispatched request ${i} in state ${booked[i]}`);
        booked[i] = 3; // in flight
      }
      const bytes = idx.reduce((s, i) => s + reqs[i].bytes, 0);
      const run = world.run(b.target, idx.length, bytes, nowMs);
      const id = nextBatchId++;
      inflight.set(id, { idx, obs: run.obs, edge: b.target === EDGE });
      q.push({ tMs: run.endMs, kind: 'complete', ref: id });
      costUsd += run.obs.costUsd;
      batches.push({ tMs: nowMs, target: b.target, size: idx.length, endMs: run.endMs, costUsd: run.obs.costUsd, coldStart: run.obs.coldStart });
    },
    probe(pr) {
      const nowMs = nowAt;
      const run = world.run(pr.target, 1, o.itemBytes, nowMs);
      const id = nextBatchId++;
      // A probe the caller gave up on reports a timeout then; the instance still ran (and bills).
      const late = run.obs.wallMs > pr.timeoutMs;
      const obs: BatchObservation = late ? { ...run.obs, ok: false, wallMs: pr.timeoutMs, error: 'timeout', probe: true } : { ...run.obs, probe: true };
      inflight.set(id, { idx: [], obs, edge: pr.target === EDGE });
      q.push({ tMs: late ? nowMs + pr.timeoutMs : run.endMs, kind: 'complete', ref: id });
      costUsd += run.obs.costUsd;
      probes++;
    },
    wakeAt(w) {
      // A wake at or before now would spin; 0.1 ms later is the same decision instant in practice.
      const at = Math.max(w, nowAt + 0.1);
      if (wakeAtMs === null || at < wakeAtMs) {
        wakeAtMs = at;
        q.push({ tMs: at, kind: 'wake', ref: 0 });
      }
    },
  };
  const decide = (nowMs: number): void => {
    nowAt = nowMs;
    carryOut(policy.decide(nowMs), nowMs, driver);
  };

  for (let ev = q.pop(); ev; ev = q.pop()) {
    const t = ev.tMs;
    if (ev.kind === 'arrival') {
      const i = ev.ref;
      if (i + 1 < n) q.push({ tMs: o.arrivalsMs[i + 1], kind: 'arrival', ref: i + 1 });
      const req: SimRequest = { id: String(i), arrivalMs: t, deadlineMs: t + o.sloMs, bytes: o.itemBytes };
      reqs[i] = req;
      const a = policy.admit(req, t);
      if (a.ok) {
        booked[i] = 1;
        pending++;
      } else reject(i, a.code);
      if (o.onProgress && (i + 1) % progressEvery === 0) o.onProgress(i + 1, n);
    } else if (ev.kind === 'complete') {
      const b = inflight.get(ev.ref)!;
      inflight.delete(ev.ref);
      for (const i of b.idx) {
        booked[i] = 2;
        latencyMs[i] = t - reqs[i].arrivalMs;
        onTime[i] = t <= reqs[i].deadlineMs + 1e-6 ? 1 : 0;
        servedAt[i] = b.edge ? 1 : 2;
        if (!onTime[i]) missed++;
        pending--;
      }
      policy.onComplete(b.obs, t);
    } else {
      if (wakeAtMs !== t) continue; // superseded by an earlier wake
      wakeAtMs = null;
    }
    decide(t);
    if (o.abortWhen && ev.kind !== 'wake' && o.abortWhen(costUsd, missed)) {
      aborted = true;
      break;
    }
  }
  return {
    policy: policy.name,
    requests: n,
    latencyMs,
    onTime,
    servedAt,
    rejectCodes,
    stranded: pending,
    batches,
    costUsd,
    invocations: world.invocations,
    probes,
    coldStarts: world.coldStarts,
    replans: policy.replans(),
    changepoints: policy.changepoints?.() ?? [],
    aborted,
  };
}
