/**
 * `npm run bench:rss`: the edge agent's resident memory after a saturating load, measured on an
 * agent in a child process of its own — so the figure is the agent's alone, not the load
 * generator's or a baseline's in the same process. The ONNX worker is a worker thread of that
 * child, so its memory (ONNX Runtime's session and arenas, sharp's decode buffers) is counted.
 *
 *   npm run bench:rss                                   # npm start's command, edge only, 32 clients, 20 s
 *   npm run bench:rss -- --launch tsx                   # node --import tsx edge-agent/main.ts instead
 *   npm run bench:rss -- --duration 20 -- --edge-workers 2   # agent flags after `--`
 *
 * `--launch npm-start` (the default) runs package.json's `start` script as npm would — its
 * environment assignments and node flags included — with `--port 0 --backends edge --log-level
 * warn` and any agent flags after `--` appended. Closed loop: `--connections` clients, each sends
 * its next request (one rendered text line, generous deadline) when the previous one is answered.
 * RSS is VmRSS from /proc/<pid>/status (Linux only), sampled every 250 ms; "after load" is read
 * once the last request was answered. CPU time is the child's user + system time per answered
 * request over the measured run: unlike req/s it barely moves when other processes share the
 * cores, so it is the better check that a memory setting does not cost throughput.
 *
 * Flags: --launch npm-start|tsx, --connections (32), --duration <s> (20), --warmup <s> (3, loaded,
 * not measured).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** How the child agent is started. */
export type AgentLaunch = 'npm-start' | 'tsx';

export interface AgentRssOptions {
  /** Request body: one encoded image. */
  readonly body: Uint8Array;
  /** @default 'image/png' */
  readonly type?: string;
  /** @default 'npm-start' */
  readonly launch?: AgentLaunch;
  /** Agent flags after `--port 0 --backends edge --log-level warn` (later flags win). @default [] */
  readonly agentArgs?: readonly string[];
  /** Closed-loop clients. Minimum 1. @default 32 */
  readonly connections?: number;
  /** Measured load, seconds. @default 20 */
  readonly durationS?: number;
  /** Load before the measured run, seconds (0 = none). @default 3 */
  readonly warmupS?: number;
}

/** Memory of the agent's process, MB (10^6 bytes), and what the load achieved. */
export interface AgentRss {
  /** The command that started the agent, as a shell would show it. */
  readonly command: string;
  /** The agent's own line on its backends, e.g. `edge (ocr-rec, 1 worker, ≤ 4 per ONNX run)`. */
  readonly backends: string;
  /** VmRSS once the agent listens (model loaded, chunk size measured). */
  readonly startedMb: number;
  /** Largest VmRSS sampled during the load (warm-up included). */
  readonly peakMb: number;
  /** VmRSS once the last request of the load was answered. */
  readonly afterLoadMb: number;
  /** VmHWM: the kernel's own peak, between the samples too. */
  readonly hwmMb: number;
  /** 2xx answers per second in the measured run. */
  readonly rps: number;
  /** The agent's CPU time (all threads) per 2xx answer in the measured run, ms. */
  readonly cpuMsPerRequest: number;
  /** Mean batch size in the measured run (the agent's own histogram). */
  readonly meanBatch: number;
  readonly non2xx: number;
  readonly errors: number;
}

interface CannonResult {
  requests: { total: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

/** A field of /proc/<pid>/status in MB, e.g. `VmRSS`. */
export function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return (Number(m[1]) * 1024) / 1e6;
}

/** User + system CPU time of a process, all threads, ms (/proc/<pid>/stat; USER_HZ is 100 on Linux). */
function cpuMs(pid: number): number {
  // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // utime, stime: fields 14 and 15
}

/**
 * package.json's `start` script as environment and node's argv: leading `NAME=value` words are
 * the environment, the rest must start with `node` or `tsx` (the tsx CLI runs a child
 * `node --import tsx …`, whose memory this measures; its own small parent process is not counted).
 * @example startCommand('MALLOC_ARENA_MAX=2 node edge-agent/start.mjs') // { env: { MALLOC_ARENA_MAX: '2' }, args: ['edge-agent/start.mjs'] }
 */
export function startCommand(script: string): { env: Record<string, string>; args: string[] } {
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=\S*$/.test(words[0])) {
    const [name, ...value] = words.shift()!.split('=');
    env[name] = value.join('=');
  }
  const bin = words.shift();
  if (bin === 'tsx') return { env, args: ['--import', 'tsx', ...words] };
  if (bin !== 'node') throw new Error(`Expected package.json's start script to be [NAME=value …] node|tsx …, got \`${script}\``);
  return { env, args: words };
}

export function launchCommand(launch: AgentLaunch): { env: Record<string, string>; args: string[] } {
  if (launch === 'tsx') return { env: {}, args: ['--import', 'tsx', 'edge-agent/main.ts'] };
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  return startCommand(pkg.scripts.start);
}

