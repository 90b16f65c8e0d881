/**
 * `npm run bench:overload`: the agent under 2× its capacity, on loopback, with the local FC.
 *
 * 1. Capacity: a short closed-loop run (`--connections` clients, each sends its next request when
 *    the previous one is answered) counts answers that met their deadline per second.
 * 2. Overload: an open-loop sender at `--factor` × capacity for `--duration` s (requests leave on
 *    schedule whether or not earlier ones were answered). Expected: excess shed early with
 *    503 + Retry-After, accepted requests meet their deadline at p99, every request gets a status.
 * 3. Recovery: `--recovery` s at half the capacity. Expected: goodput back to the offered rate
 *    (the estimators are not poisoned by the overload).
 * RSS is sampled every 250 ms throughout.
 *
 * Flags: --deadline-ms (1000), --capacity-s (8), --duration (30), --recovery (10), --factor (2),
 * --connections (16), --saturated-connections (64: a second capacity figure from a closed loop
 * with more clients than workers × batch, which keeps every worker full; 0 skips it),
 * --flood-connections (200: after the overload, a closed loop with that many clients for
 * --flood-s (5) s — every request must get an answer, none a socket error; 0 skips it),
 * --edge-workers (0: the agent's own choice), --tiers <n> (first n tiers of s.yaml, default 1: the
 * local FC runs every instance on this machine's cores, so a tier whose profile is faster than
 * the machine cannot be emulated, and under 2× load its calls run late on the shared CPU; with
 * all tiers the core then spreads the load over more tiers whose cold starts load yet more
 * models on the same cores — a harness artefact, not what real FC does; `--tiers 5` shows it),
 * --warmup <s> (5, closed-loop, not measured; lets tier cold starts happen),
 * --instance-nice <n> (0: nice value of the local FC's instance threads, via FC_LOCAL_INSTANCE_NICE),
 * --local-fc process|in-process (process: the local FC in its own process at nice 10, as `npm
 * start` runs it; in-process: inside the agent's process, as the tests run it),
 * --backends <list> (edge,fc), --edge-baseline (true: the same phases again with `--backends
 * edge`, each configuration with its own capacity measured in this run; `--no-edge-baseline` skips it).
 * --client in-process|process (in-process, the default, as every figure in the README was
 * measured: the load runs on the agent's event loop; process: in a client process of its own,
 * bench/load-client.ts, at `--client-nice` (0). Neither is a remote client: on 2 cores the
 * client's CPU, about the server's per request, comes out of the agent's loop in one case and
 * out of the edge worker's and the local FC's share in the other. 2026-12-02, two runs each:
 * edge + FC 0.92 / 0.65 in-process, 0.56 / 0.35 in a process; edge alone 0.82 / 1.16 and 0.83 / 0.79).
 *
 * At the end, one row per configuration side by side: capacity, the saturated capacity, overload
 * goodput ÷ each, the flood's requests without an answer (socket errors included) and its goodput ÷ capacity,
 * the share of refusals that were early 503s with Retry-After (rather than 504s), late answers
 * (a 504 or a 200 after the deadline), requests with no answer at all, and the edge workers' busy
 * share under overload (their batches' time ÷ wall time × workers, from the agent's metrics; each
 * phase's row has it too), and where the rest went: the agent's event-loop delay (p50/p99; a
 * worker's completion waits that long for its next batch), the cores this process used, and the
 * share of 10 ms samples with an edge worker idle while requests waited (`idleQueued`) or with
 * the queue empty (`idleEmpty`, admission let it run dry).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { embeddedLocalFc, localFcProcess } from '../edge-agent/dev/embedded-local-fc.ts';
import { quantile } from '../shared/stats.ts';
import { DEFAULT_S_YAML } from '../shared/tiers.ts';
import { randomLine, renderTextLine, seededRng } from '../shared/text-line-images.ts';
import { runLoad, type LoadJob, type Shot } from './load-client.ts';

const CLIENT = fileURLToPath(new URL('./load-client.ts', import.meta.url));

const { values } = parseArgs({
  options: {
    'deadline-ms': { type: 'string', default: '1000' },
    'capacity-s': { type: 'string', default: '8' },
    duration: { type: 'string', default: '30' },
    recovery: { type: 'string', default: '10' },
    factor: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    'saturated-connections': { type: 'string', default: '64' },
    'flood-connections': { type: 'string', default: '200' },
    'flood-s': { type: 'string', default: '5' },
    'edge-workers': { type: 'string', default: '0' },
    tiers: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '5' },
    backends: { type: 'string', default: 'edge,fc' },
    'instance-nice': { type: 'string', default: '0' },
    'edge-baseline': { type: 'boolean', default: true },
    'local-fc': { type: 'string', default: 'process' },
    'no-edge-baseline': { type: 'boolean', default: false },
    client: { type: 'string', default: 'in-process' },
    'client-nice': { type: 'string', default: '0' },
  },
});
const num = (k: keyof typeof values, min: number): number => {
  const v = Number(values[k]);
  if (!(v >= min)) throw new RangeError(`Expected \`--${k}\` to be a number ≥ ${min}, got \`${String(values[k])}\``);
  return v;
};
const deadlineMs = num('deadline-ms', 1);
const capacityS = num('capacity-s', 1);
const durationS = num('duration', 1);
const recoveryS = num('recovery', 0);
const factor = num('factor', 0.1);
const connections = num('connections', 1);
const saturatedConnections = num('saturated-connections', 0);
const floodConnections = num('flood-connections', 0);
const floodS = num('flood-s', 1);
process.env.FC_LOCAL_INSTANCE_NICE = String(num('instance-nice', 0));
const edgeWorkers = num('edge-workers', 0); // 0: the agent's own choice (edge-layout.ts)
if (values['local-fc'] !== 'process' && values['local-fc'] !== 'in-process') throw new RangeError(`Expected \`--local-fc\` to be process or in-process, got \`${values['local-fc']}\``);
const inProcessFc = values['local-fc'] === 'in-process';
const warmupS = num('warmup', 0);
if (values.client !== 'process' && values.client !== 'in-process') throw new RangeError(`Expected \`--client\` to be process or in-process, got \`${values.client}\``);
const clientMode = values.client;
const clientNice = Number(values['client-nice']);
if (!Number.isInteger(clientNice) || clientNice < 0 || clientNice > 19) throw new RangeError(`Expected \`--client-nice\` to be an integer 0–19, got \`${values['client-nice']}\``);

let sYaml: string | undefined;
if (values.tiers !== undefined) {
  const n = num('tiers', 1);
  const doc = parseYaml(readFileSync(DEFAULT_S_YAML, 'utf8')) as { resources: Record<string, unknown> };
  Object.keys(doc.resources).slice(n).forEach((k) => delete doc.resources[k]);
  const dir = mkdtempSync(join(tmpdir(), 'bench-overload-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  sYaml = join(dir, 's.yaml');
  writeFileSync(sYaml, stringify(doc));
}

const rng = seededRng(11);
const images = await Promise.all(Array.from({ length: 8 }, async () => new Uint8Array(await renderTextLine(randomLine(rng, { minChars: 6, maxChars: 9 })))));
const mainBackends = String(values.backends).split(',').map((b) => b.trim()) as ('edge' | 'fc' | 'noop')[];
const configs = [mainBackends];
if (values['edge-baseline'] && !values['no-edge-baseline'] && mainBackends.join(',') !== 'edge') configs.push(['edge']);
let agent!: RunningAgent;
let unhandled = 0;
process.on('unhandledRejection', () => void unhandled++);

const rss: number[] = [];
const rssTimer = setInterval(() => rss.push(process.memoryUsage().rss), 250);

/** One phase's load: in this process, or in a client process of its own (`--client`). */
async function load(job: Omit<LoadJob, 'url' | 'deadlineMs' | 'images'>): Promise<Shot[]> {
  const full: LoadJob = { ...job, url: agent.url, deadlineMs, images };
  if (clientMode === 'in-process') return runLoad(full);
  const child = spawn('nice', ['-n', String(clientNice), process.execPath, ...process.execArgv, CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stdin.end(JSON.stringify({ ...full, images: images.map((b) => Buffer.from(b).toString('base64')) }));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`the load client exited with code ${code}`);
  return JSON.parse(out) as Shot[];
}
const closedLoop = (seconds: number, clients = connections) => load({ mode: 'closed', connections: clients, seconds });
const openLoop = (rps: number, seconds: number) => load({ mode: 'open', rps, seconds });

function summary(name: string, shots: Shot[], seconds: number) {
  const ok = shots.filter((s) => s.status === 200);
  const shed = shots.filter((s) => s.status === 503);
  const byStatus: Record<string, number> = {};
  for (const s of shots) {
    const k = s.code ? `${s.status} ${s.code}` : String(s.status);
    byStatus[k] = (byStatus[k] ?? 0) + 1;
  }
  const byTarget: Record<string, number> = {};
  for (const s of ok) byTarget[s.target!] = (byTarget[s.target!] ?? 0) + 1;
  const fcOk = ok.filter((s) => s.target !== 'edge');
  const edgeOk = ok.filter((s) => s.target === 'edge');
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  return {
    phase: name,
    sent: shots.length,
    offeredRps: +(shots.length / seconds).toFixed(1),
    goodputRps: +(shots.filter((s) => s.deadlineMet).length / seconds).toFixed(1),
    ok: ok.length,
    shed503: shed.length,
    shedWithRetryAfter: shed.filter((s) => s.retryAfter).length,
    lost: shots.filter((s) => s.status === 0).length,
    statuses: JSON.stringify(byStatus),
    okMetDeadline: ok.length ? +(ok.filter((s) => s.deadlineMet).length / ok.length).toFixed(4) : NaN,
    okP50Ms: Math.round(quantile(ok.map((s) => s.latencyMs), 0.5) ?? NaN),
    okP99Ms: Math.round(quantile(ok.map((s) => s.latencyMs), 0.99) ?? NaN),
    shedP99Ms: Math.round(quantile(shed.map((s) => s.latencyMs), 0.99) ?? NaN),
    meanBatchEdge: +mean(edgeOk.map((s) => s.batchSize!)).toFixed(2),
    meanBatchFc: +mean(fcOk.map((s) => s.batchSize!)).toFixed(2),
    targets: JSON.stringify(byTarget),
  };
}

/** Ms the edge's batches have taken so far (ok and failed), from the agent's Prometheus histogram. */
async function edgeBusyMs(): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  let s = 0;
  for (const m of text.matchAll(/^agent_batch_duration_seconds_sum\{target="edge",[^}]*\} (\S+)$/gm)) s += Number(m[1]);
  return s * 1000;
}

