/** A failed batch's requests go back into the queue with `requeue`: one arrival per request, whatever happens to its batches. */
import { describe, expect, it } from 'vitest';
import { Scheduler, type Decision } from '../../edge-agent/core/index.ts';
import { testProfile, testTiers } from './drive.ts';

/** 20 req/s for 30 s with 800 ms deadlines, no edge; every tier call fails (`failing`) or succeeds at its profile's speed. */
function run(failing: boolean): { rateRps: number; requeued: number; admitted: number } {
  const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 0, breakerFailures: 1000 }, 0);
  s.enableProbes(false);
  const reqs = new Map<string, { id: string; arrivalMs: number; deadlineMs: number; bytes: number }>();
  let requeued = 0;
  let admitted = 0;
  const act = (d: Decision, now: number) => {
    for (const o of d.dispatch) {
      const ok = !failing;
      s.onComplete({ target: o.target, batchSize: o.requestIds.length, bytes: 20_000 * o.requestIds.length, ok, wallMs: 80, inferMs: 40, transferMs: 40, coldStart: false, costUsd: 0, ...(ok ? {} : { error: 'function_error' }) }, now + 80);
      if (ok) continue;
      for (const id of o.requestIds) {
        const r = reqs.get(id)!;
        if (r.deadlineMs > now + 80 && s.requeue(r, now + 80)) requeued++;
      }
    }
  };
  for (let i = 0; i < 600; i++) {
    const now = i * 50;
    const req = { id: `r${i}`, arrivalMs: now, deadlineMs: now + 800, bytes: 20_000 };
    reqs.set(req.id, req);
    if (s.admit(req, now).ok) admitted++;
    act(s.decide(now), now);
    act(s.decide(now + 80), now + 80);
  }
  s.advance(30_000);
  return { rateRps: s.estimates().rate.rateRps, requeued, admitted };
}

describe('requeue', () => {
  it('a tier failing every call does not raise the arrival-rate estimate', () => {
    const ok = run(false);
    const failing = run(true);
    expect(failing.requeued).toBeGreaterThan(100); // retries really happened
    // The same 20 req/s of arrivals either way (re-admitting each retry read ~2×).
    expect(ok.rateRps).toBeGreaterThan(16);
    expect(ok.rateRps).toBeLessThan(24);
    expect(Math.abs(failing.rateRps - ok.rateRps)).toBeLessThan(0.5);
  });

  it('requeue of a request already waiting is refused, and it leaves the queue once', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 1 }, 0);
    const r = { id: 'a', arrivalMs: 0, deadlineMs: 5000, bytes: 20_000 };
    expect(s.admit(r, 0).ok).toBe(true);
    expect(s.requeue(r, 1)).toBe(false);
    expect(s.queueDepth()).toBe(1);
    const d = s.decide(2);
    expect(d.dispatch.flatMap((o) => o.requestIds)).toEqual(['a']);
    expect(s.requeue(r, 3)).toBe(true);
    expect(s.queueDepth()).toBe(1);
  });
});
