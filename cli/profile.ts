/**
 * `npm run profile`: measure how long a batch takes on every target (the edge model and each FC
 * tier of s.yaml), fit l(b) = a + k·b per target, and write a profile file (shared/profile.ts
 * schema) plus an SVG chart of latency and cost against batch size.
 *
 *   npm run profile -- --target local --batch 1,2,4,8,16 --repeat 5 --out profiles/measured.json
 *   npm run profile -- --target fc     # the real FC, credentials from the environment
 *
 * `local` starts the local FC in-process (same handler code, emulated tier speed); `fc` calls the
 * deployed functions. The edge is timed in-process with the same batch-inference function the
 * agent's local backend uses. Warm-up calls and cold starts are not fitted: cold starts are
 * reported on their own and stored as `coldStartMs`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { BatchItem } from '../edge-agent/backends/backend.ts';
import type { FcBackend } from '../edge-agent/backends/fc.ts';
import type { LocalFc } from '../local-fc/index.ts';
import { costOf } from '../shared/pricing.ts';
import { Rng } from '../shared/rng.ts';
import { fitLine, median, quantile } from '../shared/stats.ts';
import { loadProfile, predictMs, profileSchema, type Profile, type TargetProfile } from '../shared/profile.ts';
import { loadTiers, type Tier } from '../shared/tiers.ts';

// ------------------------------------------------------------------ fitting (pure)

/** One timed batch. */
export interface Sample {
  readonly target: string;
  readonly batchSize: number;
  /** What the fit models: function duration on FC, wall time of the batch on the edge. */
  readonly latencyMs: number;
  /** Whole call as the caller saw it. */
  readonly wallMs: number;
  /** Wire time (FC only; 0 on the edge). */
  readonly transferMs: number;
  readonly bytesSent: number;
  readonly coldStart: boolean;
  /** Discarded warm-up call. */
  readonly warmup: boolean;
}

/** The a + k·b fit of one target with its tail. */
export interface LinearFit {
  readonly aMs: number;
  readonly kMs: number;
  readonly residualQ95Ms: number;
  readonly residualQ99Ms: number;
  readonly relativeResiduals: number[];
  readonly samples: number;
}

/**
 * Least-squares fit of latency = a + k·b with a, k ≥ 0 (shared/stats.ts `fitLine`, the one the
 * simulator uses too), with nearest-rank residual quantiles for the tail (as the core computes
 * them online).
 * @example fitLinear([{ batchSize: 1, latencyMs: 12 }, { batchSize: 4, latencyMs: 30 }]) // a 6, k 6
 */
export function fitLinear(points: readonly { batchSize: number; latencyMs: number }[]): LinearFit {
  const n = points.length;
  if (n === 0) throw new RangeError('Expected at least one sample to fit, got 0');
  const { a, k } = fitLine(
    points.map((p) => p.batchSize),
    points.map((p) => p.latencyMs),
  );
  const residuals = points.map((p) => p.latencyMs - (a + k * p.batchSize));
  const relativeResiduals = points.map((p) => {
    const fitted = a + k * p.batchSize;
    return fitted > 0 ? round(p.latencyMs / fitted - 1, 4) : 0;
  });
  return {
    aMs: round(a, 3),
    kMs: round(k, 3),
    residualQ95Ms: round(Math.max(0, quantile(residuals, 0.95) ?? 0), 3),
    residualQ99Ms: round(Math.max(0, quantile(residuals, 0.99) ?? 0), 3),
    relativeResiduals,
    samples: n,
  };
}

/** Link model transfer = rtt + bytes/bandwidth, fitted from FC calls; undefined when not identifiable. */
export function fitLink(samples: readonly Sample[]): { rttMs: number; uplinkMbps?: number } | undefined {
  const pts = samples.filter((s) => s.bytesSent > 0 && s.transferMs >= 0 && !s.coldStart && !s.warmup);
  if (pts.length === 0) return undefined;
  const fit = fitLinear(pts.map((s) => ({ batchSize: s.bytesSent, latencyMs: s.transferMs })));
  // k is ms per byte; Mbit/s = 8 bits / (k ms · 1e3). A flat line (k ≈ 0) says the link is too
  // fast to see at these sizes, e.g. loopback: keep rtt, leave bandwidth to the default.
  const uplinkMbps = fit.kMs > 1e-7 ? round(Math.min(100_000, 8 / (fit.kMs * 1e3)), 2) : undefined;
  return { rttMs: round(fit.aMs, 2), uplinkMbps };
}

