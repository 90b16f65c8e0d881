/**
 * Faults through the real agent (startAgent: real ONNX edge, real fc2 client, the local FC with
 * its fault injection): tier 5xx, throttling, hung calls, slow cold starts and a link outage.
 * Each case checks that every request got exactly one answer (the runtime's answered + rejected
 * equals what was sent, nothing pending), that the agent fell back to the edge, that the failing
 * tier was taken out and came back once healthy (half-open probe), and that no promise rejection
 * went unhandled, the runtime's queues are empty afterwards and the JS heap stays bounded.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { embeddedLocalFc, type EmbeddedLocalFc } from '../edge-agent/dev/embedded-local-fc.ts';
import { DEFAULT_S_YAML } from '../shared/tiers.ts';
import { randomLine, renderTextLine, seededRng } from '../shared/text-line-images.ts';

const TIER = 'tier-c2-m4096';
/** More than one edge worker can finish within 700 ms, even batching all it can (≈ 40 lines). */
const BURST = 96;
let agent: RunningAgent<EmbeddedLocalFc>;
let images: Uint8Array<ArrayBuffer>[];
let unhandled = 0;
const onUnhandled = () => void unhandled++;
let sent = 0;
let heapAtStart = 0;

interface Estimates {
  unhealthy: Record<string, number>;
  tiers: Record<string, { state: string; busy: number }>;
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  const doc = parseYaml(readFileSync(DEFAULT_S_YAML, 'utf8')) as { resources: Record<string, unknown> };
  for (const k of Object.keys(doc.resources)) if (k !== TIER) delete doc.resources[k];
  const sYaml = join(mkdtempSync(join(tmpdir(), 'faults-')), 's.yaml');
  writeFileSync(sYaml, stringify(doc));
  agent = await startAgent(parseConfig({ port: 0, backends: ['edge', 'fc'], edgeWorkers: 1, intraOpThreads: 1, logLevel: 'silent', sYaml }), {
    fc: embeddedLocalFc({ maxInstances: 2 }),
    // Short cool-downs so the half-open probes happen within the test.
    scheduler: { breakerCooldownMs: 400, breakerMaxCooldownMs: 800, linkProbeMs: 300 },
  });
  const rng = seededRng(5);
  images = await Promise.all(Array.from({ length: 4 }, async () => new Uint8Array(await renderTextLine(randomLine(rng, { minChars: 5, maxChars: 7 })))));
  heapAtStart = process.memoryUsage().heapUsed;
});

afterAll(async () => {
  await agent?.shutdown(2000);
  process.off('unhandledRejection', onUnhandled);
});

async function burst(n: number, deadlineMs: number): Promise<{ status: number; target?: string; deadlineMet?: boolean; code?: string }[]> {
  sent += n;
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': String(deadlineMs) }, body: images[i % images.length] });
      const body = (await r.json()) as { route?: { target: string; tier?: string }; deadlineMet?: boolean; error?: { code: string } };
      return { status: r.status, ...(body.route ? { target: body.route.tier ?? body.route.target, deadlineMet: body.deadlineMet } : {}), ...(body.error ? { code: body.error.code } : {}) };
    }),
  );
}