/** The three figures the overload goal is stated in, for one configuration. */
interface SideBySide {
  backends: string;
  capacityRps: number;
  /** On-time answers per second of a closed loop that keeps every worker full (`--saturated-connections`). */
  saturatedRps?: number;
  overloadGoodputRps: number;
  goodputOverCapacity: number;
  goodputOverSaturated?: number;
  refusals: number;
  early503Share: number;
  late504: number;
  late200: number;
  noAnswer: number;
  /** The edge workers' busy share under overload (1 = always running a batch). */
  edgeBusy: number;
  /** The flood (`--flood-connections` closed-loop clients): requests sent, without an answer (socket errors included), goodput ÷ capacity. */
  floodSent?: number;
  floodNoAnswer?: number;
  floodGoodputOverCapacity?: number;
  /** Under overload: the agent's event-loop delay, and the cores its process used. */
  loopDelayP50Ms?: number;
  loopDelayP99Ms?: number;
  processCores?: number;
  /** Share of samples with an edge worker idle while requests waited / with the queue empty. */
  idleQueued?: number;
  idleEmpty?: number;
}

function sideBySide(backends: string, capacityRps: number, saturatedRps: number | undefined, over: Shot[], edgeBusy: number): SideBySide {
  const refused = over.filter((s) => s.status !== 200);
  const early503 = refused.filter((s) => s.status === 503 && s.retryAfter).length;
  const goodput = over.filter((s) => s.deadlineMet).length / durationS;
  return {
    backends,
    capacityRps: +capacityRps.toFixed(1),
    ...(saturatedRps !== undefined ? { saturatedRps: +saturatedRps.toFixed(1) } : {}),
    overloadGoodputRps: +goodput.toFixed(1),
    goodputOverCapacity: +(goodput / capacityRps).toFixed(3),
    ...(saturatedRps !== undefined ? { goodputOverSaturated: +(goodput / saturatedRps).toFixed(3) } : {}),
    refusals: refused.length,
    early503Share: refused.length ? +(early503 / refused.length).toFixed(3) : 1,
    late504: refused.filter((s) => s.status === 504 && s.latencyMs >= deadlineMs).length,
    late200: over.filter((s) => s.status === 200 && !s.deadlineMet).length,
    noAnswer: over.filter((s) => s.status === 0).length,
    edgeBusy,
  };
}