/** FC cost of one request when it rides in a batch of `batchSize` that runs `latencyMs`. */
export function costPerRequestUsd(tier: Pick<Tier, 'vcpu' | 'memoryMb'>, latencyMs: number, batchSize: number): number {
  return costOf(tier, latencyMs, 1).usd / batchSize;
}

/** The cheapest way to serve one deadline class with the fitted profile. */
export interface DeadlineChoice {
  readonly deadlineMs: number;
  /** Cheapest FC tier that meets the deadline at q95, if any. */
  readonly tier?: string;
  readonly batchSize?: number;
  readonly predictedMs?: number;
  readonly costPer1000Usd?: number;
  /** Whether the edge alone meets the deadline at q95 with batch 1. */
  readonly edgeMeets: boolean;
}

/**
 * For each deadline, the tier and batch size with the lowest cost per request whose predicted
 * q95 latency (+ rtt + upload of the batch) fits. Service time only: the time to fill a batch
 * depends on the arrival rate, which the agent's planner adds at run time.
 */
export function cheapestByDeadline(profile: Profile, tiers: readonly Tier[], batchSizes: readonly number[], deadlinesMs: readonly number[]): DeadlineChoice[] {
  const uploadMs = (b: number) => profile.rttMs + (b * profile.itemBytes * 8) / (profile.uplinkMbps * 1e3);
  return deadlinesMs.map((deadlineMs) => {
    const edge = profile.targets.edge;
    const edgeMeets = edge !== undefined && predictMs(edge, 1, 'q95') <= deadlineMs;
    let best: DeadlineChoice = { deadlineMs, edgeMeets };
    for (const tier of tiers) {
      const p = profile.targets[tier.key];
      if (!p) continue;
      for (const b of batchSizes) {
        const predictedMs = predictMs(p, b, 'q95') + uploadMs(b);
        if (predictedMs > deadlineMs) continue;
        const costPer1000Usd = costPerRequestUsd(tier, predictMs(p, b), b) * 1000;
        if (best.costPer1000Usd === undefined || costPer1000Usd < best.costPer1000Usd - 1e-15 || (Math.abs(costPer1000Usd - best.costPer1000Usd) <= 1e-15 && predictedMs < (best.predictedMs ?? Infinity))) {
          best = { deadlineMs, edgeMeets, tier: tier.key, batchSize: b, predictedMs: round(predictedMs, 1), costPer1000Usd };
        }
      }
    }
    return best;
  });
}

/** Build the profile file from the samples (warm-up and cold calls excluded from fits). */
export function buildProfile(samples: readonly Sample[], meta: { model: string; source: string; itemBytes: number; createdAt: string; fallback: Profile }): Profile {
  const targets: Record<string, TargetProfile> = {};
  const byTarget = groupBy(samples, (s) => s.target);
  for (const [target, list] of byTarget) {
    const warm = list.filter((s) => !s.warmup && !s.coldStart);
    if (warm.length === 0) continue;
    const fit = fitLinear(warm);
    const rtt = median(warm.map((s) => s.transferMs));
    // Cold start penalty: extra wall time of a cold call over a warm call of the same size.
    const colds = list.filter((s) => s.coldStart).map((s) => Math.max(0, s.wallMs - (fit.aMs + fit.kMs * s.batchSize) - rtt));
    targets[target] = {
      aMs: fit.aMs,
      kMs: fit.kMs,
      residualQ95Ms: fit.residualQ95Ms,
      residualQ99Ms: fit.residualQ99Ms,
      coldStartMs: colds.length ? round(median(colds), 1) : 0,
      samples: fit.samples,
      relativeResiduals: fit.relativeResiduals,
    };
  }
  const link = fitLink(samples.filter((s) => s.target !== 'edge'));
  const linkNote = !link ? 'link not measured, defaults kept' : link.uplinkMbps === undefined ? `rtt measured; uplink not identifiable (transfer did not grow with size), default ${meta.fallback.uplinkMbps} Mbit/s kept` : 'rtt and uplink fitted from transfer time against bytes';
  return profileSchema.parse({
    version: 1,
    model: meta.model,
    source: `${meta.source}; ${linkNote}`,
    createdAt: meta.createdAt,
    itemBytes: Math.max(1, Math.round(meta.itemBytes)),
    rttMs: link?.rttMs ?? meta.fallback.rttMs,
    uplinkMbps: link?.uplinkMbps ?? meta.fallback.uplinkMbps,
    targets,
  });
}

