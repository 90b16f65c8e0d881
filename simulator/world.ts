/**
 * The simulated world: edge workers, FC tiers with instances that go cold after a keep-alive,
 * an uplink that follows a bandwidth trace, and latency noise. Its speeds may differ from the
 * profile the policies start from (`scaleProfile`, `scaleBandwidth`). Policies never see it directly;
 * they see only the observations of the batches they sent.
 */
import { costOf, FC3_PRICING, type PricingTable } from '../shared/pricing.ts';
import type { Profile, TargetProfile } from '../shared/profile.ts';
import type { Tier } from '../shared/tiers.ts';
import { Rng } from '../shared/rng.ts';
import { makeBandwidthTrace, transferEndMs, type BandwidthTrace } from '../shared/traces/bandwidth.ts';
import { EDGE, type BatchObservation, type TargetId } from './types.ts';

export interface WorldOptions {
  readonly tiers: readonly Tier[];
  readonly profile: Profile;
  readonly bandwidth: BandwidthTrace;
  readonly edgeWorkers: number;
  /** Edge → FC round trip added to every transfer. */
  readonly rttMs: number;
  /** An FC instance idle longer than this is reclaimed; the next call there is cold. */
  readonly keepAliveMs: number;
  readonly pricing?: PricingTable;
  readonly seed: number;
  /** Multiply all noise sigmas (0 = deterministic latencies, used by exactness tests). @default 1 */
  readonly noiseScale?: number;
}

/** One batch's fate in the world. */
export interface BatchRun {
  readonly endMs: number;
  readonly obs: BatchObservation;
}

/** Noise bounds: factors are clamped so the oracle can use a worst-case-fast latency. */
export const NOISE_CLAMP_SIGMAS = 3;
/** Batch size at which the profile's q95 residual calibrates the noise σ. */
export const NOISE_REFERENCE_BATCH = 8;

/**
 * Per-target latency noise with mean 1. Resamples the profile's relative residuals (centred)
 * when it has them; otherwise a lognormal with a small σ, clamped to ±3σ.
 */
export class LatencyNoise {
  private readonly residuals: number[] | null;
  constructor(
    private readonly p: TargetProfile,
    private readonly rng: Rng,
    private readonly scale: number,
  ) {
    const r = p.relativeResiduals;
    if (r && r.length >= 5) {
      const mean = r.reduce((s, x) => s + x, 0) / r.length;
      this.residuals = r.map((x) => x - mean);
    } else this.residuals = null;
  }

  /**
   * σ of the multiplicative noise: one σ per target, calibrated so the profile's q95 residual
   * holds at a batch of {@link NOISE_REFERENCE_BATCH} (clamped to [0.01, 0.3]). A σ that grew at
   * small batches would let a lucky edge look twice as fast per item, which no profile shows.
   */
  sigma(_b: number): number {
    const base = this.p.aMs + this.p.kMs * NOISE_REFERENCE_BATCH;
    const s = base > 0 && this.p.residualQ95Ms > 0 ? Math.log(1 + this.p.residualQ95Ms / base) / 1.645 : 0.05;
    return Math.min(0.3, Math.max(0.01, s)) * this.scale;
  }

  /** Smallest factor this noise can produce at batch size b. */
  minFactor(b: number): number {
    if (this.scale === 0) return 1;
    if (this.residuals) return Math.max(0.1, 1 + Math.min(...this.residuals) * this.scale);
    const s = this.sigma(b);
    return Math.exp(-NOISE_CLAMP_SIGMAS * s - (s * s) / 2);
  }

  factor(b: number): number {
    if (this.scale === 0) return 1;
    if (this.residuals) return Math.max(0.1, 1 + this.residuals[this.rng.int(this.residuals.length)] * this.scale);
    const s = this.sigma(b);
    const z = Math.max(-NOISE_CLAMP_SIGMAS, Math.min(NOISE_CLAMP_SIGMAS + 1, this.rng.normal()));
    return Math.exp(s * z - (s * s) / 2);
  }
}

interface Instance {
  freeAtMs: number;
}

/** The edge device and the FC tiers, advanced by the event loop. */
export class World {
  private readonly edgeFreeAtMs: number[];
  /** When the uplink finishes the bytes already handed to it: uploads share one FIFO pipe. */
  private uplinkFreeAtMs = 0;
  private readonly instances = new Map<TargetId, Instance[]>();
  private readonly noise = new Map<TargetId, LatencyNoise>();
  private readonly tierByKey = new Map<TargetId, Tier>();
  private readonly pricing: PricingTable;
  /** Counters for the report. */
  invocations = 0;
  coldStarts = 0;

  constructor(private readonly o: WorldOptions) {
    if (!(o.edgeWorkers >= 0) || !Number.isInteger(o.edgeWorkers)) {
      throw new RangeError(`Expected \`edgeWorkers\` to be an integer ≥ 0, got \`${o.edgeWorkers}\``);
    }
    this.edgeFreeAtMs = Array.from({ length: o.edgeWorkers }, () => 0);
    this.pricing = o.pricing ?? FC3_PRICING;
    const root = new Rng(o.seed);
    for (const t of o.tiers) {
      this.tierByKey.set(t.key, t);
      this.instances.set(t.key, []);
    }
    for (const [id, p] of Object.entries(o.profile.targets)) this.noise.set(id, new LatencyNoise(p, root.fork(`noise:${id}`), o.noiseScale ?? 1));
  }

  private targetProfile(target: TargetId): TargetProfile {
    const p = this.o.profile.targets[target];
    if (!p) throw new RangeError(`the profile has no target ${target}; it has ${Object.keys(this.o.profile.targets).join(', ')}`);
    return p;
  }

