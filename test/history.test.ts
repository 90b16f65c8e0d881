/**
 * The agent's history (GET /v1/history): a real agent over loopback with the noop backend (the
 * history is about the agent's own bookkeeping, not the model), real requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { historySchema } from '../edge-agent/service/api-schemas.ts';
import { decayedRateRps, History } from '../edge-agent/service/history.ts';
import { renderTextLine } from '../shared/text-line-images.ts';
import type { z } from 'zod';

type Snapshot = z.infer<typeof historySchema>;
let agent: RunningAgent;
let png: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  agent = await startAgent(parseConfig({ port: 0, backends: ['noop'], logLevel: 'silent' }));
  png = new Uint8Array(await renderTextLine('HISTORY'));
});
afterAll(async () => {
  await agent?.shutdown(2000);
});

async function history(query = ''): Promise<Snapshot> {
  const res = await fetch(`${agent.url}/v1/history${query}`);
  expect(res.status).toBe(200);
  return historySchema.strict().parse(await res.json());
}

async function send(n: number): Promise<void> {
  const codes = await Promise.all(Array.from({ length: n }, () => fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '5000' }, body: png }).then(async (r) => (r.status === 200 ? 200 : `${r.status} ${await r.text()}`))));
  expect(codes.every((c) => c === 200), String(codes)).toBe(true);
}

/** Poll until `ok` holds of the history (the points come once a second). */
async function until(ok: (h: Snapshot) => boolean, timeoutMs = 10_000): Promise<Snapshot> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const h = await history();
    if (ok(h)) return h;
    if (Date.now() > end) throw new Error(`history never got there: ${JSON.stringify(h.points.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('decayedRateRps', () => {
  it('caps the estimate at 3 / seconds of silence, and leaves it alone while requests keep coming', () => {
    expect(decayedRateRps(2.5, 20_000)).toBeCloseTo(0.15, 10);
    expect(decayedRateRps(2.5, 1000)).toBe(2.5); // a 1-s gap at 2.5 req/s is ordinary
    expect(decayedRateRps(2.5, null)).toBe(2.5);
    expect(decayedRateRps(2.5, 0)).toBe(2.5);
    expect(decayedRateRps(0.1, 60_000)).toBeCloseTo(0.05, 10);
  });
});

describe('GET /v1/history', () => {
  it('holds what happened before it was asked: arrivals, answers and batches by target, and the events', async () => {
    const before = (await history()).seq;
    await send(30);
    const h = await until((s) => sum(s.points.map((p) => p.answeredBy.edge ?? 0)) >= 30 && s.points.some((p) => p.seq > before && p.arrivals > 0));
    expect(sum(h.points.map((p) => p.arrivals))).toBe(30);
    expect(sum(h.points.map((p) => p.answeredBy.edge ?? 0))).toBe(30);
    const edgeBatches = h.points.flatMap((p) => (p.batches.edge ? [p.batches.edge] : []));
    expect(sum(edgeBatches.map((b) => b.items))).toBe(30);
    for (const b of edgeBatches) expect(b.maxBatchSize).toBeLessThanOrEqual(b.items);
    expect(h.points.at(-1)!.answered).toBe(30);
    const types = new Set(h.events.map((e) => e.type));
    expect(types.has('dispatch') && types.has('complete'), [...types].join()).toBe(true);
    expect(sum(h.events.filter((e) => e.type === 'dispatch').map((e) => (e.data as { batchSize: number }).batchSize))).toBe(30);
    // One sequence, increasing, across points and events.
    const seqs = [...h.points, ...h.events].map((x) => x.seq).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(Math.max(...seqs)).toBeLessThanOrEqual(h.seq);
  });

  it('?after=<seq> answers only what is newer; a bad `after` is a 400 naming it', async () => {
    const first = await history();
    await until((s) => s.seq > first.seq);
    const newer = await history(`?after=${first.seq}`);
    expect(newer.points.length).toBeGreaterThan(0);
    for (const x of [...newer.points, ...newer.events]) expect(x.seq).toBeGreaterThan(first.seq);
    const bad = await fetch(`${agent.url}/v1/history?after=-1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'bad_after', message: expect.stringMatching(/after.*`-1`/) });
  });

  it('the shown rate estimate decays once requests stop, while the core\'s estimate is kept beside it', async () => {
    await send(20);
    const h = await until((s) => (s.points.at(-1)!.sinceArrivalMs ?? 0) >= 2500, 15_000);
    const p = h.points.at(-1)!;
    expect(p.rateEstimateRps).not.toBeNull();
    expect(p.rateShownRps!).toBeLessThanOrEqual(p.rateEstimateRps!);
    expect(p.rateShownRps!).toBeLessThanOrEqual(3 / (p.sinceArrivalMs! / 1000) + 1e-9);
  });

  it('keeps bounded memory: points within the window, at most maxEvents events', async () => {
    const small = new History(agent.runtime, { windowMs: 2000, maxEvents: 5 });
    try {
      await send(20);
      await new Promise((r) => setTimeout(r, 4500));
      const s = small.snapshot();
      expect(s.points.length).toBeGreaterThan(0);
      expect(s.points.length).toBeLessThanOrEqual(3);
      expect(s.points.at(-1)!.epochMs - s.points[0].epochMs).toBeLessThanOrEqual(2000);
      expect(s.events.length).toBe(5);
    } finally {
      small.close();
    }
    expect(() => new History(agent.runtime, { windowMs: 0 })).toThrow(/`windowMs` to be a whole number > 0, got `0`/);
  });
});
