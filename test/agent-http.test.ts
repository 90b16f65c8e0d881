/**
 * The agent end to end over real HTTP on loopback: real ONNX inference in worker threads, the
 * in-process local FC behind the real fc2 client, rendered text-line images.
 */
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { embeddedLocalFc, type EmbeddedLocalFc } from '../edge-agent/dev/embedded-local-fc.ts';
import { batchAnswerSchema, errorBodySchema, inferAnswerSchema } from '../edge-agent/service/api-schemas.ts';
import { createApp } from '../edge-agent/service/app.ts';
import { LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET } from '../local-fc/index.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

const LINES = ['EDGE2026', 'AB12-cd', 'Hello42'];
const logLines: string[] = [];
let agent: RunningAgent<EmbeddedLocalFc>;
let pngs: Uint8Array<ArrayBuffer>[];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  agent = await startAgent(parseConfig({ port: 0, backends: ['edge', 'fc'], edgeWorkers: 1, logLevel: 'debug', maxBodyBytes: 512 * 1024 }), { logDestination: sink, fc: embeddedLocalFc() });
  pngs = await Promise.all(LINES.map(async (l) => new Uint8Array(await renderTextLine(l))));
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

async function json(res: Response): Promise<Record<string, any>> {
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return (await res.json()) as Record<string, any>;
}

function post(path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
  return fetch(`${agent.url}${path}`, { method: 'POST', ...init });
}

