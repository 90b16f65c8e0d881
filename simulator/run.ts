/**
 * One simulation run: every requested policy over the same trace, world and seed, plus the
 * oracle bound. Used by the CLI (main.ts), the benchmark (bench/sim.ts) and the tests.
 */
import { FC3_PRICING, type PricingTable } from '../shared/pricing.ts';
import type { Profile } from '../shared/profile.ts';
import type { Tier } from '../shared/tiers.ts';
import { meanBps, type BandwidthTrace } from '../shared/traces/bandwidth.ts';
import { runEngine, type RunTrace } from './engine.ts';
import { summarize, type PolicySummary } from './metrics.ts';
import { oracleBound, type OracleResult } from './oracle.ts';
import { cloudOnly, edgeOnly, noBatching, triton } from './policies/baselines.ts';
import { ours, oursPeriodic } from './policies/ours.ts';
import { bentoml } from './policies/bentoml.ts';
import { seed } from './policies/seed.ts';
import { chooseStatic, staticPolicy, type StaticConfig } from './policies/static-best.ts';
import type { PolicyContext, PolicyFactory, SimPolicy } from './types.ts';
import { World } from './world.ts';

/** Policies the simulator knows, in table order. `oracle` is a bound, not a runnable policy. */
export const POLICY_NAMES = ['ours', 'ours-periodic', 'seed', 'static-best', 'triton', 'bentoml', 'no-batching', 'edge-only', 'cloud-only', 'oracle'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** Policies that need static-best's offline choice (static-best itself, and bentoml's FC side) are built in runSimulation. */
const FACTORIES: Record<Exclude<PolicyName, 'static-best' | 'bentoml' | 'oracle'>, PolicyFactory> = {
  ours,
  'ours-periodic': oursPeriodic,
  seed,
  triton,
  'no-batching': noBatching,
  'edge-only': edgeOnly,
  'cloud-only': cloudOnly,
};

export interface SimConfig {
  /** Sorted arrival times, ms from 0. */
  readonly arrivalsMs: readonly number[];
  readonly bandwidth: BandwidthTrace;
  readonly tiers: readonly Tier[];
  /** Edge and tier latency the policies start from (their prior; `ours` then learns online). */
  readonly profile: Profile;
  /**
   * The world's own speeds: what batches really take. Differs from `profile` in the wrong-prior
   * regime (see `--world-scale`). @default profile
   */
  readonly worldProfile?: Profile;
  /**
   * Mean uplink the offline planners believe (`PolicyContext.meanBps`); `bandwidth` stays the
   * world's link, which probes and the world use. @default meanBps(bandwidth)
   */
  readonly priorMeanBps?: number;
  readonly sloMs: number;
  /** @default profile.itemBytes */
  readonly itemBytes: number;
  readonly edgeWorkers: number;
  /** @default profile.rttMs */
  readonly rttMs: number;
  /** FC instance keep-alive. */
  readonly keepAliveMs: number;
  readonly seed: number;
  readonly policies: readonly string[];
  /** 0 = no latency noise. @default 1 */
  readonly noiseScale?: number;
  readonly pricing?: PricingTable;
  readonly onProgress?: (policy: string, done: number, total: number) => void;
}

export interface SimResult {
  readonly policies: Record<string, PolicySummary>;
  readonly runs: Record<string, RunTrace>;
  readonly oracle: OracleResult | null;
  readonly staticBest: StaticConfig | null;
}

/** Default FC keep-alive assumed by the world (FC reclaims idle instances after minutes). */
export const DEFAULT_KEEP_ALIVE_MS = 5 * 60_000;

function validate(c: SimConfig): void {
  const need = (ok: boolean, what: string, v: unknown): void => {
    if (!ok) throw new RangeError(`Expected \`${what}\`, got \`${String(v)}\``);
  };
  need(c.sloMs > 0 && Number.isFinite(c.sloMs), 'sloMs to be a finite number > 0', c.sloMs);
  need(c.itemBytes > 0, 'itemBytes to be > 0', c.itemBytes);
  need(Number.isInteger(c.edgeWorkers) && c.edgeWorkers >= 0, 'edgeWorkers to be an integer ≥ 0', c.edgeWorkers);
  need(c.rttMs >= 0, 'rttMs to be ≥ 0', c.rttMs);
  for (const p of c.policies) {
    if (!(POLICY_NAMES as readonly string[]).includes(p)) throw new RangeError(`unknown policy ${p}; known: ${POLICY_NAMES.join(', ')}`);
  }
}

/** Context handed to policy factories. */
export function policyContext(c: SimConfig): PolicyContext {
  return {
    tiers: c.tiers,
    profile: c.profile,
    edgeWorkers: c.edgeWorkers,
    sloMs: c.sloMs,
    itemBytes: c.itemBytes,
    rttMs: c.rttMs,
    keepAliveMs: c.keepAliveMs,
    pricing: c.pricing ?? FC3_PRICING,
    probeBps: (t) => c.bandwidth.bpsAt(t),
    meanBps: c.priorMeanBps ?? meanBps(c.bandwidth),
    arrivalsMs: c.arrivalsMs,
    seed: c.seed,
  };
}