/** Vega-Lite spec: measured medians and fitted lines of latency, and FC cost, against batch size. */
export function chartSpec(profile: Profile, samples: readonly Sample[], tiers: readonly Tier[], batchSizes: readonly number[]): vegaLite.TopLevelSpec {
  const measured: { target: string; batch: number; ms: number }[] = [];
  for (const [key, list] of groupBy(samples.filter((s) => !s.warmup && !s.coldStart), (s) => `${s.target}\u0000${s.batchSize}`)) {
    const [target, b] = key.split('\u0000');
    measured.push({ target, batch: Number(b), ms: round(median(list.map((s) => s.latencyMs)), 2) });
  }
  const fitted: { target: string; batch: number; ms: number }[] = [];
  const cost: { target: string; batch: number; usdPer1000: number }[] = [];
  const tierByKey = new Map(tiers.map((t) => [t.key, t]));
  for (const [target, p] of Object.entries(profile.targets)) {
    for (const b of batchSizes) {
      fitted.push({ target, batch: b, ms: round(predictMs(p, b), 2) });
      const tier = tierByKey.get(target);
      if (tier) cost.push({ target, batch: b, usdPer1000: costPerRequestUsd(tier, predictMs(p, b), b) * 1000 });
    }
  }
  const colour = { field: 'target', type: 'nominal', title: 'target', sort: Object.keys(profile.targets) } as const;
  // Linear x: a + k·b must look straight.
  const x = { field: 'batch', type: 'quantitative', title: 'batch size (items)', scale: { domainMin: 0 }, axis: { values: [...batchSizes], format: 'd' } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Latency and FC cost against batch size', subtitle: profile.source.split('; '), fontSize: 14, anchor: 'start' },
    config: { font: 'DejaVu Sans', view: { stroke: null } },
    hconcat: [
      {
        width: 340,
        height: 240,
        title: 'ms per batch (points: measured median, lines: a + k·b)',
        layer: [
          { data: { values: fitted }, mark: { type: 'line' }, encoding: { x, y: { field: 'ms', type: 'quantitative', title: 'latency (ms)' }, color: colour } },
          { data: { values: measured }, mark: { type: 'point', filled: true, size: 40 }, encoding: { x, y: { field: 'ms', type: 'quantitative' }, color: colour } },
        ],
      },
      {
        width: 340,
        height: 240,
        title: 'FC cost per 1,000 requests (USD)',
        data: { values: cost },
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'usdPer1000', type: 'quantitative', title: 'USD per 1,000 requests', scale: { type: 'log' } }, color: colour },
      },
    ],
  } as vegaLite.TopLevelSpec;
}

/** Render a Vega-Lite spec to SVG without a browser. */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

// ------------------------------------------------------------------ measuring (I/O)

/** Times one batch on one target. */
export interface TargetRunner {
  readonly target: string;
  run(items: readonly BatchItem[]): Promise<Omit<Sample, 'target' | 'batchSize' | 'warmup'>>;
}

/** A set of runners plus what to release afterwards. */
export interface Runners {
  readonly runners: readonly TargetRunner[];
  readonly source: string;
  close(): Promise<void>;
}

