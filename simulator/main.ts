/**
 * `npm run sim -- --arrivals <file> --bandwidth <file> --slo-ms <n> [options]`
 * Trace-driven simulation of every policy; prints a Markdown table, optionally writes JSON and
 * an SVG report. See simulator/README.md.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { ARRIVAL_FORMATS, type ArrivalFormat } from '../shared/traces/arrivals.ts';
import { BANDWIDTH_FORMATS, type BandwidthFormat } from '../shared/traces/bandwidth.ts';
import { loadSim, parseWorldScale } from './config.ts';
import { jsonDocument, markdownTable, writeReport } from './report.ts';
import { POLICY_NAMES, runSimulation } from './run.ts';

const USAGE = `usage: npm run sim -- --arrivals <file> --bandwidth <file> --slo-ms <n>
  [--arrivals-format ${ARRIVAL_FORMATS.join('|')}] [--rate-scale x]
  [--bandwidth-format ${BANDWIDTH_FORMATS.join('|')}]
  [--edge-profile <profile.json|measured.tsv>] [--fc-profile <profile.json|harmonybatch.json>]
  [--item-bytes n] [--duration s] [--seed n] [--policies ${POLICY_NAMES.join(',')}]
  [--edge-workers n] [--rtt-ms n] [--keep-alive-ms n] [--noise x] [--json out.json] [--report dir]
  [--world-scale edge=1.5,tier-c1-m2048=2,tier-c4-m8192=0.6,link=0.5]  (world's speeds ≠ the policies' prior)`;

function num(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x < min) throw new Error(`Expected \`--${name}\` to be a number ≥ ${min}, got \`${v}\``);
  return x;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`Expected \`--${name}\` to be one of ${allowed.join(', ')}, got \`${v}\``);
  return v as T;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      arrivals: { type: 'string' },
      'arrivals-format': { type: 'string' },
      'rate-scale': { type: 'string' },
      bandwidth: { type: 'string' },
      'bandwidth-format': { type: 'string' },
      'edge-profile': { type: 'string' },
      'fc-profile': { type: 'string' },
      'item-bytes': { type: 'string' },
      'slo-ms': { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      policies: { type: 'string' },
      json: { type: 'string' },
      report: { type: 'string' },
      'edge-workers': { type: 'string' },
      'rtt-ms': { type: 'string' },
      'keep-alive-ms': { type: 'string' },
      noise: { type: 'string' },
      'world-scale': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.arrivals || !values.bandwidth || !values['slo-ms']) throw new Error(`--arrivals, --bandwidth and --slo-ms are required\n${USAGE}`);
  const loaded = loadSim({
    arrivals: values.arrivals,
    arrivalsFormat: oneOf<ArrivalFormat>('arrivals-format', values['arrivals-format'], ARRIVAL_FORMATS),
    rateScale: num('rate-scale', values['rate-scale'], Number.MIN_VALUE),
    bandwidth: values.bandwidth,
    bandwidthFormat: oneOf<BandwidthFormat>('bandwidth-format', values['bandwidth-format'], BANDWIDTH_FORMATS),
    edgeProfile: values['edge-profile'],
    fcProfile: values['fc-profile'],
    itemBytes: num('item-bytes', values['item-bytes'], 1),
    sloMs: num('slo-ms', values['slo-ms'], 1)!,
    durationS: num('duration', values.duration, 0),
    seed: num('seed', values.seed, 0),
    policies: values.policies?.split(',').map((s) => s.trim()).filter(Boolean),
    edgeWorkers: num('edge-workers', values['edge-workers'], 0),
    rttMs: num('rtt-ms', values['rtt-ms'], 0),
    keepAliveMs: num('keep-alive-ms', values['keep-alive-ms'], 0),
    noiseScale: num('noise', values.noise, 0),
    worldScale: values['world-scale'] ? parseWorldScale(values['world-scale']) : undefined,
  });
  const n = loaded.config.arrivalsMs.length;
  const bar = n > 20_000 ? new cliProgress.SingleBar({ format: '{policy} [{bar}] {percentage}% | {value}/{total} arrivals', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  let current = '';
  const t0 = performance.now();
  const result = runSimulation({
    ...loaded.config,
    onProgress: bar
      ? (policy, done, total) => {
          if (policy !== current) {
            if (current) bar.stop();
            current = policy;
            bar.start(total, 0, { policy: policy.padEnd(13) });
          }
          bar.update(done);
        }
      : undefined,
  });
  bar?.stop();
  const elapsedS = (performance.now() - t0) / 1000;
  console.log(markdownTable(result.policies));
  console.log(`\n${n} requests, SLO ${loaded.config.sloMs} ms, ${elapsedS.toFixed(1)} s wall${result.staticBest ? `; static-best = ${JSON.stringify(result.staticBest)}` : ''}`);
  if (values.json) writeFileSync(values.json, JSON.stringify(jsonDocument(result, loaded.describe), null, 2));
  if (values.report) {
    const files = await writeReport(values.report, { result, arrivalsMs: loaded.config.arrivalsMs, bandwidth: loaded.bandwidth, config: loaded.describe });
    console.error(`report: ${files.map((f) => `${values.report}/${f}`).join(', ')}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
