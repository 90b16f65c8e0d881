/**
 * Latency profiles for the simulator: the repo's Profile JSON, or the reference measurements
 * converted to the same shape —
 * - `resnet50-measured.tsv` (target, batch, memory_mb, seconds): the `jetson-orin-edge` rows
 *   (or another target) fitted by least squares to l(b) = a + k·b, residuals kept for noise;
 * - HarmonyBatch JSON (`CPU.avg.Exponential[b-1] = [α, β, γ]`, latency = α·exp(−c/β) + γ s):
 *   evaluated at each tier's vCPU c for b = 1..4 and fitted to a + k·b; the tail from `max`.
 */
import { readFileSync } from 'node:fs';
import { profileSchema, ProfileError, type Profile, type TargetProfile } from '../shared/profile.ts';
import { fitLine, quantileSorted } from '../shared/stats.ts';
import type { Tier } from '../shared/tiers.ts';

/**
 * Fit one target of a measurement TSV (`target batch memory_mb seconds`).
 * @param target row label to use, e.g. `jetson-orin-edge`
 */
export function targetFromMeasuredTsv(text: string, target = 'jetson-orin-edge'): TargetProfile {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const line of text.split(/\r?\n/)) {
    const c = line.trim().split(/\t|\s+/);
    if (c.length < 4 || c[0] !== target) continue;
    const b = Number(c[1]);
    const s = Number(c[3]);
    if (Number.isFinite(b) && Number.isFinite(s)) {
      xs.push(b);
      ys.push(s * 1000);
    }
  }
  if (xs.length < 2) throw new ProfileError(`measurement TSV has fewer than 2 rows for target ${target}`);
  const { a, k } = fitLine(xs, ys);
  const rel = xs.map((b, i) => ys[i] / (a + k * b) - 1);
  const abs = xs.map((b, i) => ys[i] - (a + k * b)).sort((p, q) => p - q);
  return {
    aMs: a,
    kMs: k,
    residualQ95Ms: Math.max(0, quantileSorted(abs, 0.95) ?? 0),
    residualQ99Ms: Math.max(0, quantileSorted(abs, 0.99) ?? 0),
    coldStartMs: 0,
    samples: xs.length,
    relativeResiduals: rel,
  };
}

interface HarmonyJson {
  [model: string]: { CPU?: { avg?: { Exponential?: number[][] }; max?: { Exponential?: number[][] } } };
}

/**
 * Convert a HarmonyBatch CPU model into one TargetProfile per tier (by the tier's vCPU).
 * Cold start is not in the HarmonyBatch model, so it is taken from `coldStartMs`.
 */
export function tiersFromHarmonyBatch(json: unknown, tiers: readonly Tier[], coldStartMs: (tierKey: string) => number): Record<string, TargetProfile> {
  const doc = json as HarmonyJson;
  const model = Object.values(doc ?? {})[0];
  const avg = model?.CPU?.avg?.Exponential;
  const max = model?.CPU?.max?.Exponential;
  if (!Array.isArray(avg) || avg.length === 0) throw new ProfileError('HarmonyBatch JSON has no CPU.avg.Exponential coefficients');
  const out: Record<string, TargetProfile> = {};
  const at = (coef: number[], c: number): number => (coef[0] * Math.exp(-c / coef[1]) + coef[2]) * 1000;
  for (const t of tiers) {
    const bs = avg.map((_, i) => i + 1);
    const ys = avg.map((coef) => at(coef, t.vcpu));
    const { a, k } = fitLine(bs, ys);
    const tails = max && max.length === avg.length ? max.map((coef, i) => at(coef, t.vcpu) - ys[i]) : [0];
    const tail = Math.max(0, ...tails);
    out[t.key] = { aMs: a, kMs: k, residualQ95Ms: tail * 0.8, residualQ99Ms: tail, coldStartMs: coldStartMs(t.key), samples: 0 };
  }
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ProfileError(`cannot read profile ${path}`, { cause });
  }
}

/** The edge target from a Profile JSON or a measurement TSV. */
export function loadEdgeTarget(path: string): TargetProfile {
  const text = readText(path);
  if (/^\s*\{/.test(text)) {
    const p = profileSchema.parse(JSON.parse(text));
    if (!p.targets.edge) throw new ProfileError(`profile ${path} has no edge target`);
    return p.targets.edge;
  }
  return targetFromMeasuredTsv(text);
}

/** The tier targets from a Profile JSON or a HarmonyBatch JSON. */
export function loadFcTargets(path: string, tiers: readonly Tier[], base: Profile): Record<string, TargetProfile> {
  const json = JSON.parse(readText(path)) as Record<string, unknown>;
  if (json.version === 1 && json.targets) {
    const p = profileSchema.parse(json);
    return Object.fromEntries(Object.entries(p.targets).filter(([k]) => k !== 'edge'));
  }
  return tiersFromHarmonyBatch(json, tiers, (k) => base.targets[k]?.coldStartMs ?? 1300);
}
