/**
 * Output: the Markdown results table, the JSON document, and SVG plots (vega-lite compiled and
 * rendered headless by vega) for `--report dir`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { BandwidthTrace } from '../shared/traces/bandwidth.ts';
import type { PolicySummary } from './metrics.ts';
import type { SimResult } from './run.ts';

const fmt = (x: number | null | undefined, digits: number): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** The results table, one row per policy. */
export function markdownTable(policies: Record<string, PolicySummary>): string {
  const head = '| policy | requests | served | rejected | SLO attainment | cost USD | USD / 1M req | p50 ms | p95 ms | p99 ms | edge share | invocations | cold starts | re-plans |';
  const sep = '|' + '---|'.repeat(14);
  const rows = Object.entries(policies).map(
    ([name, s]) =>
      `| ${name} | ${s.requests} | ${s.served} | ${s.rejected} | ${(s.sloAttainment * 100).toFixed(2)} % | ${fmt(s.costUsd, 4)} | ${fmt(s.costPerMillionUsd, 2)} | ${fmt(s.p50Ms, 0)} | ${fmt(s.p95Ms, 0)} | ${fmt(s.p99Ms, 0)} | ${s.edgeShare === null ? '–' : (s.edgeShare * 100).toFixed(1) + ' %'} | ${s.invocations ?? '–'} | ${s.coldStarts ?? '–'} | ${s.replans ?? '–'} |`,
  );
  return [head, sep, ...rows].join('\n');
}

/** The `--json` document. */
export function jsonDocument(result: SimResult, config: Record<string, unknown>): unknown {
  const policies: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(result.policies)) {
    const { stranded: _s, rejectCodes: _r, ...rest } = s;
    policies[name] = rest;
  }
  return { policies, config: { ...config, staticBest: result.staticBest } };
}

/** Render a vega-lite spec to an SVG string. */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Requests per second in 1 s bins. */
export function ratePerSecond(arrivalsMs: readonly number[]): { tS: number; rps: number }[] {
  if (arrivalsMs.length === 0) return [];
  const n = Math.floor(arrivalsMs[arrivalsMs.length - 1] / 1000) + 1;
  const c = new Float64Array(n);
  for (const t of arrivalsMs) c[Math.floor(t / 1000)]++;
  return Array.from(c, (rps, tS) => ({ tS, rps }));
}

function thin<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const step = xs.length / max;
  return Array.from({ length: max }, (_, i) => xs[Math.floor(i * step)]);
}

export interface ReportInput {
  readonly result: SimResult;
  readonly arrivalsMs: readonly number[];
  readonly bandwidth: BandwidthTrace;
  readonly config: Record<string, unknown>;
  /** Policy whose routes and changepoints are plotted. @default 'ours' when run, else the first */
  readonly focus?: string;
}

/** Write report.md and the SVG plots into `dir`. */
export async function writeReport(dir: string, r: ReportInput): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const runs = r.result.runs;
  const focus = r.focus ?? (runs.ours ? 'ours' : Object.keys(runs)[0]);
  const run = focus ? runs[focus] : undefined;
  const cps = (run?.changepoints ?? []).map((c) => ({ tS: c.tMs / 1000, stream: c.stream }));
  const rate = ratePerSecond(r.arrivalsMs);
  const endS = rate.length;
  const bw = Array.from({ length: endS }, (_, tS) => ({ tS, mbps: r.bandwidth.bpsAt(tS * 1000) / 1e6 }));
  const rules = {
    data: { values: cps },
    mark: { type: 'rule' as const, strokeDash: [4, 3] },
    encoding: {
      x: { field: 'tS', type: 'quantitative' as const },
      color: { field: 'stream', type: 'nominal' as const, title: 'changepoint', scale: { domain: ['arrivals', 'link'], range: ['firebrick', 'darkorange'] } },
    },
  };

  const timeline: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Arrival rate and uplink over time (dashed: changepoints detected by ${focus ?? '–'})`,
    vconcat: [
      { width: 900, height: 180, layer: [{ data: { values: thin(rate, 4000) }, mark: { type: 'line', strokeWidth: 1 }, encoding: { x: { field: 'tS', type: 'quantitative', title: 'time (s)' }, y: { field: 'rps', type: 'quantitative', title: 'requests / s' } } }, rules] },
      { width: 900, height: 180, layer: [{ data: { values: thin(bw, 4000) }, mark: { type: 'line', strokeWidth: 1, color: 'seagreen' }, encoding: { x: { field: 'tS', type: 'quantitative', title: 'time (s)' }, y: { field: 'mbps', type: 'quantitative', title: 'uplink Mbit/s' } } }, rules] },
    ],
  };
  writeFileSync(join(dir, 'timeline.svg'), await renderSvg(timeline));
  files.push('timeline.svg');

  if (run) {
    const pts = thin(run.batches.map((b) => ({ tS: b.tMs / 1000, size: b.size, target: b.target })), 6000);
    const routes: vegaLite.TopLevelSpec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: `Route and batch size over time (${focus})`,
      width: 900,
      height: 260,
      data: { values: pts },
      mark: { type: 'point', filled: true, size: 10, opacity: 0.6 },
      encoding: { x: { field: 'tS', type: 'quantitative', title: 'time (s)' }, y: { field: 'size', type: 'quantitative', title: 'batch size' }, color: { field: 'target', type: 'nominal', title: 'target' } },
    };
    writeFileSync(join(dir, 'routes.svg'), await renderSvg(routes));
    files.push('routes.svg');
  }

  const costPts = Object.entries(r.result.policies).map(([policy, s]) => ({ policy, attainment: s.sloAttainment * 100, costPerM: s.costPerMillionUsd }));
  const costSpec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Cost against deadline attainment',
    width: 600,
    height: 360,
    data: { values: costPts },
    layer: [
      { mark: { type: 'point', filled: true, size: 80 }, encoding: { x: { field: 'costPerM', type: 'quantitative', title: 'USD per million requests' }, y: { field: 'attainment', type: 'quantitative', title: 'SLO attainment (%)', scale: { zero: false } }, color: { field: 'policy', type: 'nominal' } } },
      { mark: { type: 'text', dx: 6, align: 'left', fontSize: 10 }, encoding: { x: { field: 'costPerM', type: 'quantitative' }, y: { field: 'attainment', type: 'quantitative' }, text: { field: 'policy' } } },
    ],
  };
  writeFileSync(join(dir, 'cost-attainment.svg'), await renderSvg(costSpec));
  files.push('cost-attainment.svg');

  const md = [
    '# Simulation report',
    '',
    '```json',
    JSON.stringify(r.config, null, 2),
    '```',
    '',
    markdownTable(r.result.policies),
    '',
    r.result.staticBest ? `static-best chose ${JSON.stringify(r.result.staticBest)}.` : '',
    '',
    ...files.map((f) => `![${f}](${f})`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'report.md'), md);
  files.push('report.md');
  return files;
}
