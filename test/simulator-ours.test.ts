import { describe, expect, it } from 'vitest';
import { Rng } from '../shared/rng.ts';
import { constantBandwidth, makeBandwidthTrace } from '../shared/traces/bandwidth.ts';
import { ours } from '../simulator/policies/ours.ts';
import { policyContext, runPolicy, runSimulation, type SimConfig } from '../simulator/run.ts';
import { poisson, profile, simConfig, tiers } from './helpers/sim-fixtures.ts';

const config = (arrivalsMs: number[], over: Partial<SimConfig> = {}): SimConfig =>
  simConfig(arrivalsMs, { keepAliveMs: 300_000, policies: ['ours', 'ours-periodic'], ...over });

const STEP_MS = 60_000;
/** Reasons that come from watching the world, as opposed to start-up bookkeeping. */
const REACTIVE = /^(changepoint|infeasible|safety|periodic)/;

describe('ours (the core driven by the simulator)', () => {
  it('re-plans within a few seconds of a rate step, and not otherwise', () => {
    for (const seed of [1, 2, 3]) {
      const rng = new Rng(seed);
      const arr = [...poisson(rng, 10, 0, STEP_MS), ...poisson(rng, 40, STEP_MS, 2 * STEP_MS)];
      const cfg = config(arr, { seed });
      const p = ours(policyContext(cfg));
      runPolicy(cfg, p);
      const reactive = p.replanHistory().filter((r) => REACTIVE.test(r.reason));
      const near = reactive.filter((r) => r.atMs >= STEP_MS && r.atMs <= STEP_MS + 5000);
      expect(near.length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(reactive.filter((r) => !near.includes(r)), `seed ${seed}`).toEqual([]);
    }
  });

  it('does not re-plan on a steady rate and a steady link after warm-up', () => {
    const arr = poisson(new Rng(8), 25, 0, 120_000);
    const cfg = config(arr);
    const p = ours(policyContext(cfg));
    runPolicy(cfg, p);
    expect(p.replanHistory().filter((r) => REACTIVE.test(r.reason))).toEqual([]);
  });

  it('ours-periodic re-plans about once a second; ours far less', () => {
    const arr = poisson(new Rng(9), 25, 0, 60_000);
    const r = runSimulation(config(arr));
    expect(r.policies['ours-periodic'].replans).toBeGreaterThanOrEqual(55);
    expect(r.policies.ours.replans!).toBeLessThan(r.policies['ours-periodic'].replans! / 10);
  });

  it('is deterministic and books every request once (served + rejected = requests)', () => {
    const rng = new Rng(12);
    const arr = [...poisson(rng, 20, 0, 20_000), ...poisson(rng, 150, 20_000, 30_000)];
    const link = makeBandwidthTrace([{ tMs: 0, bps: 5e6 }, { tMs: 4000, bps: 0.5e6 }, { tMs: 7000, bps: 0 }], 9000);
    for (const over of [{}, { sloMs: 300 }, { edgeWorkers: 0 }, { bandwidth: link }]) {
      const a = runSimulation(config(arr, over));
      const b = runSimulation(config(arr, over));
      expect(a.policies).toEqual(b.policies);
      for (const [name, s] of Object.entries(a.policies)) {
        expect(s.served + s.rejected, name).toBe(arr.length);
        expect(s.stranded, name).toBe(0);
      }
    }
  });

  it('never costs less than the oracle when it serves everything on time (no noise, no cold starts)', () => {
    const warm = structuredClone(profile);
    for (const t of Object.values(warm.targets)) t.coldStartMs = 0;
    const rng = new Rng(31);
    let compared = 0;
    for (let trial = 0; trial < 10; trial++) {
      const arr = poisson(rng, 10 + rng.next() * 150, 0, 15_000);
      const r = runSimulation(
        config(arr, { profile: warm, noiseScale: 0, sloMs: 500 + rng.int(1500), edgeWorkers: rng.int(2), policies: ['ours', 'ours-periodic', 'oracle'] }),
      );
      for (const name of ['ours', 'ours-periodic']) {
        const s = r.policies[name];
        if (s.sloAttainment < 1) continue;
        if (s.costUsd > 0) compared++;
        expect(r.policies.oracle.costUsd, `${name} trial ${trial}`).toBeLessThanOrEqual(s.costUsd + 1e-12);
      }
    }
    expect(compared).toBeGreaterThan(0);
  });
});
