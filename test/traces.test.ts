import { describe, expect, it } from 'vitest';
import {
  constantBandwidth,
  inferArrivalFormat,
  inferBandwidthFormat,
  makeBandwidthTrace,
  meanBps,
  parseArrivals,
  parseBandwidthTrace,
  scaleRate,
  transferEndMs,
} from '../shared/traces/index.ts';
import { Rng } from '../shared/rng.ts';

describe('parseArrivals', () => {
  it('interarrival: accumulates gaps in seconds into sorted ms from 0', () => {
    expect(parseArrivals('0.5\n0.25\n1\n', 'interarrival')).toEqual([0, 250, 1250]);
  });

  it('timestamps-csv: reads the TIMESTAMP column with 7 fractional digits as UTC', () => {
    const csv = 'TIMESTAMP,ContextTokens\n2023-11-16 18:17:04.0319600,1\n2023-11-16 18:17:03.9799600,2\n2023-11-16 18:17:05.0000000,3\n';
    const t = parseArrivals(csv);
    expect(t.length).toBe(3);
    expect(t[0]).toBe(0);
    expect(t[1]).toBeCloseTo(52, 3);
    expect(t[2]).toBeCloseTo(1020.04, 3);
  });

  it('counts-csv: spreads each second’s count evenly inside that second', () => {
    const t = parseArrivals('second,count\n0,2\n1,0\n2,1\n');
    expect(t.map((x) => Math.round(x))).toEqual([0, 500, 2250]);
  });

  it('infers the format from content', () => {
    expect(inferArrivalFormat('0.0297682\n0.0010566\n')).toBe('interarrival');
    expect(inferArrivalFormat('TIMESTAMP,A\n2023-11-16 18:17:03.9799600,1\n')).toBe('timestamps-csv');
    expect(inferArrivalFormat('3\n5\n0\n')).toBe('counts-csv');
    expect(inferArrivalFormat('count\n3\n')).toBe('counts-csv');
  });

  it('rejects a timestamps CSV without a TIMESTAMP column with a message naming it', () => {
    expect(() => parseArrivals('time,x\nfoo,1\n', 'timestamps-csv')).toThrow(/TIMESTAMP/);
  });

  it('scaleRate divides times so the rate multiplies', () => {
    expect(scaleRate([0, 1000, 3000], 2)).toEqual([0, 500, 1500]);
    expect(() => scaleRate([0], 0)).toThrow(/rateScale/);
  });
});

describe('parseBandwidthTrace', () => {
  it('ghent: Mbit/s = bytes·8/ms/1000, windows start at elapsed − window', () => {
    const log = [
      '1454605821026 500 51.0 3.7 500000 500',
      '1454605822026 1500 51.0 3.7 250000 1000',
      '1454605823027 2500 51.0 3.7 0 1000',
    ].join('\n');
    const tr = parseBandwidthTrace(log);
    expect(tr.points.map((p) => p.tMs)).toEqual([0, 500, 1500]);
    expect(tr.bpsAt(100)).toBeCloseTo(8e6);
    expect(tr.bpsAt(600)).toBeCloseTo(2e6);
    expect(tr.bpsAt(2000)).toBe(0);
    expect(tr.durationMs).toBe(2500);
  });

  it('cooked: seconds and Mbit/s, looping after the last sample plus one gap', () => {
    const tr = parseBandwidthTrace('0.0\t4\n1.0\t2\n', 'cooked');
    expect(tr.durationMs).toBe(2000);
    expect(tr.bpsAt(500)).toBe(4e6);
    expect(tr.bpsAt(1500)).toBe(2e6);
    expect(tr.bpsAt(2500)).toBe(4e6); // looped
  });

  it('mahimahi: counts 1500-byte opportunities per bin and loops at the last timestamp', () => {
    // 10 packets in the first 500 ms, 5 in the second: 10·1500·8/0.5 s = 240 kbit/s, then 120 kbit/s.
    const stamps = [...Array.from({ length: 10 }, (_, i) => i * 40), ...Array.from({ length: 5 }, (_, i) => 500 + i * 99), 1000];
    const tr = parseBandwidthTrace(stamps.join('\n'), undefined, { mahimahiBinMs: 500 });
    expect(tr.durationMs).toBe(1000);
    expect(tr.bpsAt(10)).toBeCloseTo(240_000);
    expect(tr.bpsAt(700)).toBeCloseTo(6 * 1500 * 8 * 2); // the stamp at 1000 folds into the last bin
    expect(tr.bpsAt(1010)).toBeCloseTo(240_000);
  });

  it('infers the format from the column count', () => {
    expect(inferBandwidthFormat('0\n48\n')).toBe('mahimahi');
    expect(inferBandwidthFormat('0.0 4.0\n')).toBe('cooked');
    expect(inferBandwidthFormat('1 2 3 4 5 6\n')).toBe('ghent');
  });
});

describe('transferEndMs', () => {
  it('is rtt + bits / bps on a constant link', () => {
    expect(transferEndMs(constantBandwidth(8e6), 100, 1e6, 30)).toBeCloseTo(100 + 1000 + 30);
  });

  it('integrates across a rate change and across a zero-rate gap', () => {
    // 8 Mbit/s for 1 s, dead for 1 s, then 4 Mbit/s for 1 s; loops every 3 s.
    const tr = makeBandwidthTrace([{ tMs: 0, bps: 8e6 }, { tMs: 1000, bps: 0 }, { tMs: 2000, bps: 4e6 }], 3000);
    // 1.5 MB = 12 Mbit: 4 Mbit in the last 0.5 s of the first segment, stall 1 s, 4 Mbit in 1 s, loop, 4 Mbit at 8 Mbit/s.
    expect(transferEndMs(tr, 500, 1.5e6, 0)).toBeCloseTo(3500);
  });

  it('matches a step-by-step integration on random traces (property)', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + rng.int(6);
      const pts = Array.from({ length: n }, (_, i) => ({ tMs: i * 100, bps: rng.next() < 0.2 ? 0 : 1e5 + rng.next() * 1e6 }));
      pts[0] = { tMs: 0, bps: 5e5 };
      const tr = makeBandwidthTrace(pts, n * 100);
      const start = rng.next() * 1000;
      const bytes = rng.next() * 200_000;
      // 0.01 ms steps
      let bits = bytes * 8;
      let t = start;
      while (bits > 0) {
        bits -= tr.bpsAt(t) * 1e-5;
        t += 0.01;
      }
      expect(transferEndMs(tr, start, bytes, 5)).toBeCloseTo(t + 5, 0);
    }
  });

  it('meanBps is the time-weighted mean of one loop', () => {
    const tr = makeBandwidthTrace([{ tMs: 0, bps: 1e6 }, { tMs: 250, bps: 5e6 }], 1000);
    expect(meanBps(tr)).toBeCloseTo(0.25 * 1e6 + 0.75 * 5e6);
  });
});

describe('Rng', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = Array.from({ length: 5 }, ((r) => () => r.next())(new Rng(1)));
    const b = Array.from({ length: 5 }, ((r) => () => r.next())(new Rng(1)));
    const c = Array.from({ length: 5 }, ((r) => () => r.next())(new Rng(2)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('lognormal noise has mean ≈ 1', () => {
    const r = new Rng(3);
    let s = 0;
    for (let i = 0; i < 20000; i++) s += r.lognormal(0.2);
    expect(s / 20000).toBeCloseTo(1, 1);
  });
});