const estimates = () => agent.runtime.planSnapshot().estimates as Estimates;
/** What the agent believed about the tier and the link, for a failure's message. */
const beliefs = () => {
  const snap = agent.runtime.planSnapshot();
  const e = snap.estimates as Estimates & { link: unknown; latency: Record<string, unknown> };
  return JSON.stringify({ link: e.link, tier: e.tiers[TIER], latency: e.latency[TIER], unhealthy: e.unhealthy, busy: snap.busy, plan: snap.plan });
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

/** Exactly one answer per request, nothing left inside the runtime or the core. */
async function settledClean(): Promise<void> {
  const s = agent.runtime.stats();
  expect(s.answered + s.rejected, 'answered + rejected = sent').toBe(sent);
  expect(agent.runtime.pending).toBe(0);
  const snap = agent.runtime.planSnapshot();
  expect(snap.queueDepth).toBe(0);
  // Held slots of timed-out calls are released once the target must have finished them.
  await until('every target free', () => Object.values(agent.runtime.planSnapshot().busy).every((b) => b === 0), 12_000);
  expect(unhandled).toBe(0);
  // Memory stays bounded: nothing per request outlives its answer (a leak of waiters, images or
  // timers would grow the JS heap by far more than this over a case's hundreds of requests).
  expect(process.memoryUsage().heapUsed - heapAtStart, 'JS heap growth since the suite started').toBeLessThan(150 * 2 ** 20);
}

/**
 * Counts the core's `unhealthy` events for the tier while a case runs. The breaker's cool-down
 * here (400–800 ms) is shorter than a burst: sampling the tier's state between bursts can miss it
 * taken out and back in (the 5xx case did, once in CI).
 */
function watchTakenOut(): { readonly count: () => number; stop(): Promise<void> } {
  const sub = agent.runtime.events.subscribe();
  let n = 0;
  const watching = (async () => {
    for (let e = await sub.next(); e; e = await sub.next()) if (e.type === 'unhealthy' && (e.data as { target?: string }).target === TIER) n++;
  })();
  return {
    count: () => n,
    async stop() {
      sub.close();
      await watching;
    },
  };
}

/**
 * The tier serves again: bursts the edge alone cannot finish in time, until the tier has
 * answered a call of the agent's (a probe or a batch) and the agent holds it healthy. Not just
 * "the ledger shows a success": on a loaded box a call the function finished can still reach
 * the agent after its deadline, and that timeout (rightly) keeps the tier out a while longer.
 */
async function tierServesAgain(withinMs = 10_000): Promise<void> {
  const end = Date.now() + withinMs;
  const okCalls = () => agent.fc!.localFc.ledger().entries.filter((e) => e.kind === 'invocation' && !e.errorType).length;
  const before = okCalls();
  for (;;) {
    // 400 ms, not 700: on a quiet box the edge alone finishes most of 96 lines in 700 ms (the
    // plan's 136 lines/s) and the tier, warm and healthy, was never needed ("0 successful calls").
    await burst(BURST, 400);
    if (okCalls() > before && !(TIER in estimates().unhealthy)) return;
    if (Date.now() > end) {
      throw new Error(`the tier never served again: ${okCalls() - before} successful calls; the agent's beliefs: ${beliefs()}`);
    }
    await sleep(200);
  }
}

describe('agent under faults', () => {
  // A case that fails must not leave its fault behind: with throttling or an outage still on,
  // every later case failed too ("the tier was never called successfully again").
  afterEach(() => {
    agent.fc!.localFc.setFaults({});
    agent.fc!.localFc.setLink({ outage: false });
  });

  it('slow cold start: requests are served warm (edge) while the tier is prewarmed, never sent into the cold start', async () => {
    agent.fc!.localFc.setFaults({ [TIER]: { extraColdStartMs: 1500 } });
    // Bursts the edge alone cannot finish: the plan's tier is wanted, but its cold start
    // (≥ 1.3 s + 1.5 s) cannot meet 700 ms. It is warmed by a probe, never by a request.
    const end = Date.now() + 15_000;
    let served = 0;
    while (estimates().tiers[TIER].state !== 'warm') {
      if (Date.now() > end) throw new Error('the tier was never prewarmed');
      const answers = await burst(48, 700);
      served += answers.filter((a) => a.status === 200).length;
      for (const a of answers) if (a.target === TIER) expect(a.deadlineMet, 'a request routed to the tier met its deadline').toBe(true);
    }
    expect(served).toBeGreaterThan(0);
    agent.fc!.localFc.setFaults({});
    await settledClean();
  });

  it('tier 5xx: the batch is retried elsewhere, the tier is taken out, and probed back when it heals', async () => {
    const takenOut = watchTakenOut();
    agent.fc!.localFc.setFaults({ [TIER]: { errorRate: 1, errorMode: '5xx' } });
    try {
      for (const end = Date.now() + 15_000; Date.now() < end && takenOut.count() === 0; ) {
        const answers = await burst(BURST, 700);
        for (const a of answers) expect([200, 502, 503, 504]).toContain(a.status);
        // Nothing is answered by the failing tier.
        expect(answers.filter((a) => a.target === TIER)).toEqual([]);
      }
      expect(takenOut.count(), 'the failing tier was marked unhealthy').toBeGreaterThan(0);
    } finally {
      agent.fc!.localFc.setFaults({});
      await takenOut.stop();
    }
    await tierServesAgain();
    await settledClean();
  });

  it('throttling (429): the tier counts as saturated, requests go to the edge, no 502 storm', async () => {
    // A call still running from the last case is billed when it ends: let it end first, so
    // every call counted below arrived under the fault.
    const busyInstances = async () => ((await (await fetch(`${agent.fc!.localFc.url}/local/instances`)).json()) as Record<string, { busy: number }>)[TIER].busy;
    for (const end = Date.now() + 10_000; (await busyInstances()) > 0; ) {
      if (Date.now() > end) throw new Error('the local FC still runs a call 10 s after the last case');
      await sleep(50);
    }
    agent.fc!.localFc.setFaults({ [TIER]: { throttleRate: 1 } });
    const calls0 = agent.fc!.localFc.ledger().total.invocations;
    const answers = await burst(48, 700);
    expect(answers.filter((a) => a.target === TIER)).toEqual([]);
    // How much of the burst the edge finishes in 700 ms is the machine's speed (on a shared,
    // loaded box, 18 of 48); what must hold is that it serves and that throttled batches are
    // retried there rather than refused. A 503 backend_throttled is a request whose retry met
    // the 429 too (batches already in flight when the first 429 returned, more of them on a slow
    // box): FC's capacity, answered as such with Retry-After, never a 502.
    const statuses = JSON.stringify(answers.map((a) => a.code ?? a.status));
    expect(answers.filter((a) => a.status === 200 && a.target === 'edge').length, statuses).toBeGreaterThan(0);
    expect(answers.filter((a) => a.code === 'backend_throttled').length, statuses).toBeLessThanOrEqual(answers.length / 4);
    for (const a of answers) if (a.code === 'backend_throttled') expect(a.status).toBe(503);
    expect(answers.filter((a) => a.status === 502), statuses).toEqual([]);
    expect(agent.fc!.localFc.ledger().total.invocations - calls0, '429s are not billed').toBe(0);
    agent.fc!.localFc.setFaults({});
    await tierServesAgain();
    await settledClean();
  });

  it('link outage: the cloud is skipped while the uplink is down and used again after', async () => {
    agent.fc!.localFc.setLink({ outage: true });
    const during = (await Promise.all([burst(20, 1500), (async () => (await sleep(300), burst(20, 1500)))()])).flat();
    for (const a of during) expect([200, 502, 503, 504]).toContain(a.status);
    expect(during.filter((a) => a.target === TIER)).toEqual([]);
    expect(during.filter((a) => a.status === 200).length, 'the edge keeps serving').toBeGreaterThan(0);
    await sleep(1500);
    agent.fc!.localFc.setLink({ outage: false });
    await tierServesAgain();
    await settledClean();
  });
  it('link outage of 10 s: the cloud is skipped during it and used again within 30 s after the link returns', async () => {
    agent.fc!.localFc.setLink({ outage: true });
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const answers = await burst(24, 1500);
      for (const a of answers) expect([200, 502, 503, 504]).toContain(a.status);
      expect(answers.filter((a) => a.target === TIER)).toEqual([]);
      await sleep(500);
    }
    agent.fc!.localFc.setLink({ outage: false });
    await tierServesAgain(30_000);
    await settledClean();
  }, 60_000);
  // Last: hung calls keep the local FC's instances busy for the function timeout.
  it('hung calls: timeouts answer 504 once, the tier is taken out and its slots held until they must have finished', async () => {
    const takenOut = watchTakenOut();
    agent.fc!.localFc.setFaults({ [TIER]: { hangRate: 1 } });
    try {
      // Bursts until the tier is taken out (at most 20 s): a timeout trips the breaker only when
      // the call had twice its predicted time, and on a loaded box the first ones often did not;
      // the 429s of the hung instances then trip it once the held slots are back (≤ 10 s).
      for (const end = Date.now() + 20_000; Date.now() < end && takenOut.count() === 0; ) {
        // 400 ms, as in tierServesAgain: at 700 the edge alone can take the burst on a quiet box.
        const answers = await burst(BURST, 400);
        // A hung call keeps its FC instance until the function timeout (60 s), on FC as in the
        // local FC: with both instances hung, FC answers every further call 429. A request whose
        // retry also met that 429 is answered 503 backend_throttled (on a loaded machine the held
        // slots come back before the breaker trips and the agent tries the hung tier again). Any
        // 502 is a bug.
        for (const a of answers) expect([200, 503, 504], JSON.stringify(a)).toContain(a.status);
        expect(answers.filter((a) => a.target === TIER), 'no answer comes from a hung tier').toEqual([]);
      }
      expect(takenOut.count(), `the hung tier was marked unhealthy; the agent's beliefs: ${beliefs()}`).toBeGreaterThan(0);
    } finally {
      agent.fc!.localFc.setFaults({});
      await takenOut.stop();
    }
    await settledClean();
  });

});
