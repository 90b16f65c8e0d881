/**
 * The agent's own detectors judged on the job they do (part of `npm run bench:cpd`).
 *
 * Arrivals: synthetic 1 s-tick streams at the reference Twitter trace's mean rate — Poisson,
 * negative binomial with the Twitter trace's measured dispersion (Var/mean of its 1 s counts),
 * negative binomial with the Azure trace's short-scale dispersion (Var of tick-to-tick
 * differences / 2 / mean: its slow swings are rate changes, not noise), and the Twitter trace
 * itself (looped from a random offset; a step speeds it up or slows it down by rescaling its
 * inter-arrival times) — with a rate step of ×0.8, ×1.2, ×0.5, ×1.5, ×2, ×5 after a 10 min
 * warm-up. Delay = first alarm at or after the step; a miss = none within 120 s. False alarms
 * per hour on the same streams without a step. Each row also runs the previous detector
 * (Poisson–Gamma, same hazard and alarm rule) as a baseline measured in the same run.
 *
 * Link: LinkEstimator probed every second with 100 kB over the reference bandwidth traces
 * (transfer time from the trace's own link model; > 5 s is a failed call). An event is a second
 * where the median log bandwidth of the next 10 s differs from the previous 10 s by more than
 * ×2 (outages included), merged within 10 s; an alarm within [−2 s, +15 s] of an event detects
 * it, any other alarm is false.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArrivalRateEstimator, ChangeDetector, estimatorDetectorOptions, LinkEstimator, median, PoissonGammaModel } from '../edge-agent/core/index.ts';
import { Rng } from '../shared/rng.ts';
import { loadArrivals } from '../shared/traces/arrivals.ts';
import { loadBandwidthTrace, transferEndMs } from '../shared/traces/bandwidth.ts';

/** Poisson draw (Knuth, in chunks of mean ≤ 100 so e^−λ never underflows; bench only). */
export function poissonDraw(rng: Rng, lambda: number): number {
  let k = 0;
  for (let left = lambda; left > 0; left -= 100) {
    const l = Math.exp(-Math.min(left, 100));
    let p = rng.next();
    while (p > l) {
      k++;
      p *= rng.next();
    }
  }
  return k;
}

/** Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 by the u^(1/shape) boost). */
export function gammaDraw(rng: Rng, shape: number): number {
  if (shape < 1) return gammaDraw(rng, shape + 1) * Math.pow(rng.next() || 1e-300, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = rng.normal();
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    const u = rng.next();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Negative binomial with mean λ and Var = φλ (Gamma–Poisson); Poisson when φ = 1. */
export function negBinDraw(rng: Rng, lambda: number, phi: number): number {
  if (phi <= 1) return poissonDraw(rng, lambda);
  const r = lambda / (phi - 1);
  return poissonDraw(rng, gammaDraw(rng, r) * (lambda / r));
}

/** Counts per 1 s tick of a trace (ms arrival times), with its dispersion (Var/mean) and the tick-to-tick one. */
export function tickCounts(arrivalsMs: readonly number[]): { counts: number[]; mean: number; dispersion: number; diffDispersion: number } {
  const n = Math.floor(arrivalsMs[arrivalsMs.length - 1] / 1000) + 1;
  const counts = new Array<number>(n).fill(0);
  for (const t of arrivalsMs) counts[Math.floor(t / 1000)]++;
  const mean = counts.reduce((s, c) => s + c, 0) / n;
  const v = counts.reduce((s, c) => s + (c - mean) ** 2, 0) / (n - 1);
  let d2 = 0;
  for (let i = 1; i < n; i++) d2 += (counts[i] - counts[i - 1]) ** 2;
  return { counts, mean, dispersion: v / mean, diffDispersion: d2 / (n - 1) / 2 / mean };
}

/** A stream of counts per tick: `factor(t)` is the rate multiplier in tick t. */
type Stream = (rng: Rng, ticks: number, factorAt: (t: number) => number) => number[];

function synthetic(lambda: number, phi: number): Stream {
  return (rng, ticks, f) => Array.from({ length: ticks }, (_, t) => negBinDraw(rng, lambda * f(t), phi));
}

/** The trace itself, looped from a random offset; tick t consumes f(t) seconds of trace. */
function traceStream(arrivalsMs: readonly number[]): Stream {
  const durMs = arrivalsMs[arrivalsMs.length - 1];
  return (rng, ticks, f) => {
    const out: number[] = [];
    let posMs = rng.next() * durMs;
    // Index of the first arrival ≥ posMs, by bisection; then walk.
    let lo = 0;
    let hi = arrivalsMs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arrivalsMs[mid] < posMs) lo = mid + 1;
      else hi = mid;
    }
    let i = lo;
    let loopBase = 0;
    for (let t = 0; t < ticks; t++) {
      const endMs = posMs + 1000 * f(t);
      let c = 0;
      for (;;) {
        if (i >= arrivalsMs.length) {
          i = 0;
          loopBase += durMs;
        }
        if (arrivalsMs[i] + loopBase >= endMs) break;
        c++;
        i++;
      }
      out.push(c);
      posMs = endMs;
    }
    return out;
  };
}

