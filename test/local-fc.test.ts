/**
 * The local FC against the real @alicloud/fc2 client on loopback, running the real FC handler
 * (functions/index.ts: PP-OCRv4 rec on onnxruntime-node) on rendered text-line images:
 * signatures, limits, routing, cold/warm instances, scaling limits, link shaping, faults and
 * billing. Instance crashes and keep-alive reclaim use the fast stand-in function
 * (local-fc/echo-handler.ts), which can be told to crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLocalFc, ECHO_HANDLER_MODULE, LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, type LocalFc } from '../local-fc/index.ts';
import { loadTiers } from '../shared/tiers.ts';
import { encodeBatch } from '../shared/wire/index.ts';
import { echoProfile } from './helpers/echo-fc.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

interface Fc2Client {
  version: string;
  post(path: string, body: Buffer, headers?: Record<string, string>, q?: null, o?: { rawBuf?: boolean }): Promise<{ headers: Record<string, string>; data: Buffer }>;
  invokeFunction(service: string, fn: string, event: Buffer): Promise<{ headers: Record<string, string>; data: unknown }>;
}
const FcClient = createRequire(import.meta.url)('@alicloud/fc2') as new (account: string, cfg: Record<string, unknown>) => Fc2Client;

const tiers = loadTiers();
const [small, medium] = tiers;
const profile = echoProfile(tiers, { aMs: 40, kMs: 10, coldStartMs: 400 });

let fc: LocalFc;
const png = new Map<string, Buffer>();
beforeAll(async () => {
  fc = await startLocalFc({ profile, maxInstances: 2, keepAliveMs: 30_000 }); // the real handler
  for (const t of ['HELLO', 'WORLD 42', 'fc2', 'ok', 'after', 'a', 'b', 'c', 'x', 'fine']) png.set(t, await renderTextLine(t));
});
afterAll(async () => {
  await fc?.close();
});

function client(opts: { secret?: string; endpoint?: string; version?: string } = {}): Fc2Client {
  const c = new FcClient('1234567890123456', {
    accessKeyID: fc.accessKeyId,
    accessKeySecret: opts.secret ?? LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET,
    region: 'cn-hangzhou',
    endpoint: opts.endpoint ?? fc.url,
    timeout: 20_000,
  });
  c.version = opts.version ?? '2023-03-30';
  return c;
}

/** A wire frame of rendered text lines (rendered once in beforeAll). */
const frame = (...texts: string[]) => encodeBatch(texts.map((t, i) => ({ id: `i${i}`, type: 'image/png' as const, bytes: png.get(t)! })));
const textsOf = (data: Buffer) => (JSON.parse(data.toString('utf8')) as { results: { text?: string }[] }).results.map((r) => r.text);
/** A frame of raw text bytes, for the stand-in function. */
const textFrame = (...texts: string[]) => encodeBatch(texts.map((t, i) => ({ id: `i${i}`, type: 'image/png' as const, bytes: Buffer.from(t) })));
const invoke = (c: Fc2Client, fnName: string, body: Buffer, headers: Record<string, string> = {}) => c.post(`/functions/${fnName}/invocations`, body, headers, null, { rawBuf: true });

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected the call to fail');
}