describe('agent HTTP API', () => {
  it('POST /v1/infer with a raw PNG body answers the line text, route, timings and cost', async () => {
    const res = await post('/v1/infer', { headers: { 'content-type': 'image/png', 'x-deadline-ms': '8000' }, body: pngs[0] });
    const body = await json(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    inferAnswerSchema.strict().parse(body); // exactly the documented shape (GET /openapi.json)
    expect(body.text).toBe(LINES[0]);
    expect(body.confidence).toBeGreaterThan(0.5);
    expect(['edge', 'fc']).toContain(body.route.target);
    expect(body.route.batchSize).toBeGreaterThanOrEqual(1);
    if (body.route.target === 'fc') expect(agent.tiers.map((t) => t.key)).toContain(body.route.tier);
    for (const k of ['queueMs', 'transferMs', 'inferMs', 'totalMs']) expect(body.timings[k]).toBeGreaterThanOrEqual(0);
    expect(body.timings.totalMs).toBeGreaterThanOrEqual(body.timings.inferMs);
    expect(body.costUsd).toBeGreaterThanOrEqual(0);
    expect(body.deadlineMet).toBe(true);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('POST /v1/infer reads a multipart `image` field and a JSON base64 body', async () => {
    const form = new FormData();
    form.append('image', new Blob([pngs[1]], { type: 'image/png' }), 'line.png');
    const a = await json(await post('/v1/infer?deadline_ms=8000', { body: form }));
    expect(a.text).toBe(LINES[1]);
    const b = await json(await post('/v1/infer', { headers: { 'content-type': 'application/json', 'x-deadline-ms': '8000' }, body: JSON.stringify({ image: Buffer.from(pngs[2]).toString('base64') }) }));
    expect(b.text).toBe(LINES[2]);
  });

  it('POST /v1/infer/batch answers one result per image, in order', async () => {
    const form = new FormData();
    LINES.forEach((l, i) => form.append('image', new Blob([pngs[i]], { type: 'image/png' }), `${l}.png`));
    const res = await post('/v1/infer/batch', { headers: { 'x-deadline-ms': '8000' }, body: form });
    const body = await json(res);
    expect(res.status).toBe(200);
    batchAnswerSchema.parse(body);
    expect(body.count).toBe(3);
    expect(body.results.map((r: any) => r.text)).toEqual(LINES);
    expect(body.results.map((r: any) => r.name)).toEqual(LINES.map((l) => `${l}.png`));
  });

  it('200 concurrent requests each get exactly one response, and the agent counts each once', async () => {
    const counted = async () => {
      const text = await (await fetch(`${agent.url}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('agent_requests_total{route="/v1/infer"'))
        .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
    };
    const before = await counted();
    const N = 200;
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        post('/v1/infer', { headers: { 'content-type': 'image/png', 'x-deadline-ms': '10000', 'x-request-id': `c${i}` }, body: pngs[i % 3] }).then(async (r) => ({ i, status: r.status, id: r.headers.get('x-request-id'), body: await json(r) })),
      ),
    );
    expect(responses).toHaveLength(N);
    expect(new Set(responses.map((r) => r.id)).size).toBe(N);
    for (const r of responses) {
      expect([200, 502, 503, 504], JSON.stringify(r.body)).toContain(r.status);
      if (r.status === 200) expect(r.body.text).toBe(LINES[r.i % 3]);
      else expect(r.body.error.code).toMatch(/\w+/);
    }
    expect(responses.filter((r) => r.status === 200).length).toBeGreaterThan(N / 2);
    expect((await counted()) - before).toBe(N);
  });

  it('a 1 ms deadline is refused at once with 504 and the reason', async () => {
    const res = await post('/v1/infer', { headers: { 'content-type': 'image/png', 'x-deadline-ms': '1' }, body: pngs[0] });
    const body = await json(res);
    expect(res.status).toBe(504);
    expect(body.error.code).toMatch(/deadline/);
    expect(body.error.message).toMatch(/1 ms/);
  });

  it('bad input gets a 4xx JSON error naming the problem, and the agent stays up', async () => {
    const cases: [RequestInit & { headers?: Record<string, string> }, number, string][] = [
      [{ headers: { 'content-type': 'image/png', 'x-deadline-ms': 'soon' }, body: pngs[0] }, 400, 'bad_deadline'],
      [{ headers: { 'content-type': 'image/png' }, body: new TextEncoder().encode('definitely not a png') }, 400, 'bad_image'],
      [{ headers: { 'content-type': 'image/jpeg' }, body: pngs[0] }, 400, 'bad_image'],
      [{ headers: { 'content-type': 'text/plain' }, body: 'hello' }, 415, 'unsupported_media_type'],
      [{ headers: { 'content-type': 'application/json' }, body: '{"image": 12' }, 400, 'bad_json'],
      [{ headers: { 'content-type': 'application/json' }, body: '{"picture": "x"}' }, 400, 'missing_image'],
      [{ headers: { 'content-type': 'image/png' }, body: new Uint8Array(600 * 1024).fill(1) }, 413, 'payload_too_large'],
    ];
    for (const [init, status, code] of cases) {
      const res = await post('/v1/infer', init);
      const body = await json(res);
      expect([res.status, body.error?.code], JSON.stringify(body)).toEqual([status, code]);
      errorBodySchema.strict().parse(body);
      expect(body.error.message.length).toBeGreaterThan(5);
    }
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
  });

  it('an image the model cannot decode (a truncated PNG) gets 422 with the item\'s code; its batch-mates are unaffected', async () => {
    const truncated = pngs[0].slice(0, pngs[0].length - 40);
    const [bad, good] = await Promise.all(
      [truncated, pngs[2]].map((body) => post('/v1/infer', { headers: { 'content-type': 'image/png', 'x-deadline-ms': '8000' }, body }).then(async (r) => ({ status: r.status, body: await json(r) }))),
    );
    expect([bad.status, bad.body.error.code]).toEqual([422, 'undecodable_image']);
    expect([good.status, good.body.text]).toEqual([200, LINES[2]]);
  });

  it('a chunked upload (no Content-Length) is counted as it streams: over maxBodyBytes 413, under it served', async () => {
    const sendChunked = (body: Uint8Array) =>
      new Promise<{ status: number; body: Record<string, any> }>((resolve, reject) => {
        const req = request(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked', 'x-deadline-ms': '8000' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += String(d)));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, any> }));
        });
        req.on('error', reject);
        for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.subarray(i, i + 16 * 1024));
        req.end();
      });
    const big = await sendChunked(new Uint8Array(600 * 1024).fill(1));
    expect([big.status, big.body.error.code]).toEqual([413, 'payload_too_large']);
    const ok = await sendChunked(pngs[1]);
    expect([ok.status, ok.body.text]).toEqual([200, LINES[1]]);
  });

  it('with a token configured, /v1/* needs `Authorization: Bearer <token>` (401 otherwise)', async () => {
    const app = createApp(agent.runtime, { token: 's3cret-token', dashboard: false });
    const req = (headers: Record<string, string>) => app.request('/v1/plan', { headers });
    const missing = await req({});
    expect(missing.status).toBe(401);
    expect((await json(missing)).error.code).toBe('unauthorized');
    expect((await req({ authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await req({ authorization: 'Bearer s3cret-token' })).status).toBe(200);
    // EventSource cannot set headers: the event stream alone also takes ?access_token=.
    const sse = await app.request('/v1/events?access_token=s3cret-token');
    expect(sse.status).toBe(200);
    await sse.body?.cancel();
    expect((await app.request('/v1/plan?access_token=s3cret-token')).status).toBe(401);
    expect((await app.request('/healthz')).status).toBe(200); // probes stay open
  });

  it('GET /v1/plan, /metrics, /healthz and /readyz describe the live agent', async () => {
    const plan = await json(await fetch(`${agent.url}/v1/plan`));
    expect(plan).toHaveProperty('plan');
    expect(plan).toHaveProperty('estimates');
    expect(plan.targets).toEqual(expect.arrayContaining(['edge', ...agent.tiers.map((t) => t.key)]));
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    for (const name of ['agent_requests_total', 'agent_queue_depth', 'agent_batch_size_bucket', 'agent_request_duration_seconds_bucket', 'agent_cost_usd_total', 'agent_estimate', 'agent_changepoints_total']) {
      expect(metrics).toContain(name);
    }
    expect((await json(await fetch(`${agent.url}/readyz`))).ready).toBe(true);
    const doc = await json(await fetch(`${agent.url}/openapi.json`));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/infer', '/v1/infer/batch', '/v1/plan', '/v1/events', '/metrics']));
  });

  it('GET /v1/events streams stats and the dispatch of a request as server-sent events', async () => {
    const ac = new AbortController();
    const res = await fetch(`${agent.url}/v1/events`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const seen = new Set<string>();
    let buf = '';
    const sent = post('/v1/infer', { headers: { 'content-type': 'image/png', 'x-deadline-ms': '8000' }, body: pngs[0] });
    const until = Date.now() + 15_000;
    while (!(seen.has('stats') && seen.has('dispatch') && seen.has('complete')) && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      for (const m of buf.matchAll(/^event: (\w+)\ndata: (.*)$/gm)) {
        seen.add(m[1]);
        expect(() => JSON.parse(m[2])).not.toThrow();
      }
    }
    ac.abort();
    await sent;
    expect([...seen]).toEqual(expect.arrayContaining(['stats', 'dispatch', 'complete']));
  });

  it('logs are JSON with request ids and never contain the FC AccessKey secret', () => {
    expect(logLines.length).toBeGreaterThan(5);
    const parsed = logLines.map((l) => JSON.parse(l));
    expect(parsed.some((l) => typeof l.reqId === 'string')).toBe(true);
    expect(logLines.join('')).not.toContain(LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET);
  });
});

describe('agent load shedding', () => {
  it('over maxQueue, requests are shed at once with 503, Retry-After and a reason; the rest are served', async () => {
    const small = await startAgent(parseConfig({ port: 0, backends: ['edge'], edgeWorkers: 1, maxQueue: 4, logLevel: 'silent' }));
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, () =>
          fetch(`${small.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '20000' }, body: pngs[0] }).then(async (r) => ({
            status: r.status,
            retryAfter: r.headers.get('retry-after'),
            body: (await r.json()) as Record<string, any>,
          })),
        ),
      );
      const shed = answers.filter((a) => a.status === 503);
      expect(shed.length).toBeGreaterThan(0);
      for (const a of shed) {
        expect(a.body.error.code).toBe('overloaded');
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      const served = answers.filter((a) => a.status === 200);
      expect(served.length).toBeGreaterThanOrEqual(4);
      for (const a of served) expect(a.body.text).toBe(LINES[0]);
      expect(shed.length + served.length).toBe(40);
    } finally {
      await small.shutdown(2000);
    }
  });
});
