/**
 * Arrival traces: when requests reach the edge. Parsers for the formats in
 * ../shared/data/arrivals, all producing sorted arrival times in ms from 0.
 *
 * - `interarrival`: one inter-arrival gap in seconds per line (the Twitter trace used by BATCH)
 * - `timestamps-csv`: CSV with a `TIMESTAMP` column `YYYY-MM-DD HH:MM:SS.fffffff` (UTC), one row per request (Azure)
 * - `counts-csv`: requests per second, one count per line (`count`) or `second,count`; a header is allowed
 */
import { readFileSync } from 'node:fs';
import { TraceFormatError } from './bandwidth.ts';

export type ArrivalFormat = 'interarrival' | 'timestamps-csv' | 'counts-csv';
export const ARRIVAL_FORMATS: readonly ArrivalFormat[] = ['interarrival', 'timestamps-csv', 'counts-csv'];

const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?$/;

function lines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** `YYYY-MM-DD HH:MM:SS.fffffff` (UTC) → epoch ms, keeping sub-millisecond digits. */
export function parseTimestampMs(s: string): number {
  const m = TIMESTAMP_RE.exec(s.trim());
  if (!m) throw new TraceFormatError(`expected a timestamp like 2023-11-16 18:17:03.9799600, got \`${s}\``);
  const whole = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  return whole + frac;
}

/**
 * Guess the format from the content: a header or first cell with a timestamp → `timestamps-csv`;
 * a header mentioning "count", two numeric columns, or only integers → `counts-csv`;
 * otherwise one real number per line → `interarrival`.
 */
export function inferArrivalFormat(text: string): ArrivalFormat {
  const ls = lines(text).slice(0, 50);
  if (ls.length === 0) throw new TraceFormatError('arrival trace is empty');
  const head = ls[0].toLowerCase();
  if (/\btimestamp\b/.test(head) || TIMESTAMP_RE.test(ls[0].split(',')[0])) return 'timestamps-csv';
  if (/count/.test(head)) return 'counts-csv';
  const body = ls.filter((l) => /^[-+\d.eE\s,]+$/.test(l));
  if (body.length === 0) throw new TraceFormatError(`cannot tell the arrival format from the first line \`${ls[0]}\``);
  const cols = body[0].split(/[\s,]+/).length;
  if (cols >= 2) return 'counts-csv';
  return body.every((l) => Number.isInteger(Number(l))) ? 'counts-csv' : 'interarrival';
}

function parseInterarrival(text: string): number[] {
  const out: number[] = [];
  let tMs = 0;
  for (const l of lines(text)) {
    const gapS = Number(l);
    if (!Number.isFinite(gapS) || gapS < 0) throw new TraceFormatError(`interarrival lines are gaps in seconds ≥ 0, got \`${l}\``);
    tMs += gapS * 1000;
    out.push(tMs);
  }
  return out;
}

function parseTimestamps(text: string): number[] {
  const ls = lines(text);
  if (ls.length === 0) return [];
  let col = 0;
  let start = 0;
  const header = ls[0].split(',').map((h) => h.trim().toLowerCase());
  if (!TIMESTAMP_RE.test(ls[0].split(',')[0].trim())) {
    col = header.indexOf('timestamp');
    if (col < 0) throw new TraceFormatError(`timestamps-csv needs a TIMESTAMP column; header is \`${ls[0]}\``);
    start = 1;
  }
  const out: number[] = [];
  for (let i = start; i < ls.length; i++) out.push(parseTimestampMs(ls[i].split(',')[col]));
  return out;
}

function parseCounts(text: string): number[] {
  const out: number[] = [];
  let second = 0;
  for (const l of lines(text)) {
    const cells = l.split(/[\s,]+/);
    const nums = cells.map(Number);
    if (nums.some((n) => !Number.isFinite(n))) continue; // header
    const [s, n] = nums.length >= 2 ? [nums[0], nums[nums.length - 1]] : [second, nums[0]];
    if (!(n >= 0) || !Number.isInteger(n)) throw new TraceFormatError(`counts must be integers ≥ 0, got \`${l}\``);
    // Spread each second's requests evenly: the format says how many, not when.
    for (let k = 0; k < n; k++) out.push((s + (k + 0.5) / n) * 1000);
    second = s + 1;
  }
  return out;
}

/**
 * Parse an arrival trace into sorted arrival times in ms, shifted so the first is at 0.
 * @example parseArrivals('0.5\n0.25\n') // [0, 250]
 */
export function parseArrivals(text: string, format?: ArrivalFormat): number[] {
  const fmt = format ?? inferArrivalFormat(text);
  let t: number[];
  switch (fmt) {
    case 'interarrival':
      t = parseInterarrival(text);
      break;
    case 'timestamps-csv':
      t = parseTimestamps(text);
      break;
    case 'counts-csv':
      t = parseCounts(text);
      break;
    default:
      throw new TraceFormatError(`unknown arrival format ${String(fmt)}; expected one of ${ARRIVAL_FORMATS.join(', ')}`);
  }
  t.sort((a, b) => a - b);
  const t0 = t.length > 0 ? t[0] : 0;
  return t.map((x) => x - t0);
}

/** Read and parse an arrival trace file. */
export function loadArrivals(path: string, format?: ArrivalFormat): number[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new TraceFormatError(`cannot read arrival trace ${path}`, { cause });
  }
  return parseArrivals(text, format);
}

/**
 * Speed a trace up (x > 1) or slow it down by dividing every arrival time by `x`.
 * @example scaleRate([0, 1000], 2) // [0, 500]
 */
export function scaleRate(arrivalsMs: readonly number[], x: number): number[] {
  if (!(x > 0) || !Number.isFinite(x)) throw new TraceFormatError(`Expected \`rateScale\` to be a finite number > 0, got \`${x}\``);
  return arrivalsMs.map((t) => t / x);
}
