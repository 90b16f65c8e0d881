/**
 * The uplink's backlog: uploads share one link, so a cloud batch sent now waits behind those sent
 * in earlier decisions, and the link is learnt from the bytes through it by a call's end.
 */
import { describe, expect, it } from 'vitest';
import { FC3_PRICING } from '../../shared/pricing.ts';
import { decide, fixedLink, linePredictor, Scheduler, type DecideState } from '../../edge-agent/core/index.ts';
import { LinkEstimator } from '../../edge-agent/core/link-estimator.ts';
import { UplinkBacklog } from '../../edge-agent/core/uplink-backlog.ts';
import { drive, testProfile, testTiers } from './drive.ts';

const ITEM = 20_000;

function oneWaiting(uplinkAheadBytes: number): DecideState {
  return {
    queue: [{ id: 'r0', arrivalMs: 0, deadlineMs: 3000, bytes: ITEM }],
    targets: [{ id: 't0', isEdge: false, freeSlots: 1, warmIdle: 1, busy: 0, latency: linePredictor({ aMs: 6, kMs: 48, coldStartMs: 1300 }), tier: { vcpu: 0.5, memoryMb: 1024 } }],
    link: fixedLink(30, 1e6),
    plan: { edgeBatchSize: 1, edgeMaxBatchSize: 1, classes: [{ budgetMs: 3000, tier: 't0', batchSize: 1 }], sendWhenFull: true },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 32,
    pricing: FC3_PRICING,
    uplinkAheadBytes,
  };
}

describe('uplink backlog', () => {
  it('decide counts the bytes of earlier calls still ahead on the uplink', () => {
    const alone = decide(oneWaiting(0), 0).dispatch[0];
    const behind = decide(oneWaiting(5 * ITEM), 0).dispatch[0];
    // 1 Mbit/s: five items ahead are 5 · 160 ms of upload before this one's.
    expect(alone.predictedMs).toBeCloseTo(30 + 160 + 54, 6);
    expect(behind.predictedMs! - alone.predictedMs!).toBeCloseTo(800, 6);
  });

  it("the scheduler carries a cloud call's bytes into the next decisions until the link has sent them", () => {
    const s = new Scheduler({ tiers: testTiers(), profile: { ...testProfile(), uplinkMbps: 1 }, edgeWorkers: 0 }, 0);
    for (let k = 0; k < 4; k++) expect(s.admit({ id: `r${k}`, arrivalMs: 0, deadlineMs: 60_000, bytes: ITEM }, 0).ok).toBe(true);
    const sent = s.decide(0, { flush: true }).dispatch.filter((o) => o.target !== 'edge');
    expect(sent.length).toBeGreaterThan(0);
    const bytes = sent.reduce((n, o) => n + o.requestIds.length * ITEM, 0);
    // At the prior's 1 Mbit/s, k bytes take k · 8000 / 1e6 ms: half of them are still ahead halfway.
    const sendMs = (bytes * 8000) / 1e6;
    expect(s.decideState(sendMs / 2).uplinkAheadBytes).toBeCloseTo(bytes / 2, 0);
    expect(s.decideState(sendMs + 1).uplinkAheadBytes).toBe(0);
  });

  it("learns a shared link's bandwidth while the uploads queue on it", () => {
    // 12 req/s, all to the cloud, on 4 Mbit/s: ≈ 1.9 Mbit/s offered, in bursts that queue.
    const r = drive({ seed: 7, durationMs: 120_000, rateAt: () => 12, bpsAt: () => 4e6, scheduler: { edgeWorkers: 0 } });
    const bps = r.scheduler.estimates().link.bandwidthBps;
    expect(bps).toBeGreaterThan(3.4e6);
    expect(bps).toBeLessThan(4.8e6);
  });
});

describe('the backlog when the link estimate changes', () => {
  it('is kept in bytes: a jump in the estimate drains it faster, never turns it into more bytes than were sent', () => {
    const slow = new LinkEstimator({ rttMs: 30, bandwidthBps: 0.1e6 }); // an outage's estimate
    const fast = new LinkEstimator({ rttMs: 30, bandwidthBps: 36e6 }); // the one after it
    const backlog = new UplinkBacklog();
    for (let i = 0; i < 5; i++) backlog.sent('t0', 0, ITEM, slow);
    // At 0.1 Mbit/s the 100 kB take 8 s; 1 s on, 87.5 kB are still ahead.
    expect(backlog.bytesAhead(1000, slow)).toBeCloseTo(5 * ITEM - 12_500, 6);
    // At 36 Mbit/s they were gone 22 ms after that (as the time the link is free, read at the new
    // bandwidth, they were 31.5 MB).
    expect(backlog.bytesAhead(1000, fast)).toBe(0);
    // What each send waited behind is what was ahead when it left.
    expect([0, 1, 2, 3, 4].map(() => backlog.aheadOf('t0', ITEM, 0))).toEqual([0, ITEM, 2 * ITEM, 3 * ITEM, 4 * ITEM]);
  });
});
