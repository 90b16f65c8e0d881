/**
 * Bandwidth traces: parsers for the link logs in ../shared/data/bandwidth and a piecewise-constant
 * model of the link that loops, plus the integral that turns "n bytes leave at t" into "arrive at t'".
 *
 * Formats (see ../shared/data/README.md):
 * - `ghent`: whitespace columns `unixMs elapsedMs lat lon bytesInWindow windowMs` (LTE, van der Hooft 2016)
 * - `cooked`: `seconds Mbit/s` (Pensieve's cooked HSDPA traces)
 * - `mahimahi`: one ms timestamp per 1500-byte delivery opportunity; the file loops
 */
import { readFileSync } from 'node:fs';

export type BandwidthFormat = 'ghent' | 'cooked' | 'mahimahi';
export const BANDWIDTH_FORMATS: readonly BandwidthFormat[] = ['ghent', 'cooked', 'mahimahi'];

/** One step of a piecewise-constant link: from `tMs` until the next point the link moves `bps` bits/s. */
export interface BandwidthPoint {
  readonly tMs: number;
  readonly bps: number;
}

/** A link over time; time past `durationMs` wraps around (traces loop, as in mahimahi). */
export interface BandwidthTrace {
  /** Sorted by `tMs`, first at 0. */
  readonly points: readonly BandwidthPoint[];
  /** Length of one loop. */
  readonly durationMs: number;
  /** Bits per second at `tMs` (looped). */
  bpsAt(tMs: number): number;
}

export class TraceFormatError extends Error {
  override name = 'TraceFormatError';
}

/** Bytes in one mahimahi delivery opportunity (one MTU-sized packet). */
export const MAHIMAHI_PACKET_BYTES = 1500;

export interface BandwidthParseOptions {
  /** Bin width used to turn mahimahi packet opportunities into a rate. @default 500 */
  readonly mahimahiBinMs?: number;
}

/**
 * Build a looping trace from sorted points. The last point holds until `durationMs`.
 * @example const t = makeBandwidthTrace([{ tMs: 0, bps: 8e6 }], 1000); t.bpsAt(1500) // 8e6
 */
export function makeBandwidthTrace(points: readonly BandwidthPoint[], durationMs: number): BandwidthTrace {
  if (points.length === 0) throw new TraceFormatError('a bandwidth trace needs at least one point');
  if (!(durationMs > 0) || !Number.isFinite(durationMs)) {
    throw new TraceFormatError(`Expected \`durationMs\` to be a finite number > 0, got \`${durationMs}\``);
  }
  const sorted = [...points].sort((a, b) => a.tMs - b.tMs);
  const t0 = sorted[0].tMs;
  // Shift so the first point is at 0: every lookup then lands inside [0, durationMs).
  const pts = sorted.map((p) => ({ tMs: p.tMs - t0, bps: Math.max(0, p.bps) })).filter((p) => p.tMs < durationMs);
  const times = Float64Array.from(pts.map((p) => p.tMs));
  const rates = Float64Array.from(pts.map((p) => p.bps));
  return {
    points: pts,
    durationMs,
    bpsAt(tMs: number): number {
      return rates[segmentIndex(times, wrap(tMs, durationMs))];
    },
  };
}

function wrap(tMs: number, durationMs: number): number {
  const r = tMs % durationMs;
  return r < 0 ? r + durationMs : r;
}

/** Index of the last point with time ≤ t (binary search). */
function segmentIndex(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function numericRows(text: string): number[][] {
  const rows: number[][] = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (s === '' || s.startsWith('#')) continue;
    const cols = s.split(/[\s,]+/).map(Number);
    if (cols.some((c) => !Number.isFinite(c))) continue; // header or junk line
    rows.push(cols);
  }
  return rows;
}

/**
 * Guess the format from the column count: 1 → mahimahi, 2 → cooked, ≥ 6 → ghent.
 * @throws TraceFormatError when the content matches none.
 */
export function inferBandwidthFormat(text: string): BandwidthFormat {
  const rows = numericRows(text).slice(0, 20);
  if (rows.length === 0) throw new TraceFormatError('bandwidth trace has no numeric rows');
  const n = rows[0].length;
  if (n === 1) return 'mahimahi';
  if (n === 2) return 'cooked';
  if (n >= 6) return 'ghent';
  throw new TraceFormatError(`cannot tell the bandwidth format from ${n} columns (expected 1 mahimahi, 2 cooked, 6 ghent)`);
}

function parseGhent(rows: number[][]): BandwidthTrace {
  const points: BandwidthPoint[] = [];
  let endMs = -Infinity;
  for (const r of rows) {
    if (r.length < 6) throw new TraceFormatError(`ghent rows have 6 columns, got ${r.length}: ${r.join(' ')}`);
    const elapsedMs = r[1];
    const bytes = r[4];
    const windowMs = r[5];
    if (!(windowMs > 0)) continue;
    // The bytes were received during the window that ends at elapsedMs.
    points.push({ tMs: elapsedMs - windowMs, bps: (bytes * 8 * 1000) / windowMs });
    endMs = Math.max(endMs, elapsedMs);
  }
  if (points.length === 0) throw new TraceFormatError('ghent trace has no window with a positive length');
  const startMs = Math.min(...points.map((p) => p.tMs));
  return makeBandwidthTrace(points, endMs - startMs);
}

