/**
 * `npm run load`: replay an arrival trace against a running agent with real requests.
 *
 *   npm run load -- --arrivals ../shared/data/arrivals/twitter-may25-first-half.txt \
 *     --rate-scale 0.1 --duration 60 --deadline-ms 800 --url http://127.0.0.1:8080
 *
 * Each request is a rendered text-line image whose text is known, so the report can say how
 * many answers were right, not only how many came back. Open loop: a request leaves at its
 * trace time whether or not earlier ones were answered (that is what a deadline-aware agent
 * must cope with), up to `--max-in-flight` as a guard against a dead agent.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Rng } from '../shared/rng.ts';
import { quantile } from '../shared/stats.ts';
import { ARRIVAL_FORMATS, loadArrivals, scaleRate, type ArrivalFormat } from '../shared/traces/arrivals.ts';

/** One image the generator can send, with the text it shows. */
export interface LoadImage {
  readonly text: string;
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** @default 'image/png' */
  readonly type?: string;
}

/** What happened to one request. */
export interface RequestOutcome {
  readonly sentAtMs: number;
  /** HTTP status, or 0 when the request never got one (connection refused, reset). */
  readonly status: number;
  readonly latencyMs: number;
  readonly expectedText: string;
  readonly text?: string;
  readonly target?: string;
  readonly tier?: string;
  readonly batchSize?: number;
  readonly costUsd?: number;
  /** As the agent reported it. */
  readonly deadlineMet?: boolean;
  readonly error?: string;
}

export interface LoadOptions {
  /** Agent base URL. @example 'http://127.0.0.1:8080' */
  readonly url: string;
  /** Send times, ms from the start, sorted. */
  readonly arrivalsMs: readonly number[];
  /** Deadline budget sent as `X-Deadline-Ms`. @default 1000 */
  readonly deadlineMs: number;
  readonly images: readonly LoadImage[];
  /** Bearer token, when the agent asks for one. */
  readonly token?: string;
  /** Requests in flight at most; arrivals beyond it are counted as `skipped`. @default 2000 */
  readonly maxInFlight?: number;
  /** Client-side limit per request. @default deadlineMs + 30 000 */
  readonly requestTimeoutMs?: number;
  /** Called after every answer and every send. */
  readonly onProgress?: (p: LoadProgress) => void;
}

export interface LoadProgress {
  readonly sent: number;
  readonly answered: number;
  readonly total: number;
  readonly inFlight: number;
}

/** The end-of-run table, as data. */
export interface LoadSummary {
  readonly planned: number;
  readonly sent: number;
  /** Arrivals not sent because `maxInFlight` requests were already waiting. */
  readonly skipped: number;
  /** 2xx answers. */
  readonly answered: number;
  /** Non-2xx answers and transport errors, by status (`0` = no HTTP answer). */
  readonly failedByStatus: Record<string, number>;
  /** The most frequent failure messages with their counts (at most 3). */
  readonly topErrors: { readonly message: string; readonly count: number }[];
  /** Answers whose text equals the rendered text (whitespace-normalised, case-sensitive). */
  readonly correct: number;
  /** Answers the agent marked `deadlineMet`. */
  readonly deadlineMet: number;
  /** Answers that came back within the deadline as the client measured it. */
  readonly withinDeadlineClient: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number };
  readonly costUsd: number;
  readonly costPer1000Usd: number;
  /** Share of answers per route (`edge` or the tier key), 0–1. */
  readonly routeShares: Record<string, number>;
  readonly meanBatchSize: number;
  readonly durationMs: number;
  readonly deadlineMs: number;
}

