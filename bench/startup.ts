/**
 * `npm run bench:startup`: time from spawning `npm start`'s command to `/healthz` answering 200
 * (#16 item 5, target ≤ 3 s), for the default backends (edge + the embedded local FC) and for
 * `--backends edge`, each on a first start (the edge's chunk calibration runs) and on a start
 * that reads the calibration cached by the first.
 *
 *   npm run bench:startup                 # 3 starts of each kind
 *   npm run bench:startup -- --runs 5
 *
 * The command is package.json's `start` script (its environment and node flags included), with
 * `--port <free> --log-level warn` appended; `/healthz` is polled every 10 ms. A first start is
 * made by moving `node_modules/.cache/seb-calibration` aside for the run; it is put back after
 * (a lost cache only costs the next start its calibration). The compiled bundle
 * (`node_modules/.cache/seb-agent`) is built by a warm-up start first, as every start after a
 * source change rebuilds it once (≈ 0.25 s).
 */
import { spawn } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { projectCacheDir } from '../shared/cache-dir.ts';
import { median } from '../shared/stats.ts';
import { launchCommand } from './rss.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET_S = 3;

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`Expected --runs to be an integer ≥ 1, got \`${values.runs}\``);

/** A port free right now (the agent binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Seconds from spawn to the first 200 from `/healthz`; the agent is stopped after. */
async function timeStart(extra: readonly string[]): Promise<number> {
  const launch = launchCommand('npm-start');
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [...launch.args, '--port', String(port), '--log-level', 'warn', ...extra], {
    cwd: ROOT,
    env: { ...process.env, ...launch.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`agent exited with code ${exited} before /healthz answered:\n${err}`);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (ok) return (performance.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    if (exited === undefined) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
  }
}

const calibration = projectCacheDir('seb-calibration');
const aside = `${calibration}.bench-startup`;
const kinds = [
  { name: 'default (edge + local FC)', args: [] as string[] },
  { name: '--backends edge', args: ['--backends', 'edge'] },
];
console.log(`bench:startup on ${process.version}: ${launchCommand('npm-start').args.join(' ')}, ${runs} start${runs > 1 ? 's' : ''} of each kind, target ≤ ${TARGET_S} s`);
await timeStart(['--backends', 'edge']); // builds the bundle if a source changed; not counted
rmSync(aside, { recursive: true, force: true });
if (existsSync(calibration)) renameSync(calibration, aside);
try {
  for (const kind of kinds) {
    for (const first of [true, false]) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        if (first) rmSync(calibration, { recursive: true, force: true });
        times.push(await timeStart(kind.args));
      }
      const label = `${kind.name}, ${first ? 'first start (calibrates)' : 'calibration cached'}`;
      const max = Math.max(...times);
      console.log(`  ${label.padEnd(58)} ${times.map((t) => t.toFixed(2)).join(' ')} s   median ${median(times).toFixed(2)}  max ${max.toFixed(2)}  ${max <= TARGET_S ? 'met' : 'NOT met'}`);
    }
  }
} finally {
  // The user's own calibration back (the bench's last one is as good, but theirs was first).
  if (existsSync(aside)) {
    rmSync(calibration, { recursive: true, force: true });
    renameSync(aside, calibration);
  }
}
