/**
 * `npm run cpd -- --input <file.json> [--hazard 0.001] [--model normal|poisson] [--threshold 0.9]`
 * Reads a TCPD series (`series[0].raw`, nulls allowed) and prints the detected changepoint
 * indices (0-based, aligned with the raw series) as a JSON array on stdout.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { detectChangepoints, SERIES_DEFAULTS, type SeriesDetectOptions } from '../edge-agent/core/index.ts';

const USAGE = 'usage: npm run cpd -- --input <file.json> [--hazard H] [--model normal|poisson] [--threshold P] [--window L] [--confirm N]';

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        input: { type: 'string' },
        hazard: { type: 'string' },
        model: { type: 'string', default: 'normal' },
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
  if (values.model !== 'normal' && values.model !== 'poisson') {
    console.error(`Expected \`--model\` to be 'normal' or 'poisson', got \`${values.model}\``);
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
    const opts: SeriesDetectOptions = { model: values.model };
    const o = opts as Record<string, unknown>;
    const set = (k: string, v: number | undefined) => v !== undefined && (o[k] = v);
    set('hazard', num('hazard', values.hazard));
    set('threshold', num('threshold', values.threshold));
    set('windowSteps', num('window', values.window));
    set('confirmSteps', num('confirm', values.confirm));
    console.log(JSON.stringify(detectChangepoints(raw, opts)));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
}

process.exitCode = main();
