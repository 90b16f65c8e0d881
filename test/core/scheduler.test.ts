import { describe, expect, it } from 'vitest';
import { CoreOptionError, Scheduler } from '../../edge-agent/core/index.ts';
import { drive, testProfile, testTiers } from './drive.ts';

describe('Scheduler replanning', () => {
  it('re-plans within a few seconds of an arrival-rate step', () => {
    const stepMs = 300_000;
    const r = drive({ seed: 1, durationMs: 360_000, rateAt: (t) => (t < stepMs ? 20 : 60) });
    const after = r.replans.filter((p) => p.atMs >= stepMs);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0].reason).toBe('changepoint:arrivals');
    expect(after[0].atMs - stepMs).toBeLessThan(6000);
    // Before the step, nothing after warm-up.
    expect(r.replans.filter((p) => p.atMs > 60_000 && p.atMs < stepMs)).toEqual([]);
    expect(r.scheduler.plan().rateRps).toBeGreaterThan(45);
  });

  it('re-plans within a few seconds of a bandwidth step', () => {
    const stepMs = 200_000;
    const r = drive({ seed: 2, durationMs: 260_000, rateAt: () => 20, bpsAt: (t) => (t < stepMs ? 20e6 : 2e6), scheduler: { edgeWorkers: 0 } });
    const link = r.replans.filter((p) => p.reason === 'changepoint:link');
    expect(link.length).toBeGreaterThan(0);
    expect(link[0].atMs).toBeGreaterThanOrEqual(stepMs);
    expect(link[0].atMs - stepMs).toBeLessThan(5000);
    expect(r.scheduler.estimates().link.bandwidthBps).toBeLessThan(4e6);
  });

  it('does not re-plan on a stationary stream of one virtual hour (after warm-up)', () => {
    const r = drive({ seed: 3, durationMs: 3_600_000, rateAt: () => 30 });
    expect(r.replans.filter((p) => p.atMs > 60_000)).toEqual([]);
    expect(r.scheduler.stats().changepoints).toBe(0);
  });

  it('periodic mode re-plans on its period only', () => {
    const r = drive({ seed: 4, durationMs: 60_000, rateAt: (t) => (t < 30_000 ? 10 : 40), scheduler: { replan: { periodicMs: 5000 } } });
    expect(r.replans.every((p) => p.reason === 'periodic')).toBe(true);
    expect(r.replans.length).toBeGreaterThanOrEqual(11);
  });
});

describe('Scheduler admission and views', () => {
  it('admit rejects a deadline no target can meet and sheds load over maxQueue with retryAfterMs', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 0, maxQueue: 2 }, 0);
    const tooSoon = s.admit({ id: 'x', arrivalMs: 0, deadlineMs: 5, bytes: 20000 }, 0);
    expect(tooSoon).toMatchObject({ ok: false, code: 'deadline_impossible' });
    expect(s.admit({ id: 'a', arrivalMs: 0, deadlineMs: 5000, bytes: 20000 }, 0).ok).toBe(true);
    expect(s.admit({ id: 'b', arrivalMs: 0, deadlineMs: 5000, bytes: 20000 }, 0).ok).toBe(true);
    const over = s.admit({ id: 'c', arrivalMs: 0, deadlineMs: 5000, bytes: 20000 }, 0);
    expect(over).toMatchObject({ ok: false, code: 'overloaded' });
    expect(over.ok === false && over.retryAfterMs! > 0).toBe(true);
    expect(s.queueDepth()).toBe(2);
  });

  it('plan() and estimates() survive a JSON round trip unchanged', () => {
    const r = drive({ seed: 5, durationMs: 30_000, rateAt: () => 20 });
    const p = r.scheduler.plan();
    const e = r.scheduler.estimates();
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
    expect(p.costTable.rows.length).toBe(3);
    expect(p.costTable.rows[0].costPerRequestUsd.length).toBe(32);
    expect(Object.keys(e.latency).sort()).toEqual(['edge', 'tier-c1-m2048', 'tier-c2-m4096', 'tier-c4-m8192']);
  });

  it('markUnhealthy keeps decide away from a target until the given time', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 0 }, 0);
    for (const t of testTiers().slice(1)) s.markUnhealthy(t.key, 10_000);
    s.admit({ id: 'a', arrivalMs: 0, deadlineMs: 2000, bytes: 20000 }, 0);
    const d = s.decide(0);
    expect(d.dispatch.map((x) => x.target)).toEqual(['tier-c1-m2048']);
    expect(s.plan().excludedTargets.sort()).toEqual(['tier-c2-m4096', 'tier-c4-m8192']);
    s.advance(10_001);
    expect(s.plan().excludedTargets).toEqual([]);
    expect(s.plan().reason).toBe('target-health');
  });

  it('validates options with the option name and the bad value', () => {
    expect(() => new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: -1 }, 0)).toThrow(/Expected `edgeWorkers` to be an integer ≥ 0, got `-1`/);
    expect(() => new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 1, safetyMarginMs: -3 }, 0)).toThrow(CoreOptionError);
  });
});
