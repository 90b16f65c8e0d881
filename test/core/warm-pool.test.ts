import { describe, expect, it } from 'vitest';
import { WarmPool } from '../../edge-agent/core/warm-pool.ts';

describe('WarmPool', () => {
  it('a finished batch leaves a warm instance for the keep-alive; the next start is warm, after it cold', () => {
    const p = new WarmPool(1000);
    expect(p.start(0)).toBe(true); // cold
    p.finish(100);
    expect(p.warmIdle(1100)).toBe(1);
    expect(p.warmIdle(1101)).toBe(0);
    expect(p.start(1200)).toBe(true);
  });

  it('a call that never reached FC gives its warm instance back, so repeated failures do not drain the pool', () => {
    const p = new WarmPool(300_000);
    p.start(0);
    p.start(0);
    p.finish(10);
    p.finish(10);
    expect(p.warmIdle(20)).toBe(2);
    // A link outage: every call fails unreachable, many times over.
    for (let t = 100; t < 10_000; t += 100) {
      expect(p.start(t)).toBe(false);
      p.abandon();
    }
    expect(p.busy).toBe(0);
    expect(p.warmIdle(10_000)).toBe(2);
    // Still idle since 10 ms (the instance was never used again): it expires on time.
    expect(p.warmIdle(300_010)).toBe(2);
    expect(p.warmIdle(300_011)).toBe(0);
  });

  it('an abandoned cold start warms nothing', () => {
    const p = new WarmPool(1000);
    expect(p.start(0)).toBe(true);
    p.abandon();
    expect(p.busy).toBe(0);
    expect(p.warmIdle(1)).toBe(0);
  });
});
