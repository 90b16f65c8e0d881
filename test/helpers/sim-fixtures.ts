// Inputs the simulator suites share: Poisson arrivals from a seeded Rng, and a SimConfig over
// the repo's tiers and default profile on a constant 20 Mbit/s link.
import type { Rng } from '../../shared/rng.ts';
import { loadProfile } from '../../shared/profile.ts';
import { loadTiers } from '../../shared/tiers.ts';
import { constantBandwidth } from '../../shared/traces/bandwidth.ts';
import type { SimConfig } from '../../simulator/run.ts';

export const tiers = loadTiers();
export const profile = loadProfile();

/** Poisson arrival times (ms) at `ratePerS` in [fromMs, toMs). */
export function poisson(rng: Rng, ratePerS: number, fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  for (let t = fromMs + rng.exponential(ratePerS / 1000); t < toMs; t += rng.exponential(ratePerS / 1000)) out.push(t);
  return out;
}

/** A run over `arrivalsMs`: SLO 1 s, 20 KB items, one edge worker, rtt 30 ms, seed 1. */
export function simConfig(arrivalsMs: number[], over: Partial<SimConfig> & Pick<SimConfig, 'keepAliveMs' | 'policies'>): SimConfig {
  return {
    arrivalsMs,
    bandwidth: constantBandwidth(20e6),
    tiers,
    profile,
    sloMs: 1000,
    itemBytes: 20000,
    edgeWorkers: 1,
    rttMs: 30,
    seed: 1,
    ...over,
  };
}
