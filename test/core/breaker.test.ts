/** Breakers: a call that ran out of a tight deadline budget is late; one that had ample time and stayed silent is a fault. */
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../edge-agent/core/index.ts';
import { testProfile, testTiers } from './drive.ts';

const TIER = 'tier-c2-m4096'; // profile: 4 + 13·b ms, q99 residual 15 ms; link 30 ms + 20 Mbit/s

function timeoutAfter(s: Scheduler, wallMs: number, nowMs: number): void {
  s.onComplete({ target: TIER, batchSize: 4, bytes: 80_000, ok: false, wallMs, inferMs: 0, transferMs: 0, coldStart: false, costUsd: 0, error: 'timeout' }, nowMs);
}

describe('timeouts and the breaker', () => {
  it('late calls (budget barely above the prediction) do not take the tier out', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 1 }, 0);
    // Expected ≈ 4 + 52 + 15 + 30 + 32 + residual ≈ 130 ms; these calls had ~150 ms.
    for (let i = 0; i < 5; i++) timeoutAfter(s, 150, 1000 + i);
    expect(s.estimates().unhealthy).toEqual({});
  });

  it('calls that had more than twice their predicted time and never answered open the breaker', () => {
    const s = new Scheduler({ tiers: testTiers(), profile: testProfile(), edgeWorkers: 1 }, 0);
    timeoutAfter(s, 700, 1000);
    timeoutAfter(s, 700, 1001);
    expect(Object.keys(s.estimates().unhealthy)).toEqual([TIER]);
  });
});
