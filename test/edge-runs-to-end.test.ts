/**
 * An edge batch that runs past a member's deadline is let run to its end (an ONNX run cannot be
 * cut): that member is answered 504 at its own deadline, the others get the batch's results, and
 * no item runs twice. Before, the whole call timed out at the head's deadline, its members were
 * re-run, and the core counted the worker busy for a guessed while after it had finished.
 *
 * Real agent on loopback, real ONNX on one edge worker. The agent starts from a profile that
 * believes the edge 30× faster than it is, so it batches requests whose deadlines the real
 * batch then misses.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { textLineImages, type TextLineImage } from './helpers/text-lines.ts';

const SHORT_MS = 150;
const LONG_MS = 8000;

let agent: RunningAgent;
let images: TextLineImage[];

beforeAll(async () => {
  const profile = JSON.parse(readFileSync(new URL('../profiles/default.json', import.meta.url), 'utf8')) as { targets: Record<string, Record<string, number>> };
  // The edge as a wrong prior: 0.5 ms per image (it takes ~15 here).
  profile.targets.edge = { ...profile.targets.edge, aMs: 1, kMs: 0.5, residualQ95Ms: 1, residualQ99Ms: 2 };
  const path = join(mkdtempSync(join(tmpdir(), 'edge-runs-to-end-')), 'profile.json');
  writeFileSync(path, JSON.stringify(profile));
  agent = await startAgent(parseConfig({ port: 0, backends: ['edge'], edgeWorkers: 1, intraOpThreads: 1, logLevel: 'silent', profile: path }));
  images = await textLineImages(23, 8);
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

/** Sum of a Prometheus series' samples whose labels match. */
function metric(text: string, name: string, labels: RegExp): number {
  let s = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) if (labels.test(m[1])) s += Number(m[2]);
  return s;
}

describe('an edge batch past a deadline', () => {
  it('runs to its end: late members get 504 at their deadline, the rest their own text, no item runs twice', async () => {
    const n = 40;
    const shots = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const img = images[i % images.length];
        const budget = i % 2 === 0 ? SHORT_MS : LONG_MS;
        const t0 = performance.now();
        const r = await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': String(budget) }, body: img.png });
        return { budget, sent: img.text, status: r.status, ms: performance.now() - t0, body: (await r.json()) as Record<string, any> };
      }),
    );
    const late = shots.filter((s) => s.status === 504);
    const missed = late.filter((s) => s.body.error?.code === 'deadline_missed');
    const ok = shots.filter((s) => s.status === 200);
    const batches = ok.map((s) => s.body.route?.batchSize as number);
    const why = JSON.stringify(shots.map((s) => [s.budget, s.status, Math.round(s.ms), s.body.error?.code ?? s.body.route?.batchSize]));
    // Every request answered, each 200 with its own image's text; nothing but 200 or a 504 at the deadline.
    expect(ok.length + late.length, why).toBe(n);
    for (const s of ok) expect(s.body.text, why).toBe(s.sent);
    for (const s of shots.filter((x) => x.budget === LONG_MS)) expect(s.status, why).toBe(200);
    // The wrong prior put short-deadline requests into batches the real edge could not finish in
    // time (those that arrived once it had learnt are refused at admission, also a 504).
    expect(missed.length, why).toBeGreaterThan(0);
    for (const s of late) {
      expect(s.budget, why).toBe(SHORT_MS);
      expect(['deadline_missed', 'deadline_impossible'], why).toContain(s.body.error?.code);
    }
    // A 504 leaves at its deadline, not when its batch ends: some request of the same burst was
    // still running in a batch when it was answered.
    expect(Math.min(...missed.map((s) => s.ms)), why).toBeLessThan(Math.max(...ok.map((s) => s.ms)));
    expect(Math.max(...batches), why).toBeGreaterThan(1);
    // No edge call timed out and none ran twice: the edge's batches hold exactly the requests admitted.
    const refused = late.length - missed.length;
    const text = await (await fetch(`${agent.url}/metrics`)).text();
    expect(metric(text, 'agent_backend_errors_total', /target="edge"/), why).toBe(0);
    expect(metric(text, 'agent_batch_size_sum', /target="edge"/), why).toBe(n - refused);
    // And the core counts the worker free again: its batch ended.
    expect(agent.runtime.planSnapshot().busy, why).toMatchObject({ edge: 0 });
  });
});