interface Detector {
  /** Feed one tick's count; true when an alarm fired. */
  tick(count: number): boolean;
}

const detectors: Record<string, (meanRate: number) => Detector> = {
  /** The agent's estimator as it runs (negative binomial, learned dispersion). */
  agent: () => {
    const e = new ArrivalRateEstimator({}, 0);
    let t = 0;
    return {
      tick(count) {
        e.record(t * 1000 + 1, count);
        t++;
        return e.advance(t * 1000).length > 0;
      },
    };
  },
  /** The previous detector: Poisson–Gamma with the same prior, hazard and alarm rule. */
  poisson: () => {
    const d = new ChangeDetector(new PoissonGammaModel({ alpha: 20, beta: 1 }), estimatorDetectorOptions({}, 1 / 3600));
    return { tick: (c) => d.update(c)?.changeAt != null };
  },
};

const WARMUP_TICKS = 600;
const AFTER_TICKS = 120;
const STEPS = [0.8, 1.2, 0.5, 1.5, 2, 5];

interface ArrivalRow {
  stream: string;
  detector: string;
  delays: Record<string, { median: number; found: number; runs: number }>;
  falseAlarmsPerHour: number;
  hours: number;
}

function runArrivals(streams: Record<string, Stream>, runs: number, stationaryHours: number, meanRate: number): ArrivalRow[] {
  const rows: ArrivalRow[] = [];
  for (const [sname, stream] of Object.entries(streams)) {
    for (const [dname, make] of Object.entries(detectors)) {
      const delays: ArrivalRow['delays'] = {};
      for (const step of STEPS) {
        const ds: number[] = [];
        for (let k = 0; k < runs; k++) {
          const rng = new Rng(1000 * k + Math.round(step * 10)).fork(sname);
          const counts = stream(rng, WARMUP_TICKS + AFTER_TICKS, (t) => (t >= WARMUP_TICKS ? step : 1));
          const d = make(meanRate);
          let delay = Infinity;
          counts.forEach((c, t) => {
            if (d.tick(c) && t >= WARMUP_TICKS && delay === Infinity) delay = t - WARMUP_TICKS + 1;
          });
          ds.push(delay);
        }
        const found = ds.filter(Number.isFinite).length;
        // Median over all runs (a miss counts as ∞), so a detector that misses half is not flattered.
        delays[String(step)] = { median: median(ds.map((x) => (Number.isFinite(x) ? x : 1e9))), found, runs };
      }
      let alarms = 0;
      for (let h = 0; h < stationaryHours; h++) {
        const rng = new Rng(77_000 + h).fork(sname);
        const d = make(meanRate);
        for (const c of stream(rng, 3600 + WARMUP_TICKS, () => 1).slice(0)) if (d.tick(c)) alarms++;
      }
      rows.push({ stream: sname, detector: dname, delays, falseAlarmsPerHour: alarms / (stationaryHours * (3600 + WARMUP_TICKS) / 3600), hours: stationaryHours * (3600 + WARMUP_TICKS) / 3600 });
    }
  }
  return rows;
}

function fmtDelay(d: { median: number; found: number; runs: number }): string {
  const m = d.median >= 1e9 ? 'miss' : `${d.median} s`;
  return d.found === d.runs ? m : `${m} (${d.found}/${d.runs})`;
}

/** Link events of a trace: seconds where the 10 s median log bandwidth after vs before differs by > ×2. */
function linkEvents(bpsAt: (tMs: number) => number, seconds: number): number[] {
  const lb = Array.from({ length: seconds }, (_, s) => Math.log(Math.max(bpsAt(s * 1000 + 500), 1e3)));
  const score: number[] = lb.map((_, s) => (s < 10 || s + 10 > seconds ? 0 : Math.abs(median(lb.slice(s, s + 10)) - median(lb.slice(s - 10, s)))));
  const events: number[] = [];
  for (let s = 0; s < seconds; s++) {
    if (score[s] <= Math.LN2) continue;
    const last = events[events.length - 1];
    if (last !== undefined && s - last <= 10) {
      if (score[s] > score[last]) events[events.length - 1] = s;
    } else events.push(s);
  }
  return events;
}

interface LinkRow {
  trace: string;
  minutes: number;
  events: number;
  found: number;
  medianDelayS: number;
  falseAlarmsPerHour: number;
}

