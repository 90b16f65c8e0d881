/**
 * `npm run bench:cpd`: F1 of the changepoint detector on the annotated TCPD series in
 * ../shared/data/changepoints beside the repo (or --dir). F1 as the TCPD benchmark defines it: margin 5,
 * index 0 counts as a changepoint in predictions and annotations, precision against the union of
 * annotators, recall averaged over annotators, F1 their harmonic mean.
 */
import { fileURLToPath } from 'node:url';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { detectChangepoints, type SeriesDetectOptions } from '../edge-agent/core/index.ts';

/**
 * True positives of `predicted` against `truth`: each true point may be matched by at most one
 * prediction within `margin`, and each prediction matches at most one true point (closest first).
 */
export function truePositives(truth: readonly number[], predicted: readonly number[], margin = 5): number {
  const pred = [...new Set(predicted)].sort((a, b) => a - b);
  const used = new Set<number>();
  let tp = 0;
  for (const tau of [...new Set(truth)].sort((a, b) => a - b)) {
    let best = -1;
    let bestDist = Infinity;
    for (const x of pred) {
      const d = Math.abs(x - tau);
      if (d <= margin && !used.has(x) && d < bestDist) {
        best = x;
        bestDist = d;
      }
    }
    if (best >= 0) {
      used.add(best);
      tp++;
    }
  }
  return tp;
}

/** TCPD F1 of `predicted` given each annotator's changepoints. */
export function f1Score(annotations: Readonly<Record<string, readonly number[]>>, predicted: readonly number[], margin = 5): { f1: number; precision: number; recall: number } {
  const withStart = (xs: readonly number[]) => [...new Set([0, ...xs])];
  const pred = withStart(predicted);
  const users = Object.values(annotations).map(withStart);
  const union = [...new Set(users.flat())];
  const precision = truePositives(union, pred, margin) / pred.length;
  const recall = users.reduce((s, u) => s + truePositives(u, pred, margin) / u.length, 0) / Math.max(1, users.length);
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { f1, precision, recall };
}

/** Score every annotated series of a TCPD directory. */
export function scoreDirectory(dir: string, opts: SeriesDetectOptions = {}): { name: string; n: number; predicted: number[]; f1: number; precision: number; recall: number }[] {
  const annotations = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8')) as Record<string, Record<string, number[]>>;
  const rows = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'annotations.json').sort()) {
    const name = file.replace(/\.json$/, '');
    const ann = annotations[name];
    if (!ann) continue;
    const doc = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { series: { raw: (number | null)[] }[] };
    const raw = doc.series[0].raw;
    const predicted = detectChangepoints(raw, opts);
    rows.push({ name, n: raw.length, predicted, ...f1Score(ann, predicted) });
  }
  return rows;
}

/**
 * The defaults were tuned on these same series, so their mean F1 is an in-sample figure. This
 * reports an out-of-sample one: for each series, pick the grid point with the best mean F1 on
 * the other six and score it on the held-out series.
 */
function leaveOneOut(dir: string): void {
  const grid: SeriesDetectOptions[] = [];
  for (const hazard of [1 / 50, 1 / 100, 1 / 250, 1 / 500, 1 / 1000])
    for (const threshold of [0.5, 0.7, 0.9])
      for (const confirmSteps of [1, 3]) grid.push({ hazard, threshold, confirmSteps });
  const scores = grid.map((opts) => scoreDirectory(dir, opts)); // [grid][series]
  const names = scores[0].map((r) => r.name);
  let total = 0;
  console.log('held-out series      F1     chosen on the other six');
  names.forEach((name, i) => {
    let best = 0;
    let bestMean = -1;
    scores.forEach((rows, g) => {
      const mean = rows.reduce((s, r, j) => (j === i ? s : s + r.f1), 0) / (rows.length - 1);
      if (mean > bestMean) [best, bestMean] = [g, mean];
    });
    const f1 = scores[best][i].f1;
    total += f1;
    const o = grid[best];
    console.log(`${name.padEnd(20)} ${f1.toFixed(3)}  hazard 1/${Math.round(1 / o.hazard!)}, threshold ${o.threshold}, confirm ${o.confirmSteps}`);
  });
  console.log(`leave-one-out mean F1 ${(total / names.length).toFixed(3)} over ${names.length} series (${grid.length} grid points)`);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: fileURLToPath(new URL('../../shared/data/changepoints', import.meta.url)) },
      hazard: { type: 'string' },
      threshold: { type: 'string' },
      window: { type: 'string' },
      confirm: { type: 'string' },
      kappa: { type: 'string' },
      alpha: { type: 'string' },
      json: { type: 'boolean', default: false },
      loo: { type: 'boolean', default: false },
    },
  });
  if (values.loo) return leaveOneOut(values.dir!);
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const opts: SeriesDetectOptions = {
    hazard: num(values.hazard),
    threshold: num(values.threshold),
    windowSteps: num(values.window),
    confirmSteps: num(values.confirm),
    kappa: num(values.kappa),
    alpha: num(values.alpha),
  };
  for (const k of Object.keys(opts) as (keyof SeriesDetectOptions)[]) if (opts[k] === undefined) delete (opts as Record<string, unknown>)[k];
  const rows = scoreDirectory(values.dir!, opts);
  const mean = rows.reduce((s, r) => s + r.f1, 0) / rows.length;
  if (values.json) {
    console.log(JSON.stringify({ rows, meanF1: mean }));
    return;
  }
  console.log('series               n    F1     P      R      predicted');
  for (const r of rows) {
    console.log(`${r.name.padEnd(20)} ${String(r.n).padStart(4)}  ${r.f1.toFixed(3)}  ${r.precision.toFixed(3)}  ${r.recall.toFixed(3)}  ${JSON.stringify(r.predicted)}`);
  }
  console.log(`mean F1 ${mean.toFixed(3)} over ${rows.length} series (reference: BOCPD default 0.662, best 0.886)`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
