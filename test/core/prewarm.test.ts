/**
 * Prewarming at start-up: a class only the cloud can serve is prewarmed from its first request,
 * and the cold tier gets as many instances as the arrivals need in one wave, not one at a time.
 */
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../edge-agent/core/index.ts';
import { testProfile, testTiers } from './drive.ts';

/** The test profile with an edge too slow for a 500 ms budget (a Jetson-like 585 ms for one). */
function slowEdgeScheduler(): Scheduler {
  const profile = testProfile();
  const s = new Scheduler({ tiers: testTiers(), profile: { ...profile, targets: { ...profile.targets, edge: { ...profile.targets.edge, aMs: 585, kMs: 8 } } }, edgeWorkers: 1 }, 0);
  s.enableProbes(true);
  return s;
}

/** 40 req/s of 500 ms requests for `untilMs`; the prewarm probes ordered, with their times. */
function prewarmsUnder(s: Scheduler, untilMs: number): number[] {
  const at: number[] = [];
  for (let t = 0, k = 0; t <= untilMs; t += 25, k++) {
    s.admit({ id: `r${k}`, arrivalMs: t, deadlineMs: t + 500, bytes: 20000 }, t);
    for (const p of s.decide(t).probe ?? []) if (p.reason === 'prewarm') at.push(t);
  }
  return at;
}

describe('prewarm at start-up', () => {
  it('a class the edge cannot serve is prewarmed at its first request, before the rate estimate has a tick', () => {
    const at = prewarmsUnder(slowEdgeScheduler(), 100);
    expect(at.length).toBeGreaterThan(0);
    expect(at[0]).toBe(0);
  });

  it('the cold tier is scaled to the arrival rate within the first half second, in waves rather than one instance a second', () => {
    // 1.5 × 40 req/s × ~55 ms a call (upload + one item on the planned tier), + 1: 5 instances.
    const at = prewarmsUnder(slowEdgeScheduler(), 500);
    expect(at.length).toBeGreaterThanOrEqual(5);
    expect(at.filter((t) => t <= 500).length).toBe(at.length);
  });

  it('an edge that serves the class alone is not joined by a prewarmed tier at a low rate', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 1 }, 0);
    s.enableProbes(true);
    const probes: string[] = [];
    for (let t = 0, k = 0; t <= 3000; t += 200, k++) {
      s.admit({ id: `r${k}`, arrivalMs: t, deadlineMs: t + 500, bytes: 20000 }, t);
      const d = s.decide(t);
      for (const p of d.probe ?? []) probes.push(p.reason);
      for (const b of d.dispatch) s.onComplete({ target: b.target, batchSize: b.requestIds.length, bytes: 20000 * b.requestIds.length, ok: true, wallMs: 20, inferMs: 17, transferMs: 0, coldStart: false, costUsd: 0 }, t + 20);
    }
    expect(probes.filter((r) => r === 'prewarm')).toEqual([]);
  });
});