describe('local FC: InvokeFunction', () => {
  it('FC3 path: runs the function and answers with FC headers and its result', async () => {
    const res = await invoke(client(), small.functionName, frame('HELLO', 'WORLD 42'));
    expect(textsOf(res.data)).toEqual(['HELLO', 'WORLD 42']);
    expect(res.headers['x-fc-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(res.headers['x-fc-invocation-duration'])).toBeGreaterThanOrEqual(40 + 2 * 10);
    expect(res.headers['x-fc-instance-id']).toBeTruthy();
    expect(Number(res.headers['x-fc-max-memory-usage'])).toBeGreaterThan(0);
    expect(res.headers['x-fc-error-type']).toBeUndefined();
  });

  it('FC2 path: the client\'s invokeFunction reaches the same function through service/function', async () => {
    const res = await client({ version: '2016-08-15' }).invokeFunction('serverless-edge-batching', small.functionName, frame('fc2'));
    expect(textsOf(Buffer.isBuffer(res.data) ? res.data : Buffer.from(String(res.data)))).toEqual(['fc2']);
  });

  it('wrong secret: the client throws with 403 SignatureNotMatch', async () => {
    const err = await rejection(invoke(client({ secret: 'not-the-secret' }), small.functionName, frame('x')));
    expect(err.message).toContain('failed with 403');
    expect(err.code).toBe('SignatureNotMatch');
  });

  it('stale date (> 15 min off): the client throws with 403 RequestTimeTooSkewed', async () => {
    const stale = new Date(Date.now() - 16 * 60_000).toUTCString();
    const err = await rejection(invoke(client(), small.functionName, frame('x'), { date: stale }));
    expect(err.message).toContain('failed with 403');
    expect(err.code).toBe('RequestTimeTooSkewed');
  });

  it('a date 14 min off is still accepted', async () => {
    const res = await invoke(client(), small.functionName, frame('ok'), { date: new Date(Date.now() - 14 * 60_000).toUTCString() });
    expect(textsOf(res.data)).toEqual(['ok']);
  });

  it('tampered body in flight: the client throws with 403', async () => {
    // A loopback proxy that flips one byte of every request body on its way to the local FC.
    const target = new URL(fc.url);
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        body[body.length - 1] ^= 0xff;
        const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.end(body);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const err = await rejection(invoke(client({ endpoint: url }), small.functionName, frame('x')));
      expect(err.message).toContain('failed with 403');
      expect(err.code).toBe('ContentMD5Mismatch');
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('unknown function: 404 FunctionNotFound naming it', async () => {
    const err = await rejection(invoke(client(), 'no-such-function', frame('x')));
    expect(err.message).toContain('failed with 404');
    expect(err.message).toContain('no-such-function');
    expect(err.code).toBe('FunctionNotFound');
  });

  it('other methods: 405 with an FC-shaped JSON error', async () => {
    const res = await fetch(`${fc.url}/2023-03-30/functions/${small.functionName}/invocations`, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('x-fc-request-id')).toBeTruthy();
    expect(await res.json()).toMatchObject({ ErrorCode: 'MethodNotAllowed' });
  });

  it('missing signature: 403', async () => {
    const res = await fetch(`${fc.url}/2023-03-30/functions/${small.functionName}/invocations`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(403);
    expect((await res.json()).ErrorMessage).toMatch(/authorization/);
  });

  it('body over 32 MB: 413 PayloadTooLarge', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024 + 1);
    const err = await rejection(invoke(client(), small.functionName, big));
    expect(err.message).toContain('failed with 413');
    expect(err.code).toBe('PayloadTooLarge');
  });

  it('a handler error (malformed frame) is a 200 with x-fc-error-type HandledInvocationError and its message', async () => {
    const res = await invoke(client(), small.functionName, Buffer.from('not a SEB1 frame at all'));
    expect(res.headers['x-fc-error-type']).toBe('HandledInvocationError');
    // error bodies are application/json, which the client parses for us
    const body = res.data as unknown as { errorMessage: string };
    expect(() => JSON.parse(body.errorMessage)).not.toThrow();
    expect(fc.ledger().entries.at(-1)?.errorType).toBe('HandledInvocationError');
  });

  it('a crashed instance is UnhandledInvocationError, and the next call gets a new instance', async () => {
    const echo = await startLocalFc({ handlerModule: ECHO_HANDLER_MODULE, profile: false, maxInstances: 1, tiers: [medium] });
    try {
      const c = new FcClient('1', { accessKeyID: echo.accessKeyId, accessKeySecret: LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, region: 'cn-hangzhou', endpoint: echo.url });
      c.version = '2023-03-30';
      const crash = await invoke(c, medium.functionName, Buffer.from('CRASH'));
      expect(crash.headers['x-fc-error-type']).toBe('UnhandledInvocationError');
      const next = await invoke(c, medium.functionName, textFrame('after'));
      expect(next.headers['x-fc-instance-id']).not.toBe(crash.headers['x-fc-instance-id']);
      expect(textsOf(next.data)).toEqual(['AFTER']);
    } finally {
      await echo.close();
    }
  });
});

describe('local FC: instances', () => {
  it('first call to a tier is a cold start; the next is warm, on the same instance, and faster', async () => {
    const tier = tiers[2];
    const c = client();
    const t0 = performance.now();
    const cold = await invoke(c, tier.functionName, frame('a'));
    const coldMs = performance.now() - t0;
    const t1 = performance.now();
    const warm = await invoke(c, tier.functionName, frame('b'));
    const warmMs = performance.now() - t1;
    expect(JSON.parse(cold.data.toString()).coldStart).toBe(true);
    expect(JSON.parse(warm.data.toString()).coldStart).toBe(false);
    expect(warm.headers['x-fc-instance-id']).toBe(cold.headers['x-fc-instance-id']);
    // As on FC, the initializer (model load, emulated ≥ 400 ms) is billed apart from the invocation.
    expect(Number(cold.headers['x-fc-invocation-duration'])).toBeGreaterThanOrEqual(40 + 10);
    const init = fc.ledger().entries.find((e) => e.requestId === cold.headers['x-fc-request-id'] && e.kind === 'initializer');
    expect(init?.durationMs).toBeGreaterThanOrEqual(400);
    expect(init?.costUsd).toBeCloseTo((init!.durationMs / 1000) * (tier.vcpu + (tier.memoryMb / 1024) * 0.15) * 0.00002, 12); // no invocation fee
    expect(fc.ledger().entries.filter((e) => e.requestId === warm.headers['x-fc-request-id']).map((e) => e.kind)).toEqual(['invocation']);
    expect(warmMs).toBeLessThan(coldMs);
  });

  it('an instance stays busy until its emulated invocation ends: with maxInstances 1 a call during it is throttled (429), with room it cold-starts a second instance', async () => {
    const slow = echoProfile([small], { aMs: 2000, kMs: 0, coldStartMs: 0 });
    for (const maxInstances of [1, 2]) {
      const one = await startLocalFc({ handlerModule: ECHO_HANDLER_MODULE, profile: slow, maxInstances, keepAliveMs: 30_000, tiers: [small] });
      try {
        const c = new FcClient('1', { accessKeyID: one.accessKeyId, accessKeySecret: LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, region: 'cn-hangzhou', endpoint: one.url, timeout: 20_000 });
        c.version = '2023-03-30';
        await invoke(c, small.functionName, textFrame('warm')); // the instance exists and is warm
        const first = invoke(c, small.functionName, textFrame('first'));
        // The real handler returns in a few ms; the tier would take 2 s. Wait until it is taken.
        const busy = async () => ((await (await fetch(`${one.url}/local/instances`)).json()) as Record<string, { busy: number }>)[small.key].busy;
        while ((await busy()) === 0) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 200));
        expect(await busy(), 'still busy after the real handler returned').toBe(1);
        const second = await invoke(c, small.functionName, textFrame('second')).then(
          (res) => ({ ok: true as const, res }),
          (err: Error & { code?: string }) => ({ ok: false as const, err }),
        );
        const firstRes = await first;
        expect(textsOf(firstRes.data)).toEqual(['FIRST']);
        if (maxInstances === 1) {
          expect(second.ok, 'no second instance allowed: FC answers 429').toBe(false);
          if (!second.ok) {
            expect(second.err.message).toContain('failed with 429');
            expect(second.err.code).toBe('ResourceExhausted');
          }
        } else {
          expect(second.ok, 'room for a second instance').toBe(true);
          if (second.ok) {
            expect(JSON.parse(second.res.data.toString()).coldStart, 'served by a new instance').toBe(true);
            expect(second.res.headers['x-fc-instance-id']).not.toBe(firstRes.headers['x-fc-instance-id']);
          }
        }
      } finally {
        await one.close();
      }
    }
  }, 30_000);

  it('more concurrent calls than the instance limit: some 429 ResourceExhausted, the rest succeed', async () => {
    const tier = tiers[3];
    const c = client();
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => invoke(c, tier.functionName, frame('c'))));
    const ok = settled.filter((s) => s.status === 'fulfilled');
    const throttled = settled.filter((s) => s.status === 'rejected' && (s.reason as Error).message.includes('failed with 429'));
    expect(ok.length + throttled.length).toBe(5);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(2);
    expect(throttled.length).toBeGreaterThanOrEqual(3);
    expect((throttled[0] as PromiseRejectedResult).reason.code).toBe('ResourceExhausted');
  });

  it('idle instances are reclaimed after the keep-alive, and the next call is cold again', async () => {
    const short = await startLocalFc({ handlerModule: ECHO_HANDLER_MODULE, profile, maxInstances: 1, keepAliveMs: 100, tiers: [small] });
    try {
      const c = new FcClient('1', { accessKeyID: short.accessKeyId, accessKeySecret: LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, region: 'cn-hangzhou', endpoint: short.url });
      c.version = '2023-03-30';
      const first = await invoke(c, small.functionName, textFrame('1'));
      await new Promise((r) => setTimeout(r, 400));
      const again = await invoke(c, small.functionName, textFrame('2'));
      expect(JSON.parse(first.data.toString()).coldStart).toBe(true);
      expect(JSON.parse(again.data.toString()).coldStart).toBe(true);
      expect(again.headers['x-fc-instance-id']).not.toBe(first.headers['x-fc-instance-id']);
    } finally {
      await short.close();
    }
  });
});

