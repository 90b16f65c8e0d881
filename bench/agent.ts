/**
 * `npm run bench:agent`: what the agent costs on top of what it wraps, each measured against a
 * baseline in the same run on loopback.
 *
 * 1. Overhead: the agent with the `noop` backend vs a bare Hono server that reads the same body
 *    and answers JSON — req/s ratio (target ≥ 0.8, #16) and p99 of both (target: ≤ 2 ms added).
 * 2. Local OCR at saturation: the agent with the edge backend only (its default workers ×
 *    threads) under enough concurrent clients to fill its batches, vs a raw ONNX Runtime loop
 *    (createBatchInference in this process, as many intra-op threads as the agent's workers use) at the agent's mean batch size — throughput ratio
 *    (target ≥ 0.9). The agent's worker runs a big batch in chunks of the size it measured at
 *    start-up; the plain raw loop runs each batch in one ONNX run, as the target asks. A second
 *    raw loop with the same chunks isolates what the agent itself costs (HTTP, queue, worker
 *    messages) from what chunking gains.
 *
 * Both run in interleaved rounds (baseline, agent, baseline, agent, …) and report the median
 * ratio, so background load on a shared machine weighs on both sides alike.
 *
 * 3. Memory: the edge-only agent's RSS after the same OCR saturation load (`--ocr-connections`,
 *    `--ocr-duration`, `--warmup`), measured by bench/rss.ts on `npm start`'s command in a child
 *    process — this process's own RSS would count the load generator and the raw loops' sessions.
 *
 * With `--separate`, [1] runs the echo (bench/echo-server.mjs) and the agent (`node
 * edge-agent/start.mjs --backends noop`, compiled as `npm start` runs it) each in a process of its
 * own, the load generator staying in this one, and also prints each server's CPU time per request
 * (Linux: /proc/<pid>/stat). In one process the client's own cost is shared by both sides and
 * narrows the gap; in three, the two servers are compared alone (the 2-core machine then runs three
 * busy processes, so the client can be the limit for the echo).
 *
 * Flags: --separate (see above), --duration <s> (per overhead measurement, default 4), --ocr-duration <s> (per OCR
 * measurement, default 10: 16 closed-loop clients finish in bursts of a batch, so a 4 s count
 * moves in steps of ±8 %), --rounds <n> (default 3),
 * --connections <n> (overhead, default 64), --ocr-connections <n> (default 16: enough to keep
 * the edge saturated without a long queue), --warmup <s> (agent warm-up before measuring, default 12), --only overhead|ocr|rss.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { createBatchInference, type BatchInference } from '../shared/batch-inference.ts';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent } from '../edge-agent/service/agent.ts';
import { describeChunkSize } from '../edge-agent/backends/local-onnx.ts';
import { median } from '../shared/stats.ts';
import { renderTextLine } from '../shared/text-line-images.ts';
import { formatAgentRss, measureAgentRss } from './rss.ts';

/** The part of autocannon's API this bench uses (the package ships no types). */
interface CannonResult {
  requests: { average: number; total: number };
  /** Seconds the run actually lasted. */
  duration: number;
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    'ocr-duration': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    'ocr-connections': { type: 'string', default: '16' },
    warmup: { type: 'string', default: '12' },
    only: { type: 'string' },
    separate: { type: 'boolean', default: false },
  },
});
const durationS = Number(values.duration);
const ocrDurationS = Number(values['ocr-duration']);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const ocrConnections = Number(values['ocr-connections']);
const warmupS = Number(values.warmup);
if (!Number.isInteger(ocrConnections) || ocrConnections < 1) throw new RangeError(`Expected \`--ocr-connections\` to be an integer ≥ 1, got \`${values['ocr-connections']}\``);
if (!(warmupS >= 0)) throw new RangeError(`Expected \`--warmup\` to be a number of seconds ≥ 0, got \`${values.warmup}\``);
if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`Expected \`--rounds\` to be an integer ≥ 1, got \`${values.rounds}\``);
if (!(ocrDurationS > 0)) throw new RangeError(`Expected \`--ocr-duration\` to be a number of seconds > 0, got \`${values['ocr-duration']}\``);
if (!(durationS > 0)) throw new RangeError(`Expected \`--duration\` to be a number of seconds > 0, got \`${values.duration}\``);
if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`Expected \`--connections\` to be an integer ≥ 1, got \`${values.connections}\``);