function runLink(dir: string): LinkRow[] {
  const rows: LinkRow[] = [];
  const BYTES = 100_000;
  const RTT_MS = 30;
  const TIMEOUT_MS = 5000;
  for (const file of readdirSync(dir).sort()) {
    if (file.startsWith('mahimahi')) continue; // a packet schedule, not a rate log; its 500 ms bins are noise at this scale
    const trace = loadBandwidthTrace(join(dir, file));
    const seconds = Math.floor(trace.durationMs / 1000);
    const events = linkEvents((t) => trace.bpsAt(t), seconds);
    const link = new LinkEstimator({ rttMs: RTT_MS, bandwidthBps: 20e6 });
    const alarms: number[] = [];
    for (let s = 0; s < seconds; s++) {
      const startMs = s * 1000;
      const took = transferEndMs(trace, startMs, BYTES, RTT_MS) - startMs;
      const ok = took <= TIMEOUT_MS;
      if (link.observe(BYTES, ok ? took : TIMEOUT_MS, ok)) alarms.push(s);
    }
    const matched = new Set<number>();
    const delays: number[] = [];
    for (const e of events) {
      const a = alarms.find((x) => x >= e - 2 && x <= e + 15 && !matched.has(x));
      if (a !== undefined) {
        matched.add(a);
        delays.push(Math.max(0, a - e));
      }
    }
    rows.push({ trace: file, minutes: seconds / 60, events: events.length, found: delays.length, medianDelayS: delays.length ? median(delays) : Number.NaN, falseAlarmsPerHour: (alarms.length - matched.size) / (seconds / 3600) });
  }
  return rows;
}

/** Print both tables; `dataDir` is ../shared/data. */
export function printDetectorTables(dataDir: string, opts: { runs?: number; hours?: number } = {}): void {
  const t0 = performance.now();
  const runs = opts.runs ?? 15;
  const hours = opts.hours ?? 6;
  const twitterPath = join(dataDir, 'arrivals/twitter-may25-first-half.txt');
  const twitter = loadArrivals(twitterPath);
  const azure = loadArrivals(join(dataDir, 'arrivals/azure-llm-code-2023.csv'));
  const tw = tickCounts(twitter);
  const az = tickCounts(azure);
  console.log(`\nagent detectors — arrivals (1 s ticks). Twitter trace: ${tw.mean.toFixed(1)} req/s, Var/mean of 1 s counts ${tw.dispersion.toFixed(3)} (tick-to-tick ${tw.diffDispersion.toFixed(3)}); Azure code trace: ${az.mean.toFixed(2)} req/s, Var/mean ${az.dispersion.toFixed(1)}, tick-to-tick ${az.diffDispersion.toFixed(2)}`);
  const lambda = tw.mean;
  const streams: Record<string, Stream> = {
    poisson: synthetic(lambda, 1),
    [`negbin φ=${tw.dispersion.toFixed(3)} (Twitter)`]: synthetic(lambda, tw.dispersion),
    [`negbin φ=${az.diffDispersion.toFixed(2)} (Azure)`]: synthetic(lambda, az.diffDispersion),
    'Twitter trace itself': traceStream(twitter),
  };
  const rows = runArrivals(streams, runs, hours, lambda);
  console.log(`median delay to the first alarm after a step at ${lambda.toFixed(1)} req/s (${runs} runs each; "(k/n)" = found in k of n within ${AFTER_TICKS} s), false alarms per hour without a step (${rows[0].hours.toFixed(1)} h each)`);
  console.log(`${'stream'.padEnd(28)} ${'detector'.padEnd(9)} ${STEPS.map((s) => `×${s}`.padEnd(12)).join(' ')} false alarms/h`);
  for (const r of rows) console.log(`${r.stream.padEnd(28)} ${r.detector.padEnd(9)} ${STEPS.map((s) => fmtDelay(r.delays[String(s)]).padEnd(12)).join(' ')} ${r.falseAlarmsPerHour.toFixed(2)}`);
  console.log('targets: ×2 within 5 s, ±20 % within 30 s, ≤ 1 false alarm/h on the Twitter-dispersion stream');
  const link = runLink(join(dataDir, 'bandwidth'));
  console.log('\nagent detectors — link (100 kB probe every 1 s; event = 10 s median bandwidth moves > ×2, outages included)');
  console.log('trace                          min   events  found  median delay  other alarms/h');
  for (const r of link) console.log(`${r.trace.padEnd(30)} ${r.minutes.toFixed(1).padStart(5)}  ${String(r.events).padStart(6)}  ${String(r.found).padStart(5)}  ${Number.isNaN(r.medianDelayS) ? '—' : `${r.medianDelayS} s`}`.padEnd(67) + ` ${r.falseAlarmsPerHour.toFixed(1)}`);
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