describe('local FC: link, faults, ledger', () => {
  it('uplink 2 Mbit/s: a 250 KB batch takes at least 1 s longer than unshaped', async () => {
    const c = client();
    // 250 KB: one real line plus one 250 KB item the handler rejects as undecodable (fast), so
    // the time measured is the link's, not 100 extra inferences'.
    const body = encodeBatch([
      { id: 'line', type: 'image/png' as const, bytes: png.get('x')! },
      { id: 'pad', type: 'image/png' as const, bytes: Buffer.alloc(250 * 1024, 0x55) },
    ]);
    expect(body.length).toBeGreaterThanOrEqual(250 * 1024);
    await invoke(c, small.functionName, body); // warm up
    const t0 = performance.now();
    await invoke(c, small.functionName, body);
    const freeMs = performance.now() - t0;
    fc.setLink({ mbps: 2 });
    try {
      const t1 = performance.now();
      await invoke(c, small.functionName, body);
      const shapedMs = performance.now() - t1;
      expect(shapedMs - freeMs).toBeGreaterThanOrEqual(1000);
    } finally {
      fc.setLink({ mbps: null });
    }
  });

  it('POST /local/link sets rtt and outage; an outage resets connections', async () => {
    const res = await fetch(`${fc.url}/local/link`, { method: 'POST', body: JSON.stringify({ outage: true }) });
    expect(await res.json()).toMatchObject({ outage: true });
    try {
      const err = await rejection(invoke(client(), small.functionName, frame('x')));
      expect(err.message).toMatch(/ECONNRESET|socket hang up/);
    } finally {
      await fetch(`${fc.url}/local/link`, { method: 'POST', body: JSON.stringify({ outage: false }) });
    }
  });

  it('admin endpoints reject bad input with 400 naming the field', async () => {
    const res = await fetch(`${fc.url}/local/link`, { method: 'POST', body: JSON.stringify({ rttMs: -5 }) });
    expect(res.status).toBe(400);
    expect((await res.json()).ErrorMessage).toContain('rttMs');
    const bad = await fetch(`${fc.url}/local/faults`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
  });

  it('faults: forced throttling gives 429; injected errors give x-fc-error-type or 5xx', async () => {
    const tier = tiers[4];
    const c = client();
    fc.setFaults({ [tier.key]: { throttleRate: 1 } });
    expect((await rejection(invoke(c, tier.functionName, frame('x')))).message).toContain('failed with 429');
    const r = await fetch(`${fc.url}/local/faults`, { method: 'POST', body: JSON.stringify({ [tier.functionName]: { errorRate: 1, errorMode: 'unhandled' } }) });
    expect(r.status).toBe(200);
    expect((await invoke(c, tier.functionName, frame('x'))).headers['x-fc-error-type']).toBe('UnhandledInvocationError');
    fc.setFaults({ '*': { errorRate: 1, errorMode: '5xx' } });
    expect((await rejection(invoke(c, tier.functionName, frame('x')))).message).toContain('failed with 500');
    fc.setFaults({});
    expect(textsOf((await invoke(c, tier.functionName, frame('fine'))).data)).toEqual(['fine']);
  });

  it('the ledger\'s cost for a known sequence equals the pricing table\'s arithmetic', async () => {
    await fetch(`${fc.url}/local/ledger`, { method: 'DELETE' });
    const c = client();
    const durations: { vcpu: number; memoryMb: number; ms: number }[] = [];
    for (const [tier, n] of [[small, 2], [medium, 1]] as const) {
      for (let i = 0; i < n; i++) {
        const res = await invoke(c, tier.functionName, frame('a', 'b', 'c'));
        durations.push({ vcpu: tier.vcpu, memoryMb: tier.memoryMb, ms: Number(res.headers['x-fc-invocation-duration']) });
      }
    }
    // A throttled call is not billed.
    fc.setFaults({ [small.key]: { throttleRate: 1 } });
    await rejection(invoke(c, small.functionName, frame('x')));
    fc.setFaults({});

    const ledger = (await (await fetch(`${fc.url}/local/ledger`)).json()) as ReturnType<LocalFc['ledger']>;
    // FC3 price list: 1 CU per vCPU-s, 0.15 CU per GB-s, 0.0075 CU per invocation, USD 0.00002 per CU.
    const cuOf = (d: (typeof durations)[number], fee = 0.0075) => (d.ms / 1000) * (d.vcpu * 1 + (d.memoryMb / 1024) * 0.15) + fee;
    // A cold start's initializer is billed apart: its time at the tier's rate, no invocation fee.
    const inits = ledger.entries.filter((e) => e.kind === 'initializer').map((e) => ({ ...tiers.find((t) => t.key === e.tierKey)!, ms: e.durationMs }));
    const expectedUsd = durations.reduce((s, d) => s + cuOf(d) * 0.00002, 0) + inits.reduce((s, d) => s + cuOf(d, 0) * 0.00002, 0);
    expect(ledger.entries.filter((e) => e.kind === 'invocation').map((e) => e.durationMs)).toEqual(durations.map((d) => d.ms));
    expect(ledger.entries).toHaveLength(3 + inits.length);
    expect(ledger.total.invocations).toBe(3);
    expect(ledger.total.initializers).toBe(inits.length);
    expect(ledger.totals[small.key].invocations).toBe(2);
    expect(ledger.totals[medium.key].invocations).toBe(1);
    expect(ledger.total.costUsd).toBeCloseTo(expectedUsd, 12);
    if (!inits.some((i) => i.key === medium.key)) expect(ledger.totals[medium.key].cu).toBeCloseTo(cuOf(durations[2]), 9);
    expect(fc.ledger().total.costUsd).toBeCloseTo(expectedUsd, 12);
  });
});