interface Load {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly total: number;
}

async function load(url: string, body: Buffer, headers: Record<string, string>, conns: number, seconds: number): Promise<Load> {
  const r = await autocannon({ url, method: 'POST', body, headers, connections: conns, duration: seconds, pipelining: 1 });
  // total ÷ duration, not requests.average: that is a mean of whole-second counts (40 vs 44).
  return { rps: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts, total: r.requests.total };
}

function fmt(l: Load): string {
  return `${l.rps.toFixed(1).padStart(7)} req/s  p50 ${l.p50Ms.toFixed(1).padStart(6)} ms  p99 ${l.p99Ms.toFixed(1).padStart(6)} ms  non-2xx ${l.non2xx}  errors ${l.errors}`;
}

async function echoServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = new Hono();
  app.post('/echo', async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    return c.json({ id: 'x', text: '', bytes: bytes.length });
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/echo`, close: () => new Promise((r) => server.close(() => r())) };
}

/** A server of [1]: its URL, its process id when it runs in a process of its own, and how to stop it. */
interface Served {
  readonly url: string;
  readonly pid?: number;
  close(): Promise<void>;
}

/** Spawn `node <args>` and wait for the stderr line matching `ready` (its first group: the URL). */
async function spawnServer(args: string[], ready: RegExp): Promise<Served> {
  const child = spawn(process.execPath, args, { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = ready.exec(err);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`node ${args.join(' ')} exited (${code}) before listening:\n${err}`)));
  });
  return { url, pid: child.pid, close: async () => void (child.kill('SIGINT'), await exited) };
}

/** CPU time (user + system) of a process so far, ms; undefined where /proc is not there. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields 14 and 15 (utime, stime) after the parenthesised command name, in clock ticks (100 Hz on Linux).
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

async function overhead(png: Buffer): Promise<void> {
  const where = values.separate ? 'echo, agent and load generator each in a process of its own' : 'all in this process';
  console.log(`\n[1] agent overhead: noop backend vs bare Hono echo (${connections} connections, ${rounds} interleaved rounds of ${durationS} s each after ${warmupS} s warm-up; ${where})`);
  let echo: Served;
  let agent: Served;
  if (values.separate) {
    echo = await spawnServer(['bench/echo-server.mjs', '0'], /echo on (\S+)/);
    agent = await spawnServer(['edge-agent/start.mjs', '--port', '0', '--backends', 'noop', '--log-level', 'warn', '--max-queue', '100000'], /listening on (\S+)/).catch(async (e) => {
      await echo.close();
      throw e;
    });
  } else {
    echo = await echoServer();
    const running = await startAgent(parseConfig({ port: 0, backends: ['noop'], logLevel: 'warn', maxQueue: 100_000 }));
    agent = { url: running.url, close: () => running.shutdown(1000) };
  }
  const headers = { 'content-type': 'image/png' };
  const ratios: number[] = [];
  const addedP99: number[] = [];
  const cpuUs = { echo: [] as number[], agent: [] as number[] };
  // CPU µs per request of a server over one load, when it has a process of its own.
  const measured = async (s: Served, url: string, into: number[]): Promise<[Load, string]> => {
    const c0 = cpuMs(s.pid);
    const l = await load(url, png, headers, connections, durationS);
    const c1 = cpuMs(s.pid);
    if (c0 === undefined || c1 === undefined) return [l, ''];
    const us = ((c1 - c0) * 1000) / Math.max(1, l.total);
    into.push(us);
    return [l, `   cpu ${us.toFixed(0)} µs/req`];
  };
  try {
    // Warm both (JIT, sockets) before measuring; the agent long enough for the core's plan to
    // leave its warm-up, as in a long-running agent.
    await load(echo.url, png, headers, connections, 1);
    await load(`${agent.url}/v1/infer`, png, headers, connections, Math.max(1, warmupS));
    // Interleaved rounds: background load on a shared machine hits both sides alike.
    for (let r = 0; r < rounds; r++) {
      const [base, baseCpu] = await measured(echo, echo.url, cpuUs.echo);
      const before = await batchCounts(agent.url);
      const [ours, oursCpu] = await measured(agent, `${agent.url}/v1/infer`, cpuUs.agent);
      const after = await batchCounts(agent.url);
      const meanBatch = (after.sum - before.sum) / Math.max(1, after.count - before.count);
      ratios.push(ours.rps / base.rps);
      addedP99.push(ours.p99Ms - base.p99Ms);
      console.log(`  round ${r + 1}  bare Hono echo : ${fmt(base)}${baseCpu}`);
      console.log(`  round ${r + 1}  agent (noop)   : ${fmt(ours)}${oursCpu}   mean batch ${meanBatch.toFixed(2)}   ratio ${(ours.rps / base.rps).toFixed(3)}`);
    }
    console.log(`  => median ratio req/s agent/echo = ${median(ratios).toFixed(3)}  (target ≥ 0.8); median p99 added ${median(addedP99).toFixed(1)} ms (target ≤ 2)`);
    if (cpuUs.agent.length > 0) console.log(`     median CPU per request: echo ${median(cpuUs.echo).toFixed(0)} µs, agent ${median(cpuUs.agent).toFixed(0)} µs`);
  } finally {
    await agent.close();
    await echo.close();
  }
}

async function ocr(png: Buffer): Promise<void> {
  // The agent as a user starts it edge-only: workers × threads and chunk chosen at start-up.
  const agent = await startAgent(parseConfig({ port: 0, backends: ['edge'], logLevel: 'warn', maxQueue: 100_000, maxDeadlineMs: 600_000 }));
  const setup = agent.edgeSetup!;
  // The raw loop gets the same cores in one session: workers × threads intra-op threads.
  const threads = setup.workers * setup.intraOpThreads;
  console.log(`\n[2] local OCR at saturation: agent (edge only, defaults: ${setup.workers} worker${setup.workers > 1 ? 's' : ''} × ${setup.intraOpThreads} intra-op thread, ${setup.layout}; ${ocrConnections} connections) vs raw ONNX Runtime loop in this process with ${threads} intra-op thread${threads > 1 ? 's' : ''}, ${rounds} interleaved rounds of ${ocrDurationS} s after ${warmupS} s warm-up`);
  const raw = await createBatchInference({ intraOpThreads: threads });
  const chunk = setup.chunkSize === 'whole' ? Infinity : setup.chunkSize;
  const rawChunked = Number.isFinite(chunk) ? await createBatchInference({ intraOpThreads: threads, chunkSize: chunk }) : raw;
  console.log(`  agent's edge worker: ${describeChunkSize(chunk)} (measured at start-up)`);
  // A generous deadline: this measures throughput, so nothing should be refused as late.
  const headers = { 'content-type': 'image/png', 'x-deadline-ms': '60000' };
  const ratios: number[] = [];
  const chunkedRatios: number[] = [];
  const agentRps: number[] = [];
  try {
    // Warm-up long enough for the core's plan to leave its warm-up (10 ticks of arrivals by
    // default) and size edge batches from the measured rate, as a long-running agent would.
    if (warmupS > 0) await load(`${agent.url}/v1/infer`, png, headers, ocrConnections, warmupS);
    while (agent.runtime.pending > 0) await new Promise((res) => setTimeout(res, 20));
    for (let r = 0; r < rounds; r++) {
      const before = await batchCounts(agent.url);
      const ours = await load(`${agent.url}/v1/infer`, png, headers, ocrConnections, ocrDurationS);
      // Let the requests still queued when the load stopped drain before the baseline runs.
      while (agent.runtime.pending > 0) await new Promise((res) => setTimeout(res, 20));
      const after = await batchCounts(agent.url);
      const meanBatch = (after.sum - before.sum) / Math.max(1, after.count - before.count);
      const b = Math.max(1, Math.round(meanBatch));
      const base = await rawLoop(raw, png, b, ocrDurationS);
      ratios.push(ours.rps / base);
      agentRps.push(ours.rps);
      console.log(`  round ${r + 1}  agent /v1/infer: ${fmt(ours)}  mean batch ${meanBatch.toFixed(2)}`);
      console.log(`  round ${r + 1}  raw ORT loop   : ${base.toFixed(1).padStart(6)} items/s at batch ${b}   ratio ${(ours.rps / base).toFixed(3)}`);
      if (rawChunked !== raw) {
        const same = await rawLoop(rawChunked, png, b, ocrDurationS);
        chunkedRatios.push(ours.rps / same);
        console.log(`  round ${r + 1}  raw, same chunks: ${same.toFixed(1).padStart(5)} items/s at batch ${b}   ratio ${(ours.rps / same).toFixed(3)}`);
      }
    }
    console.log(`  => median ratio throughput agent/raw = ${median(ratios).toFixed(3)}  (target ≥ 0.9)`);
    if (chunkedRatios.length) console.log(`     median ratio agent/raw with the same chunks = ${median(chunkedRatios).toFixed(3)}  (the agent's own cost; no target)`);
    // The device's limit (#16): the best raw configuration, intra-op threads {1, 2} × batch {4, 8, 16},
    // in this process with the agent idle (its load generator is not running either).
    let best = { rps: 0, threads: 0, batch: 0 };
    for (const t of [1, 2]) {
      const inf = await createBatchInference({ intraOpThreads: t });
      try {
        for (const b of [4, 8, 16]) {
          const rps = await rawLoop(inf, png, b, Math.min(3, ocrDurationS));
          if (rps > best.rps) best = { rps, threads: t, batch: b };
        }
      } finally {
        await inf.close();
      }
    }
    console.log(`     device limit: raw ORT ${best.rps.toFixed(1)} items/s (${best.threads} intra-op thread${best.threads > 1 ? 's' : ''}, batch ${best.batch}); agent / limit = ${(median(agentRps) / best.rps).toFixed(3)}  (target ≥ 0.85; the agent's load generator shares the cores, the raw loop's does not)`);
  } finally {
    if (rawChunked !== raw) await rawChunked.close();
    await raw.close();
    await agent.shutdown(5000);
  }
}

