/**
 * Where the agent sends work, with the local FC's uplink shaped: a slow uplink keeps batches on
 * the device; a fast uplink with the device saturated sends the overflow to an FC tier that
 * meets the deadline. Real ONNX on the edge, real handler in the local FC, real fc2 client.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { createFcBackend } from '../edge-agent/backends/fc.ts';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { embeddedLocalFc, type EmbeddedLocalFc } from '../edge-agent/dev/embedded-local-fc.ts';
import { DEFAULT_S_YAML } from '../shared/tiers.ts';
import { textLineImages, type TextLineImage } from './helpers/text-lines.ts';

interface Answer {
  status: number;
  body: Record<string, any>;
  /** The text of the image this request sent: its answer must read exactly that. */
  sent: string;
}

let agent: RunningAgent<EmbeddedLocalFc>;
let images: TextLineImage[];

/** The tier the test keeps: one tier keeps the local FC's model loads (CPU on this box) small. */
const TIER = 'tier-c2-m4096';

beforeAll(async () => {
  // The repo's s.yaml cut down to one tier, through the agent's own --s-yaml option.
  const doc = parseYaml(readFileSync(DEFAULT_S_YAML, 'utf8')) as { resources: Record<string, unknown> };
  for (const k of Object.keys(doc.resources)) if (k !== TIER) delete doc.resources[k];
  const sYaml = join(mkdtempSync(join(tmpdir(), 'agent-routing-')), 's.yaml');
  writeFileSync(sYaml, stringify(doc));
  agent = await startAgent(parseConfig({ port: 0, backends: ['edge', 'fc'], edgeWorkers: 1, intraOpThreads: 1, logLevel: 'silent', sYaml }), { fc: embeddedLocalFc({ maxInstances: 2 }) });
  images = await textLineImages(7, 6);
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

function burst(n: number, deadlineMs: number): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': String(deadlineMs) }, body: images[i % images.length].png }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as Record<string, any>,
        sent: images[i % images.length].text,
      })),
    ),
  );
}

function routes(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const k = a.status === 200 ? (a.body.route.target === 'fc' ? a.body.route.tier : 'edge') : `HTTP ${a.status}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

describe('agent routing', () => {
  it('with the uplink shaped to 1 Mbit/s, batches stay on the edge', async () => {
    agent.fc!.localFc.setLink({ mbps: 1, rttMs: 40 });
    const served: Answer[] = [];
    // Waves the device can serve in time on its own.
    for (let wave = 0; wave < 4; wave++) served.push(...(await burst(8, 2000)));
    const r = routes(served);
    expect(r, JSON.stringify(r)).toEqual({ edge: served.length });
    for (const a of served) expect(a.body.text, 'each answer reads its own request\'s image').toBe(a.sent);
    expect(agent.fc!.localFc.ledger().total.invocations, 'no FC call over the slow link').toBe(0);
  });

  it('with a fast uplink and the edge saturated, overflow goes to an FC tier that meets the deadline (route and /v1/plan)', async () => {
    agent.fc!.localFc.setLink({ mbps: null, rttMs: 5 });
    const tiers = agent.tiers.map((t) => t.key);
    expect(tiers).toEqual([TIER]);
    // Start both local FC instances first (a model load each), as a deployed tier would be warm.
    const before = agent.fc!.localFc.ledger().total.invocations;
    const { endpoint, accountId, region, credentials } = agent.fc!;
    const fc = createFcBackend({ tiers: agent.tiers, endpoint, accountId, region, credentials });
    await Promise.all([0, 1].map(() => fc.run(TIER, [{ id: 'warm', type: 'image/png', bytes: images[0].png }], { timeoutMs: 30_000 })));
    await fc.close();
    const answers: Answer[] = [];
    // Far more than one edge worker can serve before the deadline: the plan must use the cloud.
    for (let wave = 0; wave < 3 && !answers.some((a) => a.status === 200 && a.body.route.target === 'fc'); wave++) {
      answers.push(...(await burst(240, 2500)));
    }
    const r = routes(answers);
    const viaFc = answers.filter((a) => a.status === 200 && a.body.route.target === 'fc');
    expect(viaFc.length, JSON.stringify(r)).toBeGreaterThan(0);
    for (const a of viaFc) {
      expect(tiers).toContain(a.body.route.tier);
      expect(a.body.costUsd).toBeGreaterThan(0);
    }
    expect(viaFc.filter((a) => a.body.deadlineMet).length).toBeGreaterThan(viaFc.length / 2);
    expect(answers.filter((a) => a.status === 200 && a.body.route.target === 'edge').length).toBeGreaterThan(0);
    for (const a of answers.filter((x) => x.status === 200)) expect(a.body.text, `answer via ${a.body.route.target} reads its own request's image`).toBe(a.sent);

    const snap = (await (await fetch(`${agent.url}/v1/plan`)).json()) as Record<string, any>;
    const planned = JSON.stringify(snap.plan);
    expect(tiers.some((t) => planned.includes(t)), 'the plan names the tiers it may use').toBe(true);
    // The plan shows how the edge was set up at start-up and what its calibration measured.
    expect(snap.edge).toMatchObject({ model: 'ocr-rec', workers: 1, intraOpThreads: 1, layout: 'configured' });
    expect(snap.edge.measuredItemsPerS, JSON.stringify(snap.edge)).toBeGreaterThan(0);
    // The FC answers were real invocations: the two warm-ups plus at least one agent batch.
    expect(agent.fc!.localFc.ledger().total.invocations - before).toBeGreaterThan(2);
  });

  it('when the FC tier fails (HTTP 500), its batches are retried on the edge within the deadline; every request still gets one answer', async () => {
    const metric = async (name: string) => {
      const text = await (await fetch(`${agent.url}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
    };
    agent.fc!.localFc.setFaults({ '*': { errorRate: 1, errorMode: '5xx' } });
    try {
      const retriesBefore = await metric('agent_retries_total');
      const answers: Answer[] = [];
      // Waves until the tier is tried, for up to 25 s: after the last case's timeouts the tier may
      // sit out a breaker cool-down or hold its slots, and meanwhile the agent refuses what only
      // the tier could serve at once (503 overloaded), so a wave can end in well under a second.
      for (const end = Date.now() + 25_000; Date.now() < end && (await metric('agent_backend_errors_total{target="' + TIER + '",code="unavailable"}')) === 0; ) {
        answers.push(...(await burst(240, 2500)));
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(await metric(`agent_backend_errors_total{target="${TIER}",code="unavailable"}`), 'the faulty tier was tried').toBeGreaterThan(0);
      expect(await metric('agent_retries_total')).toBeGreaterThan(retriesBefore);
      const r = routes(answers);
      expect(r[TIER], 'nothing is served by the failing tier').toBeUndefined();
      expect(r.edge, `routes ${JSON.stringify(r)}; first errors ${JSON.stringify(answers.filter((a) => a.status !== 200).slice(0, 3).map((a) => a.body))}`).toBeGreaterThan(0);
      for (const a of answers) {
        expect([200, 502, 503, 504], JSON.stringify(a.body)).toContain(a.status);
        if (a.status === 502) expect(a.body.error.message).toContain(TIER);
        if (a.status === 200) expect(a.body.text, 'a retried answer reads its own request\'s image').toBe(a.sent);
      }
    } finally {
      agent.fc!.localFc.setFaults({});
    }
  });
});
