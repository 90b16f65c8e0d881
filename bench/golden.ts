/**
 * `npm run golden [-- --update] [--data ../shared/data]`: the simulator's figures on five fixed
 * reference runs, against the JSON recorded in bench/golden/. A behaviour-preserving change
 * (a refactor) must leave every policy's figures identical; a policy change updates the files
 * with `--update` and says in its commit what moved. Not part of `npm test`: it needs the
 * reference traces and takes a few minutes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

type Golden = { policies: Record<string, unknown> };

const { values } = parseArgs({ options: { update: { type: 'boolean' }, data: { type: 'string' } } });
const root = fileURLToPath(new URL('..', import.meta.url));
const data = resolve(values.data ?? join(root, '..', 'shared', 'data'));
const dir = join(root, 'bench', 'golden');
const resnet = ['--edge-profile', `${data}/profiles/resnet50-measured.tsv`, '--fc-profile', `${data}/profiles/harmonybatch-vgg19-alibaba-fc.json`];
const twitter = ['--arrivals', `${data}/arrivals/twitter-may25-first-half.txt`, '--bandwidth', `${data}/bandwidth/lte-ghent-car-1.log`, '--slo-ms', '1000'];
const azure = ['--arrivals', `${data}/arrivals/azure-llm-code-2023.csv`, '--bandwidth', `${data}/bandwidth/hsdpa-norway_bus_1.cooked`, '--slo-ms', '2000'];
const RUNS: Record<string, string[]> = {
  'twitter-lte1-1000-x1': twitter,
  'twitter-lte1-1000-x3': [...twitter, '--rate-scale', '3'],
  'azure-bus1-2000-x3': [...azure, '--rate-scale', '3'],
  'azure-bus1-2000-resnet': [...azure, ...resnet],
  'twitter-lte1-1000-resnet': [...twitter, ...resnet],
};

if (!existsSync(join(data, 'arrivals'))) throw new Error(`reference data not found at ${data} (pass --data <dir>)`);
const tmp = mkdtempSync(join(tmpdir(), 'golden-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let differ = 0;
for (const [name, args] of Object.entries(RUNS)) {
  const out = join(tmp, `${name}.json`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'simulator', 'main.ts'), ...args, '--json', out], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sim ${name} failed:\n${r.stderr}`);
  const got = readFileSync(out, 'utf8');
  const file = join(dir, `${name}.json`);
  if (values.update) {
    writeFileSync(file, got);
    console.log(`${name}: recorded`);
    continue;
  }
  // The figures, not the config (which names the trace paths of this machine).
  const want = (JSON.parse(readFileSync(file, 'utf8')) as Golden).policies;
  const have = (JSON.parse(got) as Golden).policies;
  if (JSON.stringify(have) === JSON.stringify(want)) {
    console.log(`${name}: identical`);
    continue;
  }
  differ++;
  console.log(`${name}: DIFFERS`);
  for (const [policy, figures] of Object.entries(have)) {
    if (JSON.stringify(want[policy]) !== JSON.stringify(figures)) console.log(`  ${policy}: ${JSON.stringify(want[policy])}\n  → ${JSON.stringify(figures)}`);
  }
}
if (differ > 0) {
  console.log(`${differ} run(s) differ from bench/golden (npm run golden -- --update records the new figures)`);
  process.exitCode = 1;
}
