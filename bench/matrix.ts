/**
 * The regime matrix (`npm run bench:sim -- --matrix`): every reference arrival trace × four
 * bandwidth traces (LTE ×2, HSDPA, mahimahi) × SLO, in the regimes of issue 14. Each run is every
 * policy over the same trace, world and seed (bench/matrix-job.ts in a child process, `--jobs` at a
 * time); per run it prints each policy's on-time rate, cost per million requests and per million
 * on-time requests, edge share, re-plans and frontier membership, then the verdicts (a)–(d)
 * (bench/verdicts.ts); it ends with one summary line per regime.
 *
 * Options: --quick (only the first --minutes of each trace, default 3), --regimes a,b,
 * --arrivals f1,f2 (under arrivals/), --bandwidths f1,f2 (under bandwidth/), --slos 500,1000,2000,
 * --seed n, --jobs n (default 2), --json out.json.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SimCliOptions } from '../simulator/config.ts';
import type { PolicySummary } from '../simulator/metrics.ts';
import type { StaticConfig } from '../simulator/policies/static-best.ts';
import { POLICY_NAMES } from '../simulator/run.ts';
import { BASELINES, costPerMillionOnTime, runVerdicts, type RunVerdicts, type Verdict } from './verdicts.ts';

const DATA = process.env.SEB_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');

/** One regime: how the world and the prior are built, on top of the trace pair and SLO. */
export interface Regime {
  readonly name: string;
  readonly what: string;
  readonly opts: Partial<SimCliOptions>;
}

/** The world's speeds against the prior in the wrong-prior regime (issue 14). */
export const WRONG_PRIOR_SCALE = { edge: 1.5, 'tier-c1-m2048': 2, 'tier-c4-m8192': 0.6, link: 0.5 } as const;

export const REGIMES: readonly Regime[] = [
  { name: 'ocr-x1', what: 'OCR (PP-OCRv4 rec) on the CPU edge, the traces at their own rate', opts: {} },
  { name: 'ocr-x3', what: 'OCR on the CPU edge, arrivals 3× faster (the edge cannot keep up)', opts: { rateScale: 3 } },
  {
    name: 'jetson-x1',
    what: 'ResNet-50 on a Jetson Orin edge (585 ms for 1, 835 ms for 32), FC CPU tiers from the HarmonyBatch VGG-19 fit',
    opts: { edgeProfile: join(DATA, 'profiles', 'resnet50-measured.tsv'), fcProfile: join(DATA, 'profiles', 'harmonybatch-vgg19-alibaba-fc.json') },
  },
  {
    name: 'wrong-prior-x1',
    what: 'OCR ×1; the world: edge 1.5× slower, tier-c1-m2048 2× slower, tier-c4-m8192 0.6×, the link half the prior; the policies start from the prior',
    opts: { worldScale: WRONG_PRIOR_SCALE },
  },
];

export const MATRIX_ARRIVALS = ['twitter-may25-first-half.txt', 'azure-llm-code-2023.csv'];
export const MATRIX_BANDWIDTHS = ['lte-ghent-car-1.log', 'lte-ghent-car-4.log', 'hsdpa-norway_bus_1.cooked', 'mahimahi-att-lte-driving-2016.up'];
export const MATRIX_SLOS = [500, 1000, 2000];

interface Job {
  readonly regime: string;
  readonly arrivals: string;
  readonly bandwidth: string;
  readonly sloMs: number;
  readonly opts: SimCliOptions;
}

export interface MatrixRow {
  readonly regime: string;
  readonly arrivals: string;
  readonly bandwidth: string;
  readonly sloMs: number;
  readonly wallS: number;
  readonly policies: Record<string, PolicySummary>;
  readonly staticBest: StaticConfig | null;
  readonly verdicts: RunVerdicts;
}

