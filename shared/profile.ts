/**
 * Latency profiles: how long a batch takes on each target. One file format, used by the
 * scheduling core (priors), the local FC (tier-speed emulation), the simulator and written by
 * `npm run profile`.
 *
 * Model per target: batch latency l(b) = aMs + kMs·b, with residual quantiles for the tail and
 * a cold-start penalty. Target ids are `edge` and the tier keys of s.yaml.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const targetProfileSchema = z.object({
  /** Fixed cost per batch. */
  aMs: z.number().min(0),
  /** Marginal cost per item. */
  kMs: z.number().min(0),
  /** 95th / 99th percentile of (measured − fitted), ≥ 0. */
  residualQ95Ms: z.number().min(0).default(0),
  residualQ99Ms: z.number().min(0).default(0),
  /** Extra time of the first call on a new instance (model load + initializer). */
  coldStartMs: z.number().min(0).default(0),
  /** Samples the fit came from (0 = a prior, not a measurement). */
  samples: z.number().int().min(0).default(0),
  /** Relative residuals (measured / fitted − 1) the simulator may resample as noise. */
  relativeResiduals: z.array(z.number()).optional(),
});
export type TargetProfile = z.infer<typeof targetProfileSchema>;

export const profileSchema = z.object({
  version: z.literal(1),
  model: z.string(),
  /** Where and how the numbers came from. */
  source: z.string(),
  createdAt: z.string(),
  /** Typical size of one item on the wire. */
  itemBytes: z.number().int().positive().default(20000),
  /** Edge → FC round-trip time and uplink, when measured. */
  rttMs: z.number().min(0).default(30),
  uplinkMbps: z.number().positive().default(20),
  /** `edge` and each tier key of s.yaml. */
  targets: z.record(z.string(), targetProfileSchema),
});
export type Profile = z.infer<typeof profileSchema>;

/** Profile shipped with the repo (measured on the development machine by `npm run profile`). */
export const DEFAULT_PROFILE_PATH = fileURLToPath(new URL('../profiles/default.json', import.meta.url));

export class ProfileError extends Error {
  override name = 'ProfileError';
}

/** Read and validate a profile file. */
export function loadProfile(path: string = DEFAULT_PROFILE_PATH): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ProfileError(`cannot read profile ${path}`, { cause });
  }
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    throw new ProfileError(`profile ${path} is invalid: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

/** Predicted batch latency l(b) = a + k·b at the mean, or at a residual quantile. */
export function predictMs(p: TargetProfile, batchSize: number, quantile: 'mean' | 'q95' | 'q99' = 'mean'): number {
  const base = p.aMs + p.kMs * batchSize;
  return quantile === 'q95' ? base + p.residualQ95Ms : quantile === 'q99' ? base + p.residualQ99Ms : base;
}
