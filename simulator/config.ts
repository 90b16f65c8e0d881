/**
 * CLI options → a SimConfig: reads traces and profiles by path (reference formats included),
 * applies rate scaling and the duration cut.
 */
import { loadProfile, type Profile } from '../shared/profile.ts';
import { loadTiers, type Tier } from '../shared/tiers.ts';
import { loadArrivals, scaleRate, type ArrivalFormat } from '../shared/traces/arrivals.ts';
import { loadBandwidthTrace, meanBps, type BandwidthFormat, type BandwidthTrace } from '../shared/traces/bandwidth.ts';
import { loadEdgeTarget, loadFcTargets } from './profiles.ts';
import { DEFAULT_KEEP_ALIVE_MS, POLICY_NAMES, type SimConfig } from './run.ts';
import { LINK_SCALE_KEY, scaleBandwidth, scaleProfile, type WorldScale } from './world.ts';

export interface SimCliOptions {
  readonly arrivals: string;
  readonly arrivalsFormat?: ArrivalFormat;
  /** @default 1 */
  readonly rateScale?: number;
  readonly bandwidth: string;
  readonly bandwidthFormat?: BandwidthFormat;
  /** Profile JSON or measurement TSV. @default profiles/default.json */
  readonly edgeProfile?: string;
  /** Profile JSON or HarmonyBatch JSON. @default profiles/default.json */
  readonly fcProfile?: string;
  /** @default 20000 */
  readonly itemBytes?: number;
  readonly sloMs: number;
  /** Only the first this many seconds of the arrival trace. */
  readonly durationS?: number;
  /** @default 1 */
  readonly seed?: number;
  /** @default all */
  readonly policies?: readonly string[];
  /** @default 1 */
  readonly edgeWorkers?: number;
  /** @default profile rttMs */
  readonly rttMs?: number;
  /** @default 300000 */
  readonly keepAliveMs?: number;
  /** @default 1 */
  readonly noiseScale?: number;
  /**
   * The world's speeds relative to the prior (wrong-prior regime); absent = world and prior are
   * one profile. With a `link` factor the prior's link is the recorded trace's mean (the core's
   * `uplinkMbps`, the offline planners' `meanBps`) and the world's link is the trace × factor.
   * @example { edge: 1.5, 'tier-c1-m2048': 2, 'tier-c4-m8192': 0.6, link: 0.5 }
   */
  readonly worldScale?: WorldScale;
}

/**
 * Parse `--world-scale edge=1.5,tier-c1-m2048=2,link=0.5` (target id or `link` = factor > 0).
 * @example parseWorldScale('edge=1.5,link=0.5') // { edge: 1.5, link: 0.5 }
 */
export function parseWorldScale(text: string): WorldScale {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([\w.-]+)=(.+)$/.exec(part);
    const f = m ? Number(m[2]) : NaN;
    if (!m || !(f > 0) || !Number.isFinite(f)) throw new Error(`Expected \`--world-scale\` entries of the form target=factor (factor > 0), got \`${part}\``);
    out[m[1]] = f;
  }
  return out;
}

export interface LoadedSim {
  readonly config: SimConfig;
  readonly bandwidth: BandwidthTrace;
  /** What the run used, for the JSON `config` block. */
  readonly describe: Record<string, unknown>;
}

/** Build the profile from the reference files: the policies' prior, and the world's unless `worldScale` says otherwise. */
export function buildProfile(tiers: readonly Tier[], edgeProfile?: string, fcProfile?: string): Profile {
  const base = loadProfile();
  const targets = { ...base.targets };
  if (edgeProfile) targets.edge = loadEdgeTarget(edgeProfile);
  if (fcProfile) {
    for (const t of tiers) delete targets[t.key];
    Object.assign(targets, loadFcTargets(fcProfile, tiers, base));
  }
  return { ...base, targets, source: `${base.source}${edgeProfile ? `; edge from ${edgeProfile}` : ''}${fcProfile ? `; FC from ${fcProfile}` : ''}` };
}

/** Load everything a run needs. */
export function loadSim(o: SimCliOptions): LoadedSim {
  const tiers = loadTiers();
  const built = buildProfile(tiers, o.edgeProfile, o.fcProfile);
  let arrivalsMs = loadArrivals(o.arrivals, o.arrivalsFormat);
  if (o.rateScale !== undefined && o.rateScale !== 1) arrivalsMs = scaleRate(arrivalsMs, o.rateScale);
  if (o.durationS !== undefined) arrivalsMs = arrivalsMs.filter((t) => t < o.durationS! * 1000);
  const recorded = loadBandwidthTrace(o.bandwidth, o.bandwidthFormat);
  const linkScale = o.worldScale?.[LINK_SCALE_KEY];
  // The prior believes the recorded link; the world runs the scaled one.
  const profile = linkScale !== undefined ? { ...built, uplinkMbps: meanBps(recorded) / 1e6 } : built;
  const worldProfile = o.worldScale ? scaleProfile(profile, o.worldScale) : undefined;
  const bandwidth = linkScale !== undefined ? scaleBandwidth(recorded, linkScale) : recorded;
  const config: SimConfig = {
    arrivalsMs,
    bandwidth,
    tiers: tiers.filter((t) => profile.targets[t.key]),
    profile,
    worldProfile,
    priorMeanBps: linkScale !== undefined ? meanBps(recorded) : undefined,
    sloMs: o.sloMs,
    itemBytes: o.itemBytes ?? 20000,
    edgeWorkers: o.edgeWorkers ?? 1,
    rttMs: o.rttMs ?? profile.rttMs,
    keepAliveMs: o.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
    seed: o.seed ?? 1,
    policies: o.policies ?? POLICY_NAMES,
    noiseScale: o.noiseScale ?? 1,
  };
  const describe = {
    arrivals: o.arrivals,
    arrivalsFormat: o.arrivalsFormat ?? 'inferred',
    rateScale: o.rateScale ?? 1,
    bandwidth: o.bandwidth,
    bandwidthFormat: o.bandwidthFormat ?? 'inferred',
    edgeProfile: o.edgeProfile ?? 'profiles/default.json',
    fcProfile: o.fcProfile ?? 'profiles/default.json',
    requests: arrivalsMs.length,
    traceSeconds: arrivalsMs.length ? arrivalsMs[arrivalsMs.length - 1] / 1000 : 0,
    sloMs: config.sloMs,
    itemBytes: config.itemBytes,
    edgeWorkers: config.edgeWorkers,
    rttMs: config.rttMs,
    keepAliveMs: config.keepAliveMs,
    seed: config.seed,
    noiseScale: config.noiseScale,
    ...(o.worldScale ? { worldScale: o.worldScale } : {}),
    policies: config.policies,
  };
  return { config, bandwidth, describe };
}
