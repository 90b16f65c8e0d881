import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FinishedLog } from '../../edge-agent/core/finished-log.ts';

describe('FinishedLog', () => {
  it('itemsSince equals the sum over the live entries at or after the time, across trims and compactions', () => {
    // Steps of (gap ms, items, trim window, query offset); long enough runs to pass the compaction threshold.
    const step = fc.record({ gapMs: fc.integer({ min: 0, max: 20 }), items: fc.integer({ min: 1, max: 16 }), queryBackMs: fc.integer({ min: 0, max: 6000 }) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1500, maxLength: 3000 }), fc.integer({ min: 50, max: 5000 }), (steps, windowMs) => {
        const log = new FinishedLog();
        const naive: Array<[number, number]> = [];
        let now = 0;
        for (const s of steps) {
          now += s.gapMs;
          log.push(now, s.items);
          naive.push([now, s.items]);
          log.trim(now - windowMs);
          while (naive.length > 0 && naive[0][0] < now - windowMs) naive.shift();
          const since = now - s.queryBackMs;
          const want = naive.filter(([t]) => t >= since).reduce((a, [, n]) => a + n, 0);
          if (log.itemsSince(since) !== want) return false;
        }
        return true;
      }),
      { numRuns: 40 },
    );
  });

  it('an empty log and a time after every entry both give 0', () => {
    const log = new FinishedLog();
    expect(log.itemsSince(0)).toBe(0);
    log.push(10, 3);
    expect(log.itemsSince(11)).toBe(0);
    expect(log.itemsSince(10)).toBe(3);
  });
});