function normaliseText(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Summarise the outcomes of one run. */
export function summarise(outcomes: readonly RequestOutcome[], meta: { planned: number; skipped: number; durationMs: number; deadlineMs: number }): LoadSummary {
  const ok = outcomes.filter((o) => o.status >= 200 && o.status < 300);
  const failedByStatus: Record<string, number> = {};
  for (const o of outcomes) if (!(o.status >= 200 && o.status < 300)) failedByStatus[o.status] = (failedByStatus[o.status] ?? 0) + 1;
  const errorCounts = new Map<string, number>();
  for (const o of outcomes) {
    if (o.status >= 200 && o.status < 300) continue;
    // Numbers vary per request ("within 48 ms"); group by the message's shape.
    const key = `${o.status === 0 ? 'no answer' : `HTTP ${o.status}`}: ${(o.error ?? '').replace(/\d+(\.\d+)?/g, 'N').slice(0, 160)}`;
    errorCounts.set(key, (errorCounts.get(key) ?? 0) + 1);
  }
  const topErrors = [...errorCounts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([message, count]) => ({ message, count }));
  const routes: Record<string, number> = {};
  for (const o of ok) {
    const route = o.target === undefined ? 'unknown' : o.target === 'edge' ? 'edge' : (o.tier ?? o.target);
    routes[route] = (routes[route] ?? 0) + 1;
  }
  const routeShares = Object.fromEntries(Object.entries(routes).map(([k, v]) => [k, v / ok.length]));
  const latencies = ok.map((o) => o.latencyMs);
  const costUsd = ok.reduce((s, o) => s + (o.costUsd ?? 0), 0);
  const sizes = ok.map((o) => o.batchSize).filter((b): b is number => typeof b === 'number');
  return {
    planned: meta.planned,
    sent: outcomes.length,
    skipped: meta.skipped,
    answered: ok.length,
    failedByStatus,
    topErrors,
    correct: ok.filter((o) => o.text !== undefined && normaliseText(o.text) === normaliseText(o.expectedText)).length,
    deadlineMet: ok.filter((o) => o.deadlineMet === true).length,
    withinDeadlineClient: ok.filter((o) => o.latencyMs <= meta.deadlineMs).length,
    latencyMs: { p50: quantile(latencies, 0.5) ?? 0, p95: quantile(latencies, 0.95) ?? 0, p99: quantile(latencies, 0.99) ?? 0, max: latencies.length ? Math.max(...latencies) : 0 },
    costUsd,
    costPer1000Usd: ok.length ? (costUsd / ok.length) * 1000 : 0,
    routeShares,
    meanBatchSize: sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length : 0,
    durationMs: meta.durationMs,
    deadlineMs: meta.deadlineMs,
  };
}

/** The agent's error as one line: `{ error: { code, message } }`, or whatever came back. */
function errorText(body: Record<string, unknown>, raw: string): string {
  const e = body.error as { code?: unknown; message?: unknown } | string | undefined;
  if (e && typeof e === 'object') return [e.code, e.message].filter((x) => typeof x === 'string').join(': ');
  if (typeof e === 'string') return typeof body.message === 'string' ? `${e}: ${body.message}` : e;
  return raw.slice(0, 200);
}

/** Send one request and read the agent's JSON answer. Never throws: failures become outcomes. */
async function sendOne(opts: LoadOptions, image: LoadImage, sentAtMs: number): Promise<RequestOutcome> {
  const headers: Record<string, string> = { 'content-type': image.type ?? 'image/png', 'x-deadline-ms': String(opts.deadlineMs) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const t0 = performance.now();
  try {
    const res = await fetch(new URL('/v1/infer', opts.url), {
      method: 'POST',
      headers,
      body: image.bytes,
      signal: AbortSignal.timeout(opts.requestTimeoutMs ?? opts.deadlineMs + 30_000),
    });
    const raw = await res.text();
    const latencyMs = performance.now() - t0;
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      // A non-JSON answer is still an answer; the status tells what happened.
    }
    const route = (body.route ?? {}) as { target?: string; tier?: string; batchSize?: number };
    return {
      sentAtMs,
      status: res.status,
      latencyMs,
      expectedText: image.text,
      text: typeof body.text === 'string' ? body.text : undefined,
      target: route.target,
      tier: route.tier,
      batchSize: route.batchSize,
      costUsd: typeof body.costUsd === 'number' ? body.costUsd : undefined,
      deadlineMet: typeof body.deadlineMet === 'boolean' ? body.deadlineMet : undefined,
      error: res.ok ? undefined : errorText(body, raw),
    };
  } catch (err) {
    return { sentAtMs, status: 0, latencyMs: performance.now() - t0, expectedText: image.text, error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Replay `arrivalsMs` against the agent and wait for every answer.
 * @example const s = await runLoad({ url, arrivalsMs: [0, 100, 200], deadlineMs: 800, images });
 */
export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  if (opts.images.length === 0) throw new RangeError('Expected `images` to hold at least one image, got 0');
  if (!(opts.deadlineMs > 0)) throw new RangeError(`Expected \`deadlineMs\` to be a number > 0, got \`${opts.deadlineMs}\``);
  const maxInFlight = opts.maxInFlight ?? 2000;
  const total = opts.arrivalsMs.length;
  const pending: Promise<void>[] = [];
  const outcomes: RequestOutcome[] = [];
  let inFlight = 0;
  let skipped = 0;
  let sent = 0;
  const report = () => opts.onProgress?.({ sent, answered: outcomes.length, total, inFlight });
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    // Sleep until the next arrival, then send everything that is due (timers are coarse).
    const waitMs = opts.arrivalsMs[i] - (performance.now() - start);
    if (waitMs > 1) await new Promise((r) => setTimeout(r, waitMs));
    if (inFlight >= maxInFlight) {
      skipped++;
      continue;
    }
    const image = opts.images[i % opts.images.length];
    inFlight++;
    sent++;
    pending.push(
      sendOne(opts, image, opts.arrivalsMs[i]).then((o) => {
        inFlight--;
        outcomes.push(o);
        report();
      }),
    );
    report();
  }
  await Promise.all(pending);
  return summarise(outcomes, { planned: total, skipped, durationMs: performance.now() - start, deadlineMs: opts.deadlineMs });
}

/**
 * Render `count` text-line images with known text (deterministic for a seed).
 * Uses the test helper that renders lines the way the OCR model expects them.
 */
export async function renderImages(count: number, seed: number): Promise<LoadImage[]> {
  const { renderTextLine, randomLine } = await import('../shared/text-line-images.ts');
  const rng = new Rng(seed);
  const images: LoadImage[] = [];
  for (let i = 0; i < count; i++) {
    const text = randomLine(rng);
    images.push({ text, bytes: new Uint8Array(await renderTextLine(text)), type: 'image/png' });
  }
  return images;
}

/** The end-of-run table as text. */
export function formatSummary(s: LoadSummary): string {
  const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)}%` : '–');
  // HTTP statuses in order, transport failures (status 0) last.
  const failed = Object.entries(s.failedByStatus)
    .sort(([a], [b]) => (a === '0' ? 1e9 : Number(a)) - (b === '0' ? 1e9 : Number(b)))
    .map(([status, n]) => `${n} × ${status === '0' ? 'no answer' : `HTTP ${status}`}`)
    .join(', ');
  const rows: [string, string][] = [
    ['sent', `${s.sent} of ${s.planned} planned${s.skipped ? ` (${s.skipped} skipped: too many in flight)` : ''} in ${(s.durationMs / 1000).toFixed(1)} s`],
    ['answered', `${s.answered} (${pct(s.answered, s.sent)})${failed ? `; failed: ${failed}` : ''}`],
    ['correct text', `${s.correct} (${pct(s.correct, s.answered)} of answered)`],
    ['deadline met', `${s.deadlineMet} (${pct(s.deadlineMet, s.answered)}) per agent; ${s.withinDeadlineClient} (${pct(s.withinDeadlineClient, s.answered)}) within ${s.deadlineMs} ms at the client`],
    ['latency p50/p95/p99', `${s.latencyMs.p50.toFixed(0)} / ${s.latencyMs.p95.toFixed(0)} / ${s.latencyMs.p99.toFixed(0)} ms (max ${s.latencyMs.max.toFixed(0)})`],
    ['cost', `$${s.costUsd.toPrecision(3)} total, $${s.costPer1000Usd.toFixed(5)} per 1,000 answered`],
    ['mean batch size', s.meanBatchSize.toFixed(2)],
    [
      'routes',
      Object.entries(s.routeShares)
        .sort((a, b) => b[1] - a[1])
        .map(([route, share]) => `${route} ${(100 * share).toFixed(1)}%`)
        .join(', ') || '–',
    ],
  ];
  for (const e of s.topErrors) rows.push(['error', `${e.count} × ${e.message}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

const USAGE = `usage: npm run load -- --arrivals <file> [--arrivals-format ${ARRIVAL_FORMATS.join('|')}]
        [--rate-scale x] [--duration s] [--deadline-ms 1000] [--url http://127.0.0.1:8080]
        [--token t] [--images 50] [--seed 1] [--max-in-flight 2000] [--json summary.json]`;

function positive(name: string, raw: string, integer = false): number {
  const x = Number(raw);
  if (!Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) throw new RangeError(`Expected \`--${name}\` to be a${integer ? 'n integer' : ' number'} > 0, got \`${raw}\``);
  return x;
}

/**
 * Arrival times to replay: the trace, sped up by `rateScale`, cut at `durationS`.
 * @example prepareArrivals([0, 1000, 2000, 3000], 2, 1) // [0, 500]
 */
export function prepareArrivals(arrivalsMs: readonly number[], rateScale: number, durationS?: number): number[] {
  const scaled = scaleRate(arrivalsMs, rateScale);
  return durationS === undefined ? scaled : scaled.filter((t) => t < durationS * 1000);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      arrivals: { type: 'string' },
      'arrivals-format': { type: 'string' },
      'rate-scale': { type: 'string', default: '1' },
      duration: { type: 'string' },
      'deadline-ms': { type: 'string', default: '1000' },
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      token: { type: 'string', default: process.env.AGENT_TOKEN },
      images: { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      'max-in-flight': { type: 'string', default: '2000' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.arrivals) throw new RangeError(`Expected \`--arrivals\` to name an arrival trace file\n${USAGE}`);
  const format = values['arrivals-format'] as ArrivalFormat | undefined;
  if (format !== undefined && !ARRIVAL_FORMATS.includes(format)) throw new RangeError(`Expected \`--arrivals-format\` to be one of ${ARRIVAL_FORMATS.join(', ')}, got \`${format}\``);
  const arrivalsMs = prepareArrivals(
    loadArrivals(values.arrivals, format),
    positive('rate-scale', values['rate-scale']),
    values.duration === undefined ? undefined : positive('duration', values.duration),
  );
  if (arrivalsMs.length === 0) throw new RangeError(`the trace ${values.arrivals} has no arrivals in the first ${values.duration} s`);
  const deadlineMs = positive('deadline-ms', values['deadline-ms'], true);

  process.stderr.write(`rendering ${values.images} text-line images…\n`);
  const images = await renderImages(positive('images', values.images, true), Number(values.seed));
  const spanS = (arrivalsMs[arrivalsMs.length - 1] ?? 0) / 1000;
  process.stderr.write(`replaying ${arrivalsMs.length} arrivals over ${spanS.toFixed(1)} s (${(arrivalsMs.length / Math.max(spanS, 1e-3)).toFixed(1)} req/s) to ${values.url}\n`);

  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'load [{bar}] {answered}/{total} answered | sent {sent} | in flight {inFlight} | {duration_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(arrivalsMs.length, 0, { answered: 0, sent: 0, inFlight: 0 });
  const summary = await runLoad({
    url: values.url,
    arrivalsMs,
    deadlineMs,
    images,
    token: values.token,
    maxInFlight: positive('max-in-flight', values['max-in-flight'], true),
    onProgress: (p) => bar.update(p.answered, { answered: p.answered, sent: p.sent, inFlight: p.inFlight }),
  });
  bar.stop();
  console.log(formatSummary(summary));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  if (summary.answered === 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? `load: ${err.message}` : err);
    process.exitCode = 1;
  });
}
