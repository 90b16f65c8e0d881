/**
 * Fault injection for the local FC, per tier (or `*` for all): function errors, forced
 * throttling, slower cold starts and hangs. Randomness comes from an injected Rng so tests and
 * benchmarks are reproducible (shared/rng.ts).
 */
import { z } from 'zod';

/** Faults of one tier. Rates are probabilities per invocation in [0, 1]. */
export const tierFaultsSchema = z
  .object({
    /** Share of invocations that fail. @default 0 */
    errorRate: z.number().min(0).max(1).default(0),
    /**
     * How they fail: `handled` = 200 + x-fc-error-type HandledInvocationError,
     * `unhandled` = 200 + UnhandledInvocationError, `5xx` = 500 InternalServerError (platform fault).
     * @default 'handled'
     */
    errorMode: z.enum(['handled', 'unhandled', '5xx']).default('handled'),
    /** Share of requests answered 429 ResourceExhausted before running. @default 0 */
    throttleRate: z.number().min(0).max(1).default(0),
    /** Added to every cold start (on top of the real one and the profile's coldStartMs). @default 0 */
    extraColdStartMs: z.number().min(0).max(600_000).default(0),
    /** Share of invocations that hang until the function timeout. @default 0 */
    hangRate: z.number().min(0).max(1).default(0),
  })
  .strict();
export type TierFaults = z.infer<typeof tierFaultsSchema>;

/** Tier key, function name or `*` → faults. A later `setFaults` replaces the whole map. */
export const faultsSchema = z.record(z.string().min(1), tierFaultsSchema);
export type Faults = z.infer<typeof faultsSchema>;
export type FaultsInput = z.input<typeof faultsSchema>;

/** A uniform [0, 1) source, e.g. shared/rng.ts's Rng. */
export interface UniformSource {
  next(): number;
}

const NONE: TierFaults = tierFaultsSchema.parse({});

/** The faults that apply to a tier: its own entry (by key or function name), else `*`. */
export function faultsFor(faults: Faults, tierKey: string, functionName: string): TierFaults {
  return faults[tierKey] ?? faults[functionName] ?? faults['*'] ?? NONE;
}
