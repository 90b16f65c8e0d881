/**
 * An emulated latency profile for the fast stand-in FC function (local-fc/echo-handler.ts,
 * ECHO_HANDLER_MODULE): small durations keep the suites fast while still separating cold from warm.
 */
import type { Profile } from '../../shared/profile.ts';
import type { Tier } from '../../shared/tiers.ts';


/** The same emulated line a + k·n (and cold start) for every tier, no residual noise. */
export function echoProfile(tiers: readonly Pick<Tier, 'key'>[], t: { aMs: number; kMs: number; coldStartMs: number }): Profile {
  return {
    version: 1,
    model: 'echo',
    source: 'test',
    createdAt: '2026-01-01T00:00:00Z',
    itemBytes: 100,
    rttMs: 0,
    uplinkMbps: 100,
    targets: Object.fromEntries(tiers.map((tier) => [tier.key, { aMs: t.aMs, kMs: t.kMs, residualQ95Ms: 0, residualQ99Ms: 0, coldStartMs: t.coldStartMs, samples: 0 }])),
  };
}
