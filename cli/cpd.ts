/**
 * `npm run cpd -- --input <file.json> [--model auto|normal|trend|poisson] [--hazard 0.001] [--threshold 0.97] ...`
 * Reads a TCPD series (`series[0].raw`, nulls allowed) and prints the detected changepoint
 * indices (0-based, aligned with the raw series) as a JSON array on stdout. `--explain` prints
 * the chosen segment model and its log evidence on stderr.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { detectSeries, SERIES_DEFAULTS, SERIES_MODELS, type SeriesDetectOptions } from '../edge-agent/core/detect-series.ts';

const USAGE =
  'usage: npm run cpd -- --input <file.json> [--model auto|normal|trend|poisson] [--hazard H] [--threshold P] [--window L] [--confirm N] [--slope-sd S] [--outlier EPS] [--explain]';

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        input: { type: 'string' },
        hazard: { type: 'string' },
        model: { type: 'string', default: SERIES_DEFAULTS.model },
        'slope-sd': { type: 'string' },
        outlier: { type: 'string' },
        explain: { type: 'boolean', default: false },
        threshold: { type: 'string' },
        window: { type: 'string' },
        confirm: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(`${USAGE}\ndefaults: ${JSON.stringify(SERIES_DEFAULTS)}`);
    return 0;
  }
  if (!values.input) {
    console.error(`missing --input\n${USAGE}`);
    return 2;
  }
  if (!(SERIES_MODELS as readonly string[]).includes(values.model!)) {
    console.error(`Expected \`--model\` to be one of ${SERIES_MODELS.map((m) => `'${m}'`).join(', ')}, got \`${values.model}\``);
    return 2;
  }
  let raw: (number | null)[];
  try {
    const doc = JSON.parse(readFileSync(values.input, 'utf8')) as { series?: { raw?: unknown }[] };
    const r = doc.series?.[0]?.raw;
    if (!Array.isArray(r)) throw new Error('no series[0].raw array');
    raw = r.map((x) => (typeof x === 'number' ? x : null));
  } catch (e) {
    console.error(`cannot read TCPD series from ${values.input}: ${(e as Error).message}`);
    return 1;
  }
  const num = (name: string, s: string | undefined): number | undefined => {
    if (s === undefined) return undefined;
    const v = Number(s);
    if (!Number.isFinite(v)) throw new RangeError(`Expected \`--${name}\` to be a finite number, got \`${s}\``);
    return v;
  };
  try {
    const opts: SeriesDetectOptions = { model: values.model as SeriesDetectOptions['model'] };
    const o = opts as Record<string, unknown>;
    const set = (k: string, v: number | undefined) => v !== undefined && (o[k] = v);
    set('hazard', num('hazard', values.hazard));
    set('threshold', num('threshold', values.threshold));
    set('windowSteps', num('window', values.window));
    set('confirmSteps', num('confirm', values.confirm));
    set('slopeSd', num('slope-sd', values['slope-sd']));
    set('outlierProbability', num('outlier', values.outlier));
    const found = detectSeries(raw, opts);
    if (values.explain) console.error(`model ${found.model}, log evidence ${found.logEvidence.toFixed(1)} (standardised units)`);
    console.log(JSON.stringify(found.changepoints));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
}

process.exitCode = main();