function startChild(opts: AgentRssOptions): Promise<{ child: ChildProcess; url: string; backends: string; command: string }> {
  const launch = launchCommand(opts.launch ?? 'npm-start');
  const args = [...launch.args, '--port', '0', '--backends', 'edge', '--log-level', 'warn', ...(opts.agentArgs ?? [])];
  const command = [...Object.entries(launch.env).map(([k, v]) => `${k}=${v}`), 'node', ...args].join(' ');
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...launch.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    let listening = false;
    const onExit = (code: number | null) => reject(new Error(`agent (${command}) exited with code ${code} before listening:\n${err}`));
    child.once('exit', onExit);
    child.stderr!.setEncoding('utf8');
    // Keeps reading after start-up (a full pipe would block the agent), keeps nothing.
    child.stderr!.on('data', (s: string) => {
      if (listening) return;
      err += s;
      const m = /edge agent listening on (\S+)\nbackends: (.*)\n/.exec(err);
      if (m) {
        listening = true;
        child.off('exit', onExit);
        resolve({ child, url: m[1], backends: m[2], command });
      }
    });
  });
}

/** Batches so far, from the agent's Prometheus histogram. */
async function batchCounts(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const total = (name: string) => text.split('\n').reduce((acc, line) => acc + Number(new RegExp(`^${name}\\{[^}]*\\} ([\\d.e+-]+)$`).exec(line)?.[1] ?? 0), 0);
  return { sum: total('agent_batch_size_sum'), count: total('agent_batch_size_count') };
}

/**
 * Start an edge-only agent in a child process, load it to saturation, read its RSS, stop it.
 * @example
 * const r = await measureAgentRss({ body: await renderTextLine('EDGE-2026 batch') });
 * console.log(formatAgentRss(r)); // RSS 198 MB started → 231 MB after load (peak 236 MB …
 */
export async function measureAgentRss(opts: AgentRssOptions): Promise<AgentRss> {
  const connections = opts.connections ?? 32;
  const durationS = opts.durationS ?? 20;
  const warmupS = opts.warmupS ?? 3;
  if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`Expected \`connections\` to be an integer ≥ 1, got \`${connections}\``);
  if (!(durationS > 0)) throw new RangeError(`Expected \`durationS\` to be a number of seconds > 0, got \`${durationS}\``);
  if (!(warmupS >= 0)) throw new RangeError(`Expected \`warmupS\` to be a number of seconds ≥ 0, got \`${warmupS}\``);
  const { child, url, backends, command } = await startChild(opts);
  const pid = child.pid!;
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(procStatusMb(pid, 'VmRSS')), 250);
  try {
    const startedMb = procStatusMb(pid, 'VmRSS');
    // A generous deadline: nothing should be refused as late, every request is work.
    const load = (seconds: number) =>
      autocannon({ url: `${url}/v1/infer`, method: 'POST', body: Buffer.from(opts.body), headers: { 'content-type': opts.type ?? 'image/png', 'x-deadline-ms': '60000' }, connections, duration: seconds, pipelining: 1 });
    if (warmupS > 0) await load(warmupS);
    const before = await batchCounts(url);
    const cpu0 = cpuMs(pid);
    const r = await load(durationS);
    // autocannon resolves once every request in flight was answered: the agent is idle again.
    const cpu1 = cpuMs(pid);
    const afterLoadMb = procStatusMb(pid, 'VmRSS');
    const after = await batchCounts(url);
    const answered = r.requests.total - r.non2xx;
    return {
      command,
      backends,
      startedMb,
      peakMb: Math.max(startedMb, afterLoadMb, ...samples),
      afterLoadMb,
      hwmMb: procStatusMb(pid, 'VmHWM'),
      rps: answered / r.duration,
      cpuMsPerRequest: (cpu1 - cpu0) / Math.max(1, answered),
      meanBatch: (after.sum - before.sum) / Math.max(1, after.count - before.count),
      non2xx: r.non2xx,
      errors: r.errors + r.timeouts,
    };
  } finally {
    clearInterval(timer);
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGTERM');
    await exited;
  }
}

/** One line for a report. */
export function formatAgentRss(r: AgentRss): string {
  return (
    `RSS ${r.startedMb.toFixed(0)} MB started → ${r.afterLoadMb.toFixed(0)} MB after load (peak ${r.peakMb.toFixed(0)} MB sampled, ${r.hwmMb.toFixed(0)} MB VmHWM); ` +
    `${r.rps.toFixed(1)} req/s, ${r.cpuMsPerRequest.toFixed(1)} CPU ms/request, mean batch ${r.meanBatch.toFixed(1)}, non-2xx ${r.non2xx}, errors ${r.errors}`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      launch: { type: 'string', default: 'npm-start' },
      connections: { type: 'string', default: '32' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
    },
  });
  if (values.launch !== 'npm-start' && values.launch !== 'tsx') throw new RangeError(`Expected \`--launch\` to be npm-start or tsx, got \`${values.launch}\``);
  const { renderTextLine } = await import('../shared/text-line-images.ts');
  const body = await renderTextLine('EDGE-2026 batch');
  const connections = Number(values.connections);
  console.log(`bench:rss on ${process.version}: edge-only agent in a child process, ${connections} closed-loop clients, ${values.warmup} s warm-up + ${values.duration} s measured`);
  const r = await measureAgentRss({ body, launch: values.launch, agentArgs: positionals, connections, durationS: Number(values.duration), warmupS: Number(values.warmup) });
  console.log(`agent: ${r.command}\n       ${r.backends}`);
  console.log(formatAgentRss(r));
}