function newWorld(c: SimConfig): World {
  return new World({
    tiers: c.tiers,
    profile: c.worldProfile ?? c.profile,
    bandwidth: c.bandwidth,
    edgeWorkers: c.edgeWorkers,
    rttMs: c.rttMs,
    keepAliveMs: c.keepAliveMs,
    pricing: c.pricing,
    seed: c.seed,
    noiseScale: c.noiseScale,
  });
}

/** Run one policy object in a fresh world. */
export function runPolicy(
  c: SimConfig,
  p: SimPolicy,
  onProgress?: (done: number, total: number) => void,
  abortWhen?: (costUsd: number, missed: number) => boolean,
): RunTrace {
  return runEngine(p, newWorld(c), { arrivalsMs: c.arrivalsMs, sloMs: c.sloMs, itemBytes: c.itemBytes, onProgress, abortWhen });
}

/** Run the configured policies and the oracle. */
export function runSimulation(c: SimConfig): SimResult {
  validate(c);
  const ctx = policyContext(c);
  const policies: Record<string, PolicySummary> = {};
  const runs: Record<string, RunTrace> = {};
  let staticBest: StaticConfig | null = null;
  let oracle: OracleResult | null = null;
  // static-best's grid search replays the trace many times; bentoml reuses its choice.
  const staticChoice = (): StaticConfig =>
    (staticBest ??= chooseStatic(ctx, (p, lim) => {
      const r = runPolicy(c, p, undefined, (cost, missed) => cost > lim.maxCostUsd || missed > lim.maxMissed);
      return { ...summarize(r), aborted: r.aborted };
    }).config);
  for (const name of c.policies) {
    const progress = c.onProgress ? (d: number, t: number) => c.onProgress!(name, d, t) : undefined;
    if (name === 'oracle') {
      oracle = computeOracle(c);
      const n = c.arrivalsMs.length;
      policies.oracle = {
        requests: n,
        served: n - oracle.infeasible,
        rejected: oracle.infeasible,
        sloAttainment: n > 0 ? 1 - oracle.infeasible / n : 1,
        costUsd: oracle.costUsd,
        costPerMillionUsd: n > 0 ? (oracle.costUsd / n) * 1e6 : 0,
        p50Ms: null,
        p95Ms: null,
        p99Ms: null,
        edgeShare: n > 0 ? oracle.edgeRequests / n : null,
        invocations: null,
        coldStarts: null,
        replans: null,
      };
      continue;
    }
    let policy: SimPolicy;
    if (name === 'static-best') policy = staticPolicy(ctx, staticChoice());
    else if (name === 'bentoml') policy = bentoml(ctx, staticChoice());
    else policy = FACTORIES[name as keyof typeof FACTORIES](ctx);
    const run = runPolicy(c, policy, progress);
    runs[name] = run;
    policies[name] = summarize(run);
  }
  return { policies, runs, oracle, staticBest };
}

/** The oracle bound for this configuration (the world's fastest noise factors included). */
export function computeOracle(c: SimConfig): OracleResult {
  const w = newWorld(c);
  let maxBps = 0;
  for (const p of c.bandwidth.points) maxBps = Math.max(maxBps, p.bps);
  // The factor can depend on b only through relative residuals; take the smallest over b.
  const fmin = (t: string): number => {
    let f = Infinity;
    for (const b of [1, 2, 4, 8, 16, 32, 64, 128]) f = Math.min(f, w.minLatencyFactor(t, b));
    return f;
  };
  // The edge's noise factors in draw order, as many as one worker can start before the last
  // deadline (each run takes ≥ fastest factor × l_e(1)); the world draws one per edge run, whatever its size.
  let edgeFactors: Float64Array | undefined;
  const pe = c.profile.targets.edge;
  if (c.edgeWorkers === 1 && pe && pe.aMs + pe.kMs > 0 && c.arrivalsMs.length > 0) {
    const horizon = c.arrivalsMs[c.arrivalsMs.length - 1] + c.sloMs;
    const count = Math.ceil(horizon / (fmin('edge') * (pe.aMs + pe.kMs))) + 1;
    if (count <= 1_000_000) {
      edgeFactors = new Float64Array(count);
      for (let k = 0; k < count; k++) edgeFactors[k] = w.run('edge', 1, 0, 0).obs.inferMs / (pe.aMs + pe.kMs);
    }
  }
  return oracleBound({
    arrivalsMs: c.arrivalsMs,
    sloMs: c.sloMs,
    itemBytes: c.itemBytes,
    tiers: c.tiers,
    // A bound over the world the policies run in, not over what they believe.
    profile: c.worldProfile ?? c.profile,
    rttMs: c.rttMs,
    maxBps,
    edgeWorkers: c.edgeWorkers,
    pricing: c.pricing,
    minLatencyFactor: fmin,
    edgeFactors,
  });
}
