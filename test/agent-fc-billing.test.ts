/**
 * FC billing as the agent books it, through the real agent, the real fc2 client and the local FC
 * (which bills a new instance's initializer apart from the invocation, as FC does) running the
 * fast stand-in function: a cold start's initializer is in the agent's cost ledger and /metrics
 * as an estimate, labelled so, and the invocations are booked at what the local FC billed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { DEFAULT_S_YAML, loadTiers } from '../shared/tiers.ts';
import { echoProfile } from './helpers/echo-fc.ts';
import { renderTextLine } from '../shared/text-line-images.ts';
import { ECHO_HANDLER_MODULE } from '../local-fc/index.ts';
import { embeddedLocalFc, type EmbeddedLocalFc } from '../edge-agent/dev/embedded-local-fc.ts';

const TIER = 'tier-c1-m2048';
let agent: RunningAgent<EmbeddedLocalFc>;
let png: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  const doc = parseYaml(readFileSync(DEFAULT_S_YAML, 'utf8')) as { resources: Record<string, unknown> };
  for (const k of Object.keys(doc.resources)) if (k !== TIER) delete doc.resources[k];
  const sYaml = join(mkdtempSync(join(tmpdir(), 'fc-billing-')), 's.yaml');
  writeFileSync(sYaml, stringify(doc));
  // The agent's priors and the local FC's emulation from one profile file (no edge target: FC only).
  const profile = join(sYaml, '..', 'profile.json');
  writeFileSync(profile, JSON.stringify(echoProfile(loadTiers(sYaml, {}), { aMs: 2, kMs: 1, coldStartMs: 300 })));
  // FC only: every request goes to the tier, and the first call meets a cold instance.
  agent = await startAgent(parseConfig({ port: 0, backends: ['fc'], logLevel: 'silent', sYaml, profile }), { fc: embeddedLocalFc({ maxInstances: 2, handlerModule: ECHO_HANDLER_MODULE }) });
  png = new Uint8Array(await renderTextLine('billing'));
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

/** Sum of the samples of one metric whose label set contains every given `name="value"`. */
function metric(text: string, name: string, ...labels: string[]): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => labels.every((x) => l.includes(x)))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

describe('agent FC billing', () => {
  it('a cold start books the invocation as billed and the initializer as a labelled estimate, in the ledger and /metrics', async () => {
    // Punctuality is other suites' business (a request can still miss on a loaded machine):
    // here every answer is one of the expected kinds, and the tier served some of them.
    let served = 0;
    for (let wave = 0; wave < 2; wave++) {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          const r = await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '5000' }, body: png });
          const body = (await r.json()) as { route?: { tier?: string }; costUsd?: number };
          expect([200, 503, 504], JSON.stringify(body)).toContain(r.status);
          if (r.status !== 200) return;
          served++;
          expect(body.route?.tier).toBe(TIER);
          expect(body.costUsd).toBeGreaterThan(0);
        }),
      );
    }
    expect(served).toBeGreaterThan(0);
    const ledger = agent.fc!.localFc.ledger();
    const inits = ledger.entries.filter((e) => e.kind === 'initializer');
    expect(inits.length, 'a cold start or two (two instances)').toBeGreaterThanOrEqual(1);
    expect(ledger.total.invocations).toBeGreaterThanOrEqual(2);

    const text = await (await fetch(`${agent.url}/metrics`)).text();
    // Labelled as an estimate: in the name, the help text and what it rests on (the function's own timing).
    expect(text).toMatch(/# HELP agent_fc_initializer_estimated_billed_seconds_total ESTIMATED/);
    const estSeconds = metric(text, 'agent_fc_initializer_estimated_billed_seconds_total', `target="${TIER}"`, 'source="function"');
    const estUsd = metric(text, 'agent_fc_initializer_estimated_cost_usd_total', `target="${TIER}"`, 'source="function"');
    // The stand-in's initializer sleeps 50 ms; the local FC bills it at its emulated ≥ 300 ms,
    // which the function cannot see: the estimate lies between the two.
    expect(estSeconds).toBeGreaterThanOrEqual(0.045);
    expect(estSeconds).toBeLessThanOrEqual(inits.reduce((s, e) => s + e.durationMs, 0) / 1000);
    expect(estUsd).toBeGreaterThan(0);

    // The agent's ledger: the invocations it saw answered, at what the local FC billed, plus the
    // estimate. (A call the agent gave up on is billed by FC but never booked by the agent: it
    // has no reply to read. So the booked sum is at most FC's invoice, not always equal to it.)
    const invoicedUsd = ledger.entries.filter((e) => e.kind === 'invocation').reduce((s, e) => s + e.costUsd, 0);
    const bookedUsd = agent.runtime.stats().costUsd;
    expect(metric(text, 'agent_cost_usd_total', `target="${TIER}"`)).toBeCloseTo(bookedUsd, 12);
    expect(bookedUsd - estUsd, 'invocations booked').toBeGreaterThan(0);
    expect(bookedUsd - estUsd).toBeLessThanOrEqual(invoicedUsd + 1e-12);
    // The estimate stays below what FC (here: the local FC) bills for the initializer.
    expect(bookedUsd).toBeLessThanOrEqual(ledger.total.costUsd + 1e-12);
  });
});