function runJob(job: Job): Promise<{ policies: Record<string, PolicySummary>; staticBest: StaticConfig | null; wallS: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'matrix-job.ts'), JSON.stringify(job.opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${job.regime} ${job.arrivals} ${job.bandwidth} ${job.sloMs}: exit ${code}\n${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

/** Run `jobs` with at most `limit` at a time; results in job order. */
async function pool<T, R>(items: readonly T[], limit: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(2)} %`);
const usd = (x: number | null): string => (x === null ? '–' : x.toFixed(2));
const mark = (v: Verdict): string => (v.ok === null ? 'n/a' : v.ok ? '✓' : '✗');
const short = (f: string): string => f.replace(/\.(txt|csv|log|cooked|up)$/, '').replace(/-may25-first-half|-llm-code-2023|-att-lte-driving-2016/, '');

/** The block printed for one run. */
export function formatRow(r: MatrixRow): string {
  const lines = [`### ${r.regime} · ${short(r.arrivals)} · ${short(r.bandwidth)} · SLO ${r.sloMs} ms (${r.policies.ours?.requests ?? 0} requests, ${r.wallS.toFixed(0)} s)`];
  lines.push('| policy | on time | $/1M req | $/1M on time | edge share | re-plans | frontier |', '|---|---|---|---|---|---|---|');
  for (const [k, s] of Object.entries(r.policies)) {
    lines.push(`| ${k} | ${pct(s.sloAttainment)} | ${usd(s.costPerMillionUsd)} | ${usd(costPerMillionOnTime(s))} | ${s.edgeShare === null ? '–' : `${(s.edgeShare * 100).toFixed(1)} %`} | ${s.replans ?? '–'} | ${k === 'oracle' ? 'bound' : r.verdicts.frontier.includes(k) ? '●' : ''} |`);
  }
  const v = r.verdicts;
  lines.push(`(a) ${mark(v.a)} ${v.a.detail}`, `(b) ${mark(v.b)} ${v.b.detail}`, `(c) ${mark(v.c)} ${v.c.detail}`, `(d) ${mark(v.d)} ${v.d.detail}`);
  if (r.staticBest) lines.push(`static-best chose ${JSON.stringify(r.staticBest)}`);
  return lines.join('\n');
}

const count = (rows: readonly MatrixRow[], k: 'a' | 'b' | 'c' | 'd'): string => {
  const met = rows.filter((r) => r.verdicts[k].ok === true).length;
  const na = rows.filter((r) => r.verdicts[k].ok === null).length;
  return `(${k}) ${met}/${rows.length - na}${na ? ` (n/a ${na})` : ''}`;
};

/** One line per regime: targets met, frontier membership, mean on-time rates. */
export function summaryLine(regime: string, rows: readonly MatrixRow[]): string {
  const mean = (f: (r: MatrixRow) => number): number => rows.reduce((s, r) => s + f(r), 0) / Math.max(1, rows.length);
  const bestBase = (r: MatrixRow): number => Math.max(...BASELINES.filter((k) => r.policies[k]).map((k) => r.policies[k].sloAttainment));
  const onFrontier = rows.filter((r) => r.verdicts.frontier.includes('ours')).length;
  const secs = rows.reduce((s, r) => s + r.wallS, 0);
  return `${regime}: ${rows.length} runs (${secs.toFixed(0)} s of runs); targets met ${['a', 'b', 'c', 'd'].map((k) => count(rows, k as 'a')).join(', ')}; ours on the frontier ${onFrontier}/${rows.length}; mean on time ours ${pct(mean((r) => r.policies.ours.sloAttainment))}, best baseline ${pct(mean(bestBase))}`;
}

/** Entry point: argv without `--matrix`. */
export async function runMatrix(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      minutes: { type: 'string', default: '3' },
      regimes: { type: 'string' },
      arrivals: { type: 'string' },
      bandwidths: { type: 'string' },
      slos: { type: 'string' },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
      json: { type: 'string' },
    },
  });
  const regimes = values.regimes ? values.regimes.split(',').map((n) => REGIMES.find((r) => r.name === n) ?? fail(`unknown regime ${n}; known: ${REGIMES.map((r) => r.name).join(', ')}`)) : REGIMES;
  const arrivals = values.arrivals?.split(',') ?? MATRIX_ARRIVALS;
  const bandwidths = values.bandwidths?.split(',') ?? MATRIX_BANDWIDTHS;
  const slos = values.slos?.split(',').map(Number) ?? MATRIX_SLOS;
  const minutes = Number(values.minutes);
  const jobsAtOnce = Number(values.jobs);
  if (!(jobsAtOnce >= 1) || !Number.isInteger(jobsAtOnce)) fail(`Expected \`--jobs\` to be an integer ≥ 1, got \`${values.jobs}\``);
  if (values.quick && !(minutes > 0)) fail(`Expected \`--minutes\` to be a number > 0, got \`${values.minutes}\``);
  const jobs: Job[] = [];
  for (const g of regimes) {
    for (const a of arrivals) {
      for (const b of bandwidths) {
        for (const sloMs of slos) {
          const opts: SimCliOptions = {
            arrivals: join(DATA, 'arrivals', a),
            bandwidth: join(DATA, 'bandwidth', b),
            sloMs,
            seed: Number(values.seed),
            durationS: values.quick ? minutes * 60 : undefined,
            policies: POLICY_NAMES,
            ...g.opts,
          };
          jobs.push({ regime: g.name, arrivals: a, bandwidth: b, sloMs, opts });
        }
      }
    }
  }
  const command = `npm run bench:sim -- --matrix ${argv.join(' ')}`.trim();
  console.error(`${command}: ${jobs.length} runs, ${jobsAtOnce} at a time`);
  const t0 = performance.now();
  let done = 0;
  const rows = await pool(jobs, jobsAtOnce, async (j): Promise<MatrixRow> => {
    const r = await runJob(j);
    const row: MatrixRow = { regime: j.regime, arrivals: j.arrivals, bandwidth: j.bandwidth, sloMs: j.sloMs, wallS: r.wallS, policies: r.policies, staticBest: r.staticBest, verdicts: runVerdicts(r.policies) };
    done++;
    const v = row.verdicts;
    console.error(`[${done}/${jobs.length}] ${j.regime} ${short(j.arrivals)} ${short(j.bandwidth)} ${j.sloMs}: ours ${pct(r.policies.ours.sloAttainment)} $${r.policies.ours.costPerMillionUsd.toFixed(2)}/M; a ${mark(v.a)} b ${mark(v.b)} c ${mark(v.c)} d ${mark(v.d)} (${r.wallS.toFixed(0)} s, ${((performance.now() - t0) / 1000).toFixed(0)} s so far)`);
    return row;
  });
  const wallS = (performance.now() - t0) / 1000;
  console.log(`# Regime matrix\n\n\`${command}\`${values.quick ? ` — first ${minutes} min of each trace` : ''}; seed ${values.seed}\n`);
  for (const g of regimes) {
    console.log(`## ${g.name}: ${g.what}\n`);
    for (const r of rows.filter((x) => x.regime === g.name)) console.log(`${formatRow(r)}\n`);
  }
  console.log('## Summary\n');
  for (const g of regimes) console.log(summaryLine(g.name, rows.filter((r) => r.regime === g.name)));
  console.log(`\n${rows.length} runs in ${wallS.toFixed(0)} s wall, ${jobsAtOnce} at a time`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ command, quickMinutes: values.quick ? minutes : null, wallS, rows }, null, 2));
}

function fail(msg: string): never {
  throw new Error(msg);
}
