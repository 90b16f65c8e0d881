/**
 * `npm run bench:sim [-- --rate-scale x] [--slos 500,1000,2000] [--arrivals a.txt,b.csv] [--edge-workers n] [--json out.json] [--quick]`
 * Runs every policy on each (arrival trace × bandwidth trace × SLO) of the reference data and
 * prints, per pair, `ours` against the targets: SLO attainment ≥ 99.5 %, cost ≤ 1.10 × oracle,
 * ≤ 0.8 × static-best, ≤ 0.7 × seed, ≥ 90 % fewer re-plans than ours-periodic at ≤ 1 % more cost.
 * All ratios come from the same run (same trace, world and seed).
 *
 * `npm run bench:sim -- --matrix [...]` runs the regime matrix instead (bench/matrix.ts).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { loadSim } from '../simulator/config.ts';
import type { PolicySummary } from '../simulator/metrics.ts';
import { POLICY_NAMES, runSimulation } from '../simulator/run.ts';
import { runMatrix } from './matrix.ts';

/** The per-pair benchmark of ours against the older targets. */
function pairBench(): void {
  const DATA = process.env.SEB_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');
  const ARRIVALS = ['twitter-may25-first-half.txt', 'azure-llm-code-2023.csv'];

  const { values } = parseArgs({
    options: {
      'rate-scale': { type: 'string', default: '1' },
      slos: { type: 'string', default: '500,1000,2000' },
      json: { type: 'string' },
      quick: { type: 'boolean', default: false }, // first 5 minutes of each trace
      seed: { type: 'string', default: '1' },
      'edge-workers': { type: 'string', default: '1' },
      arrivals: { type: 'string' }, // comma-separated file names under arrivals/
    },
  });
  const slos = values.slos!.split(',').map(Number);
  const bandwidths = readdirSync(join(DATA, 'bandwidth')).sort();

  /** a / b, with 0 / 0 = 1 (both free). */
  function ratio(a: number, b: number): number {
    if (b === 0) return a === 0 ? 1 : Infinity;
    return a / b;
  }
  /** Cost target "a ≤ factor·b": met when a ≤ factor·b, or when a is 0 (nothing can cost less). */
  function costCheck(a: number, b: number, factor: number): { value: number; ok: boolean } {
    return { value: ratio(a, b), ok: a === 0 || a <= factor * b };
  }
  const pct = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '∞');

  interface Row {
    arrivals: string;
    bandwidth: string;
    sloMs: number;
    policies: Record<string, PolicySummary>;
    checks: Record<string, { value: number; ok: boolean }>;
  }

  /** Which core the numbers come from: the simulator runs the working tree's edge-agent/core. */
  function coreVersion(): string {
    try {
      const git = (...args: string[]) => execFileSync('git', args, { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
      const dirty = git('status', '--porcelain', '--', '../edge-agent/core') !== '';
      return `core at ${git('log', '-1', '--format=%h', '--', '../edge-agent/core')}${dirty ? ' + uncommitted changes' : ''}`;
    } catch {
      return 'core version unknown (no git)';
    }
  }

  const CORE_VERSION = coreVersion(); // at start: the modules are loaded now, the tree may move later
  const rows: Row[] = [];
  const arrivalsList = values.arrivals ? values.arrivals.split(',') : ARRIVALS;
  const total = arrivalsList.length * bandwidths.length * slos.length;
  const bar = new cliProgress.SingleBar({ format: 'bench:sim [{bar}] {value}/{total} {pair}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { pair: '' });
  const t0 = performance.now();
  for (const arrivals of arrivalsList) {
    for (const bandwidth of bandwidths) {
      for (const sloMs of slos) {
        bar.update({ pair: `${arrivals} ${bandwidth} ${sloMs}` });
        const loaded = loadSim({
          arrivals: join(DATA, 'arrivals', arrivals),
          bandwidth: join(DATA, 'bandwidth', bandwidth),
          sloMs,
          rateScale: Number(values['rate-scale']),
          durationS: values.quick ? 300 : undefined,
          seed: Number(values.seed),
          edgeWorkers: Number(values['edge-workers']),
          policies: POLICY_NAMES,
        });
        const r = runSimulation(loaded.config);
        const p = r.policies;
        const ours = p.ours;
        const checks: Row['checks'] = {
          attainment: { value: ours.sloAttainment, ok: ours.sloAttainment >= 0.995 },
          vsOracle: costCheck(ours.costUsd, p.oracle.costUsd, 1.1),
          vsStatic: costCheck(ours.costUsd, p['static-best'].costUsd, 0.8),
          vsSeed: costCheck(ours.costUsd, p.seed.costUsd, 0.7),
          replanCut: { value: 1 - ratio(ours.replans ?? 0, p['ours-periodic'].replans ?? 0), ok: 1 - ratio(ours.replans ?? 0, p['ours-periodic'].replans ?? 0) >= 0.9 },
          vsPeriodic: costCheck(ours.costUsd, p['ours-periodic'].costUsd, 1.01),
        };
        rows.push({ arrivals, bandwidth, sloMs, policies: p, checks });
        bar.increment();
      }
    }
  }
  bar.stop();

  const mark = (c: { value: number; ok: boolean }, f: (x: number) => string): string => `${f(c.value)}${c.ok ? '' : ' ✗'}`;
  console.log('| arrivals | bandwidth | SLO ms | ours attain. | ours $/1M | oracle $/1M | static $/1M | seed $/1M | periodic $/1M | ours/oracle (≤1.10) | ours/static (≤0.8) | ours/seed (≤0.7) | re-plan cut (≥90 %) | ours/periodic (≤1.01) | best baseline attain. |');
  console.log('|' + '---|'.repeat(16));
  for (const r of rows) {
    const p = r.policies;
    const c = r.checks;
    const bestBase = Math.max(...['seed', 'static-best', 'triton', 'no-batching', 'edge-only', 'cloud-only'].map((k) => p[k].sloAttainment));
    console.log(
      `| ${r.arrivals.replace(/\..*$/, '')} | ${r.bandwidth} | ${r.sloMs} | ${mark(c.attainment, (x) => (x * 100).toFixed(2) + ' %')} | ${p.ours.costPerMillionUsd.toFixed(2)} | ${p.oracle.costPerMillionUsd.toFixed(2)} | ${p['static-best'].costPerMillionUsd.toFixed(2)} | ${p.seed.costPerMillionUsd.toFixed(2)} | ${p['ours-periodic'].costPerMillionUsd.toFixed(2)} | ${mark(c.vsOracle, pct)} | ${mark(c.vsStatic, pct)} | ${mark(c.vsSeed, pct)} | ${mark(c.replanCut, (x) => (x * 100).toFixed(1) + ' %')} (${p.ours.replans}/${p['ours-periodic'].replans}) | ${mark(c.vsPeriodic, pct)} | ${(bestBase * 100).toFixed(2)} % |`,
    );
  }
  const keys = Object.keys(rows[0]?.checks ?? {});
  console.log(`\nrate scale ${values['rate-scale']}, edge workers ${values['edge-workers']}, seed ${values.seed}; ${CORE_VERSION}`);
  console.log(`${rows.length} pairs in ${((performance.now() - t0) / 1000).toFixed(0)} s; targets met: ${keys.map((k) => `${k} ${rows.filter((r) => r.checks[k].ok).length}/${rows.length}`).join(', ')}`);
  if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2));
}

if (process.argv.includes('--matrix')) {
  runMatrix(process.argv.slice(2).filter((a) => a !== '--matrix')).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
} else pairBench();