export interface ProfileRunOptions {
  /** @default 'local' */
  readonly target: 'local' | 'fc';
  /** @default [1, 2, 4, 8, 16] */
  readonly batchSizes: readonly number[];
  /** Timed calls per (target, batch size), after warm-up. @default 5 */
  readonly repeat: number;
  /** Discarded calls per (target, batch size) before timing. @default 1 */
  readonly warmup: number;
  /** Tier keys to profile; all of s.yaml when absent. */
  readonly tiers?: readonly string[];
  /** Profile the edge model too. @default true */
  readonly edge: boolean;
  /** ONNX intra-op threads for the edge model; ORT's default when absent. */
  readonly edgeThreads?: number;
  /** Seed of the rendered text lines. @default 1 */
  readonly seed: number;
  /** Reports each finished call (for a progress bar). */
  readonly onProgress?: (done: number, total: number, label: string) => void;
}

/** Everything one profiling run produced. */
export interface ProfileRun {
  readonly profile: Profile;
  readonly samples: Sample[];
  readonly tiers: Tier[];
}

/** Rendered text-line images to send, `count` of them, deterministic for a seed. */
async function renderItems(count: number, seed: number): Promise<BatchItem[]> {
  const { renderTextLine, randomLine } = await import('../shared/text-line-images.ts');
  const rng = new Rng(seed);
  const items: BatchItem[] = [];
  for (let i = 0; i < count; i++) {
    // Same length lines: a batch is padded to its widest image, so mixed widths would add noise
    // that is about the pool, not the target.
    const png = await renderTextLine(randomLine(rng, { minChars: 8, maxChars: 8 }));
    items.push({ id: `p${i}`, type: 'image/png', bytes: new Uint8Array(png) });
  }
  return items;
}

async function edgeRunner(threads: number | undefined): Promise<{ runner: TargetRunner; close(): Promise<void> }> {
  const { createBatchInference } = await import('../shared/batch-inference.ts');
  const inference = await createBatchInference({ model: 'ocr-rec', intraOpThreads: threads });
  return {
    runner: {
      target: 'edge',
      async run(items) {
        const t0 = performance.now();
        await inference.run(items.map((it) => ({ id: it.id, type: it.type, bytes: it.bytes })));
        const wallMs = performance.now() - t0;
        return { latencyMs: wallMs, wallMs, transferMs: 0, bytesSent: 0, coldStart: false };
      },
    },
    close: async () => {
      await (inference as { close?: () => Promise<void> }).close?.();
    },
  };
}

async function fcRunners(kind: 'local' | 'fc', tiers: readonly Tier[]): Promise<{ runners: TargetRunner[]; close(): Promise<void>; source: string }> {
  const { createFcBackend } = await import('../edge-agent/backends/fc.ts');
  let localFc: LocalFc | undefined;
  let backend: FcBackend;
  if (kind === 'local') {
    const { startLocalFc } = await import('../local-fc/index.ts');
    const { localFcEndpoint } = await import('../edge-agent/dev/embedded-local-fc.ts');
    const fc = await startLocalFc({ tiers });
    localFc = fc;
    backend = createFcBackend({ tiers, ...localFcEndpoint(fc) });
  } else {
    // Real FC: account, region and AccessKey pair from the environment (FC_ACCOUNT_ID, FC_REGION, ...).
    backend = createFcBackend({ tiers });
  }
  const runners = tiers.map<TargetRunner>((tier) => ({
    target: tier.key,
    async run(items) {
      const o = await backend.run(tier.key, items, { timeoutMs: tier.timeoutS * 1000 });
      const failed = o.results.find((r) => r.error);
      if (failed) throw new Error(`${tier.key} failed an item: ${failed.error!.code}: ${failed.error!.message}`);
      // Fit the function's own duration; the link is fitted separately from transferMs.
      const latencyMs = o.billedMs > 0 ? o.billedMs : Math.max(0, o.wallMs - o.transferMs);
      return { latencyMs, wallMs: o.wallMs, transferMs: o.transferMs, bytesSent: o.bytesSent, coldStart: o.coldStart };
    },
  }));
  return {
    runners,
    source: kind === 'local' ? 'local FC (in-process, emulated tier speed)' : 'Alibaba Cloud Function Compute',
    close: async () => {
      await backend.close();
      await localFc?.close();
    },
  };
}