/** Batches so far, from the agent's own Prometheus histogram. */
async function batchCounts(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const s = /^agent_batch_size_sum\{[^}]*\} ([\d.e+-]+)$/.exec(line);
    if (s) sum += Number(s[1]);
    const c = /^agent_batch_size_count\{[^}]*\} ([\d.e+-]+)$/.exec(line);
    if (c) count += Number(c[1]);
  }
  return { sum, count };
}

async function rawLoop(inf: BatchInference, png: Buffer, batch: number, seconds: number): Promise<number> {
  const items = Array.from({ length: batch }, (_, i) => ({ id: String(i), type: 'image/png' as const, bytes: new Uint8Array(png) }));
  for (let i = 0; i < 3; i++) await inf.run(items); // warm-up
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await inf.run(items);
    n += batch;
  }
  return n / ((performance.now() - t0) / 1000);
}

const png = await renderTextLine('EDGE-2026 batch');
console.log(`bench:agent on ${process.version}, ${(await import('node:os')).cpus().length} CPUs, body ${png.length} B PNG`);
if (!values.only || values.only === 'overhead') await overhead(png);
if (!values.only || values.only === 'ocr') await ocr(png);
if (!values.only || values.only === 'rss') {
  console.log(`\n[3] edge-only agent's RSS after saturation: npm start's command in a child process, ${ocrConnections} connections, ${ocrDurationS} s after ${warmupS} s warm-up`);
  console.log(`  ${formatAgentRss(await measureAgentRss({ body: png, connections: ocrConnections, durationS: ocrDurationS, warmupS }))}  (target ≤ 250 MB after load)`);
}
process.exit(0);