function parseCooked(rows: number[][]): BandwidthTrace {
  const points = rows.map((r) => ({ tMs: r[0] * 1000, bps: r[1] * 1e6 }));
  if (points.length === 0) throw new TraceFormatError('cooked trace is empty');
  const t0 = points[0].tMs;
  const last = points[points.length - 1].tMs;
  // The last sample lasts as long as the one before it (the format gives no end time).
  const lastGap = points.length > 1 ? last - points[points.length - 2].tMs : 1000;
  return makeBandwidthTrace(points, last - t0 + (lastGap > 0 ? lastGap : 1000));
}

function parseMahimahi(rows: number[][], binMs: number): BandwidthTrace {
  if (!(binMs > 0)) throw new TraceFormatError(`Expected \`mahimahiBinMs\` to be a number > 0, got \`${binMs}\``);
  const stamps = rows.map((r) => r[0]);
  if (stamps.length === 0) throw new TraceFormatError('mahimahi trace is empty');
  // mahimahi replays the file with a period equal to its last timestamp.
  const durationMs = Math.max(stamps[stamps.length - 1], 1);
  const nBins = Math.ceil(durationMs / binMs);
  const counts = new Float64Array(nBins);
  for (const s of stamps) counts[Math.min(nBins - 1, Math.floor(s / binMs))]++;
  const points: BandwidthPoint[] = [];
  for (let i = 0; i < nBins; i++) {
    const widthMs = Math.min(binMs, durationMs - i * binMs);
    points.push({ tMs: i * binMs, bps: (counts[i] * MAHIMAHI_PACKET_BYTES * 8 * 1000) / widthMs });
  }
  return makeBandwidthTrace(points, durationMs);
}

/**
 * Parse a bandwidth log; the format is inferred from the content when not given.
 * @example parseBandwidthTrace('0 8\n1 4\n', 'cooked').bpsAt(1500) // 4e6
 */
export function parseBandwidthTrace(text: string, format?: BandwidthFormat, options: BandwidthParseOptions = {}): BandwidthTrace {
  const fmt = format ?? inferBandwidthFormat(text);
  const rows = numericRows(text);
  switch (fmt) {
    case 'ghent':
      return parseGhent(rows);
    case 'cooked':
      return parseCooked(rows);
    case 'mahimahi':
      return parseMahimahi(rows, options.mahimahiBinMs ?? 500);
    default:
      throw new TraceFormatError(`unknown bandwidth format ${String(fmt)}; expected one of ${BANDWIDTH_FORMATS.join(', ')}`);
  }
}

/** Read and parse a bandwidth log file. */
export function loadBandwidthTrace(path: string, format?: BandwidthFormat, options?: BandwidthParseOptions): BandwidthTrace {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new TraceFormatError(`cannot read bandwidth trace ${path}`, { cause });
  }
  return parseBandwidthTrace(text, format, options);
}

/** A constant link, for tests and as a fallback. */
export function constantBandwidth(bps: number, durationMs = 1000): BandwidthTrace {
  return makeBandwidthTrace([{ tMs: 0, bps }], durationMs);
}

/** Mean bits/s over one loop (time-weighted). */
export function meanBps(trace: BandwidthTrace): number {
  return bitsPerLoop(trace) / (trace.durationMs / 1000);
}

const loopBitsCache = new WeakMap<BandwidthTrace, number>();
function bitsPerLoop(trace: BandwidthTrace): number {
  let bits = loopBitsCache.get(trace);
  if (bits === undefined) {
    bits = 0;
    const p = trace.points;
    for (let i = 0; i < p.length; i++) {
      const endMs = i + 1 < p.length ? p[i + 1].tMs : trace.durationMs;
      bits += (p[i].bps * (endMs - p[i].tMs)) / 1000;
    }
    loopBitsCache.set(trace, bits);
  }
  return bits;
}

/**
 * When `bytes` sent at `startMs` have arrived: the bits are pushed through the changing link
 * (integrated segment by segment, looping), then one `rttMs` is added for the request/response
 * round trip.
 * @returns absolute time in ms; Infinity if the trace never carries anything
 * @example transferEndMs(constantBandwidth(8e6), 0, 1e6, 30) // 1000 + 30
 */
export function transferEndMs(trace: BandwidthTrace, startMs: number, bytes: number, rttMs: number): number {
  let bits = Math.max(0, bytes) * 8;
  if (bits === 0) return startMs + rttMs;
  const loopBits = bitsPerLoop(trace);
  if (!(loopBits > 0)) return Infinity;
  const dur = trace.durationMs;
  const p = trace.points;
  let t = startMs;
  // Skip whole loops first so huge payloads on slow links stay O(points).
  const whole = Math.floor(bits / loopBits);
  if (whole >= 1) {
    bits -= whole * loopBits;
    t += whole * dur;
    if (bits <= 1e-9) return t + rttMs;
  }
  const loopStart = t - wrap(t, dur);
  let i = segmentIndexOfPoints(p, wrap(t, dur));
  let base = loopStart;
  for (;;) {
    const segEnd = base + (i + 1 < p.length ? p[i + 1].tMs : dur);
    const bps = p[i].bps;
    const canBits = (bps * (segEnd - t)) / 1000;
    if (bps > 0 && canBits >= bits) return t + (bits / bps) * 1000 + rttMs;
    bits -= canBits;
    t = segEnd;
    i++;
    if (i >= p.length) {
      i = 0;
      base += dur;
    }
  }
}

function segmentIndexOfPoints(p: readonly BandwidthPoint[], t: number): number {
  let lo = 0;
  let hi = p.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (p[mid].tMs <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