  private inferMs(target: TargetId, b: number): number {
    const p = this.targetProfile(target);
    return (p.aMs + p.kMs * b) * this.noise.get(target)!.factor(b);
  }

  /** Run one batch of `batchSize` items (`bytes` in total) sent to `target` at `nowMs`. */
  run(target: TargetId, batchSize: number, bytes: number, nowMs: number): BatchRun {
    if (target === EDGE) {
      if (this.edgeFreeAtMs.length === 0) throw new RangeError('a batch was sent to the edge, but the world has 0 edge workers');
      // The earliest-free worker takes it; a busy edge queues the batch (FIFO).
      let w = 0;
      for (let i = 1; i < this.edgeFreeAtMs.length; i++) if (this.edgeFreeAtMs[i] < this.edgeFreeAtMs[w]) w = i;
      const startMs = Math.max(nowMs, this.edgeFreeAtMs[w]);
      const inferMs = this.inferMs(EDGE, batchSize);
      const endMs = startMs + inferMs;
      this.edgeFreeAtMs[w] = endMs;
      return { endMs, obs: { target, batchSize, bytes, ok: true, wallMs: endMs - nowMs, inferMs, transferMs: 0, coldStart: false, costUsd: 0 } };
    }
    const tier = this.tierByKey.get(target);
    if (!tier) throw new RangeError(`unknown target ${target}; tiers are ${[...this.tierByKey.keys()].join(', ')}`);
    // One uplink: a batch's bytes go out after those of earlier batches (as the local FC's link
    // and a real radio link do), then take the round trip. Concurrent uploads do not each get
    // the whole bandwidth.
    const sentMs = transferEndMs(this.o.bandwidth, Math.max(nowMs, this.uplinkFreeAtMs), bytes, 0);
    this.uplinkFreeAtMs = sentMs;
    const arriveMs = sentMs + this.o.rttMs;
    const pool = this.instances.get(target)!;
    // Reclaim instances idle past keep-alive; reuse the most recently freed warm one.
    for (let i = pool.length - 1; i >= 0; i--) if (pool[i].freeAtMs + this.o.keepAliveMs < arriveMs) pool.splice(i, 1);
    let inst: Instance | undefined;
    for (const x of pool) if (x.freeAtMs <= arriveMs && (!inst || x.freeAtMs > inst.freeAtMs)) inst = x;
    const coldStart = !inst;
    if (!inst) {
      inst = { freeAtMs: arriveMs };
      pool.push(inst);
      this.coldStarts++;
    }
    this.invocations++;
    const coldMs = coldStart ? this.targetProfile(target).coldStartMs : 0;
    const inferMs = this.inferMs(target, batchSize);
    const endMs = arriveMs + coldMs + inferMs;
    inst.freeAtMs = endMs;
    // FC bills the initializer on a cold start as well as the invocation itself.
    const costUsd = costOf(tier, coldMs + inferMs, 1, this.pricing).usd;
    return {
      endMs,
      obs: { target, batchSize, bytes, ok: true, wallMs: endMs - nowMs, inferMs, transferMs: arriveMs - nowMs, coldStart, costUsd },
    };
  }

  /** Smallest noise factor for `target` at batch size b (1 without noise). */
  minLatencyFactor(target: TargetId, b: number): number {
    return this.noise.get(target)?.minFactor(b) ?? 1;
  }
}

/**
 * How the world's speeds differ from the policies' prior, for the wrong-prior regime: a factor per
 * target id (`edge` or a tier key; latency × factor, so 1.5 = 50 % slower) and `link` (bandwidth ×
 * factor, so 0.5 = half the prior's link). Targets not named keep the prior's speed.
 * @example { edge: 1.5, 'tier-c1-m2048': 2, 'tier-c4-m8192': 0.6, link: 0.5 }
 */
export type WorldScale = Readonly<Record<string, number>>;

/** The key of {@link WorldScale} that scales the link instead of a target. */
export const LINK_SCALE_KEY = 'link';

/**
 * The world's profile from the prior: each named target's latency line and residual quantiles
 * times its factor (relative residuals and cold starts unchanged: the model gets slower, not
 * noisier, and loading it is a separate cost).
 */
export function scaleProfile(prior: Profile, scale: WorldScale): Profile {
  const targets: Record<string, TargetProfile> = { ...prior.targets };
  for (const [id, f] of Object.entries(scale)) {
    if (id === LINK_SCALE_KEY) continue;
    const p = targets[id];
    if (!p) throw new RangeError(`world scale names target ${id}, which the profile does not have; it has ${Object.keys(targets).join(', ')}`);
    if (!(f > 0) || !Number.isFinite(f)) throw new RangeError(`Expected the world scale of \`${id}\` to be a finite number > 0, got \`${f}\``);
    targets[id] = { ...p, aMs: p.aMs * f, kMs: p.kMs * f, residualQ95Ms: p.residualQ95Ms * f, residualQ99Ms: p.residualQ99Ms * f };
  }
  return { ...prior, targets, source: `${prior.source}; world scaled ${JSON.stringify(scale)}` };
}

/** The world's link from the recorded one: every step's bandwidth times `factor`. */
export function scaleBandwidth(trace: BandwidthTrace, factor: number): BandwidthTrace {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`Expected the link scale to be a finite number > 0, got \`${factor}\``);
  if (factor === 1) return trace;
  return makeBandwidthTrace(trace.points.map((p) => ({ tMs: p.tMs, bps: p.bps * factor })), trace.durationMs);
}