async function runConfig(backends: ('edge' | 'fc' | 'noop')[]): Promise<SideBySide> {
  agent = await startAgent(parseConfig({ port: 0, backends, edgeWorkers, logLevel: 'silent', ...(sYaml ? { sYaml } : {}) }), { fc: inProcessFc ? embeddedLocalFc() : localFcProcess() });
  rss.length = 0;
  try {
    if (warmupS > 0) await closedLoop(warmupS);
    const m0 = await edgeBusyMs();
    const capShots = await closedLoop(capacityS);
    const m1 = await edgeBusyMs();
    const capacityRps = Math.max(1, capShots.filter((s) => s.deadlineMet).length / capacityS);
    // The closed loop at 16 can read half of what the agent serves: its 16 requests fill one
    // edge batch of 16, are answered together and come back together, so one worker runs while
    // the other waits (busy 0.48). More clients than workers × batch keep every worker full.
    const satShots = saturatedConnections > 0 ? await closedLoop(capacityS, saturatedConnections) : [];
    const saturatedRps = saturatedConnections > 0 ? satShots.filter((s) => s.deadlineMet).length / capacityS : undefined;
    const rss0 = process.memoryUsage().rss;
    const m2 = await edgeBusyMs();
    // Where the idle goes: the agent's event-loop delay (a worker's completion waits that long
    // for its next batch) and the cores this process used (agent, edge workers, in-process client).
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const cpu0 = process.cpuUsage();
    // And whether an idle worker had requests waiting (a dispatch decision or a late wake-up) or
    // none (admission let the queue run dry): sampled every 10 ms.
    const workers0 = agent.edgeSetup?.workers ?? 0;
    const idle = { samples: 0, queued: 0, empty: 0 };
    const sampler = setInterval(() => {
      const snap = agent.runtime.planSnapshot();
      const busyNow = (snap.busy as Record<string, number>).edge ?? 0;
      idle.samples++;
      if (busyNow < workers0) idle[snap.queueDepth > 0 ? 'queued' : 'empty']++;
    }, 10);
    const over = await openLoop(factor * capacityRps, durationS);
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    loop.disable();
    const m3 = await edgeBusyMs();
    const overLoad = { loopDelayP50Ms: +(loop.percentile(50) / 1e6).toFixed(1), loopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(1), processCores: +((cpu.user + cpu.system) / 1e6 / durationS).toFixed(2), ...(workers0 > 0 ? { idleQueued: +(idle.queued / Math.max(1, idle.samples)).toFixed(3), idleEmpty: +(idle.empty / Math.max(1, idle.samples)).toFixed(3) } : {}) };
    const rssOver = Math.max(...rss);
    const flood = floodConnections > 0 ? await closedLoop(floodS, floodConnections) : [];
    const m4 = await edgeBusyMs();
    const rec = recoveryS > 0 ? await openLoop(capacityRps / 2, recoveryS) : [];
    const m5 = await edgeBusyMs();
    await new Promise((r) => setTimeout(r, 200));
    // The edge workers' busy share in each phase (batch time ÷ wall time × workers), from the agent's own metrics.
    const workers = agent.edgeSetup?.workers ?? 0;
    const busy = (a: number, b: number, seconds: number) => (workers > 0 ? +((b - a) / (seconds * 1000 * workers)).toFixed(3) : NaN);
    const rows: Record<string, unknown>[] = [{ ...summary('capacity (closed loop)', capShots, capacityS), edgeBusy: busy(m0, m1, capacityS) }];
    if (satShots.length) rows.push(summary(`saturated (closed loop, ${saturatedConnections})`, satShots, capacityS));
    rows.push({ ...summary(`overload ${factor}x`, over, durationS), edgeBusy: busy(m2, m3, durationS), ...overLoad });
    const overRow = rows[rows.length - 1];
    const floodRow = flood.length ? summary(`flood (closed loop, ${floodConnections})`, flood, floodS) : null;
    if (floodRow) rows.push(floodRow);
    if (rec.length) rows.push({ ...summary('recovery 0.5x', rec, recoveryS), edgeBusy: busy(m4, m5, recoveryS) });
    console.log(`agent: backends ${backends.join(',')}, ${agent.edgeSetup ? `${agent.edgeSetup.workers} edge worker(s) × ${agent.edgeSetup.intraOpThreads} thread(s)` : 'no edge'}, tiers ${backends.includes('fc') ? agent.tiers.map((t) => t.key).join(', ') : 'none'}; deadline ${deadlineMs} ms; capacity ${capacityRps.toFixed(1)} req/s`);
    console.table(rows);
    const rt = agent.runtime.planSnapshot();
    console.log(
      JSON.stringify({
        rssMb: { beforeOverload: +(rss0 / 1e6).toFixed(0), maxDuringOverload: +(rssOver / 1e6).toFixed(0), end: +(process.memoryUsage().rss / 1e6).toFixed(0) },
        pendingAfter: agent.runtime.pending,
        queueDepthAfter: rt.queueDepth,
        busyAfter: rt.busy,
        unhandledRejections: unhandled,
        fcLedger: agent.fcEndpoint ? ((await (await fetch(`${agent.fcEndpoint}/local/ledger`)).json()) as { total?: unknown }).total : undefined,
      }),
    );
    const floodFigures = floodRow ? { floodSent: floodRow.sent, floodNoAnswer: floodRow.lost, floodGoodputOverCapacity: +(floodRow.goodputRps / capacityRps).toFixed(3) } : {};
    return { ...sideBySide(backends.join(','), capacityRps, saturatedRps, over, overRow.edgeBusy as number), ...floodFigures, ...overLoad };
  } finally {
    await agent.shutdown(3000);
  }
}