/** Run the whole measurement: warm-up, timed calls, fits. */
export async function runProfile(opts: ProfileRunOptions): Promise<ProfileRun> {
  const allTiers = loadTiers();
  const tiers = opts.tiers ? allTiers.filter((t) => opts.tiers!.includes(t.key)) : allTiers;
  if (opts.tiers && tiers.length !== opts.tiers.length) {
    throw new RangeError(`Expected --tiers to name tiers of s.yaml (${allTiers.map((t) => t.key).join(', ')}), got ${opts.tiers.join(', ')}`);
  }
  const maxB = Math.max(...opts.batchSizes);
  const pool = await renderItems(Math.max(maxB, 8), opts.seed);
  const itemBytes = pool.reduce((s, it) => s + it.bytes.byteLength, 0) / pool.length;

  const closers: (() => Promise<void>)[] = [];
  const runners: TargetRunner[] = [];
  const sources: string[] = [];
  try {
    if (opts.edge) {
      const e = await edgeRunner(opts.edgeThreads);
      runners.push(e.runner);
      closers.push(e.close);
      sources.push(`edge (onnxruntime-node in-process${opts.edgeThreads ? `, ${opts.edgeThreads} threads` : ''})`);
    }
    if (tiers.length > 0) {
      const f = await fcRunners(opts.target, tiers);
      runners.push(...f.runners);
      closers.push(f.close);
      sources.push(f.source);
    }
    const total = runners.length * opts.batchSizes.length * (opts.warmup + opts.repeat);
    let done = 0;
    const samples: Sample[] = [];
    opts.onProgress?.(0, total, 'starting');
    for (const runner of runners) {
      for (const b of opts.batchSizes) {
        for (let i = 0; i < opts.warmup + opts.repeat; i++) {
          // Rotate through the pool so batches differ but stay reproducible.
          const items = Array.from({ length: b }, (_, j) => pool[(i * b + j) % pool.length]).map((it, j) => ({ ...it, id: `${runner.target}-${b}-${i}-${j}` }));
          const m = await runner.run(items);
          samples.push({ ...m, target: runner.target, batchSize: b, warmup: i < opts.warmup && !m.coldStart });
          opts.onProgress?.(++done, total, `${runner.target} b=${b}`);
        }
      }
    }
    const fallback = loadProfile();
    const profile = buildProfile(samples, {
      model: 'ocr-rec',
      source: `measured: npm run profile --target ${opts.target} --batch ${opts.batchSizes.join(',')} --repeat ${opts.repeat}; ${sources.join('; ')}`,
      itemBytes,
      createdAt: new Date().toISOString(),
      fallback,
    });
    return { profile, samples, tiers };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}

// ------------------------------------------------------------------ report

/** The human-readable report: per target ms per batch, cost per 1,000, cheapest tier per deadline. */
export function formatReport(run: ProfileRun, batchSizes: readonly number[], deadlinesMs: readonly number[]): string {
  const { profile, samples, tiers } = run;
  const lines: string[] = [];
  const tierByKey = new Map(tiers.map((t) => [t.key, t]));
  const pad = (s: string, n: number) => s.padStart(n);
  lines.push(`model ${profile.model}; ${profile.itemBytes} B per item; rtt ${profile.rttMs} ms; uplink ${profile.uplinkMbps} Mbit/s`);
  lines.push('');
  lines.push(`${'target'.padEnd(18)} ${pad('a ms', 8)} ${pad('k ms', 8)} ${pad('q95 +ms', 8)} ${pad('cold ms', 8)}   ${batchSizes.map((b) => pad(`b=${b}`, 16)).join('')}`);
  for (const [target, p] of Object.entries(profile.targets)) {
    const tier = tierByKey.get(target);
    const cells = batchSizes.map((b) => {
      const list = samples.filter((s) => s.target === target && s.batchSize === b && !s.warmup && !s.coldStart).map((s) => s.latencyMs);
      const ms = list.length ? median(list) : predictMs(p, b);
      const cost = tier ? `$${(costPerRequestUsd(tier, ms, b) * 1000).toFixed(4)}` : '$0';
      return pad(`${ms.toFixed(0)}ms ${cost}`, 16);
    });
    lines.push(`${target.padEnd(18)} ${pad(p.aMs.toFixed(1), 8)} ${pad(p.kMs.toFixed(1), 8)} ${pad(p.residualQ95Ms.toFixed(1), 8)} ${pad(p.coldStartMs.toFixed(0), 8)}   ${cells.join('')}`);
  }
  lines.push('(cells: median ms per batch, FC cost per 1,000 requests at that batch size)');
  const colds = samples.filter((s) => s.coldStart);
  if (colds.length) {
    lines.push('');
    lines.push(`cold starts (excluded from the fits): ${colds.map((s) => `${s.target} b=${s.batchSize} ${s.wallMs.toFixed(0)} ms`).join('; ')}`);
  }
  lines.push('');
  lines.push('cheapest FC tier per deadline (q95 service time + rtt + upload; batch fill time not included):');
  for (const c of cheapestByDeadline(profile, tiers, batchSizes, deadlinesMs)) {
    const choice = c.tier ? `${c.tier} at batch ${c.batchSize} (~${c.predictedMs} ms, $${c.costPer1000Usd!.toFixed(4)} per 1,000)` : 'no FC tier meets it';
    lines.push(`  ≤ ${String(c.deadlineMs).padStart(5)} ms: ${choice}${c.edgeMeets ? '; the edge meets it at batch 1 (free)' : ''}`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------ helpers

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}
function parseList(name: string, raw: string, min: number): number[] {
  const xs = raw.split(',').map((s) => Number(s.trim()));
  const bad = xs.find((x) => !Number.isInteger(x) || x < min);
  if (bad !== undefined || xs.length === 0) throw new RangeError(`Expected \`--${name}\` to be a comma-separated list of integers ≥ ${min}, got \`${raw}\``);
  return [...new Set(xs)].sort((a, b) => a - b);
}
function parseIntArg(name: string, raw: string, min: number): number {
  const x = Number(raw);
  if (!Number.isInteger(x) || x < min) throw new RangeError(`Expected \`--${name}\` to be an integer ≥ ${min}, got \`${raw}\``);
  return x;
}

const USAGE = `usage: npm run profile -- [--target local|fc] [--batch 1,2,4,8,16] [--repeat 5] [--warmup 1]
        [--tiers tier-c1-m2048,...] [--no-edge] [--edge-threads n] [--deadlines 250,500,1000,2000]
        [--out profiles/measured.json] [--svg file (default: <out>.svg)] [--seed 1]`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string', default: 'local' },
      batch: { type: 'string', default: '1,2,4,8,16' },
      repeat: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      tiers: { type: 'string' },
      'no-edge': { type: 'boolean', default: false },
      'edge-threads': { type: 'string' },
      deadlines: { type: 'string', default: '250,500,1000,2000' },
      out: { type: 'string', default: 'profiles/measured.json' },
      svg: { type: 'string' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.target !== 'local' && values.target !== 'fc') throw new RangeError(`Expected \`--target\` to be local or fc, got \`${values.target}\``);
  const batchSizes = parseList('batch', values.batch, 1);
  const deadlinesMs = parseList('deadlines', values.deadlines, 1);
  const out = values.out;
  const svgPath = values.svg ?? `${out.slice(0, out.length - extname(out).length)}.svg`;

  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'profiling [{bar}] {value}/{total} calls | {label} | eta {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const run = await runProfile({
    target: values.target,
    batchSizes,
    repeat: parseIntArg('repeat', values.repeat, 1),
    warmup: parseIntArg('warmup', values.warmup, 0),
    tiers: values.tiers?.split(',').map((s) => s.trim()).filter(Boolean),
    edge: !values['no-edge'],
    edgeThreads: values['edge-threads'] === undefined ? undefined : parseIntArg('edge-threads', values['edge-threads'], 1),
    seed: parseIntArg('seed', values.seed, 0),
    onProgress: (done, total, label) => {
      if (!started) {
        bar.start(total, 0, { label });
        started = true;
      }
      bar.update(done, { label });
    },
  });
  if (started) bar.stop();

  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(run.profile, null, 2)}\n`);
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, await renderSvg(chartSpec(run.profile, run.samples, run.tiers, batchSizes)));
  console.log(formatReport(run, batchSizes, deadlinesMs));
  console.log(`\nwrote ${out} and ${svgPath}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? `profile: ${err.message}` : err);
    process.exitCode = 1;
  });
}