/**
 * Each configuration runs in a process of its own (this script again, one configuration): no
 * ONNX sessions, instances or heap of the first run are left to slow the second, and a native
 * abort while one agent shuts down cannot take the other's figures with it.
 */
async function runChild(backends: string[]): Promise<SideBySide | undefined> {
  const args = process.argv.slice(2).filter((a, i, all) => !/^--(backends|no-edge-baseline|edge-baseline)(=|$)/.test(a) && !/^--backends$/.test(all[i - 1] ?? ''));
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--backends', backends.join(','), '--no-edge-baseline'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    process.stdout.write(c.toString('utf8').replace(/^SIDE .*\n/gm, ''));
  });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const line = /^SIDE (.*)$/m.exec(out)?.[1];
  if (!line) console.error(`the ${backends.join(',')} run ended (exit ${code}) without its figures`);
  return line ? (JSON.parse(line) as SideBySide) : undefined;
}

try {
  if (configs.length === 1) {
    const side = await runConfig(configs[0]);
    if (values['no-edge-baseline']) console.log(`SIDE ${JSON.stringify(side)}`);
    else console.table([side]);
  } else {
    const sides: SideBySide[] = [];
    for (const c of configs) {
      const side = await runChild(c);
      if (side) sides.push(side);
    }
    console.log(`\n${factor}x open-loop overload for ${durationS} s, each configuration against its own capacity (closed loop, ${connections} connections) measured in this run:`);
    console.table(sides);
  }
} finally {
  clearInterval(rssTimer);
}
