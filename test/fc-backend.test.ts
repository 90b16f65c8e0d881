/**
 * The FC backend (real @alicloud/fc2 client) against the local FC on loopback, with the stand-in
 * function for speed; the OCR path with the real handler is in fc-backend-ocr.test.ts. Also the
 * credential resolution from env and Serverless Devs' access.yaml, and secret redaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { startLocalFc, ECHO_HANDLER_MODULE, type LocalFc } from '../local-fc/index.ts';
import { billedDuration, createFcBackend, type FcBackend } from '../edge-agent/backends/fc.ts';
import { localFcEndpoint } from '../edge-agent/dev/embedded-local-fc.ts';
import { costOf } from '../shared/pricing.ts';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FcCredentials, FcCredentialsError, resolveFcCredentials } from '../edge-agent/backends/fc-credentials.ts';
import { BackendError, type BatchItem } from '../edge-agent/backends/backend.ts';
import { loadTiers } from '../shared/tiers.ts';
import { encodeBatch } from '../shared/wire/index.ts';
import { echoProfile } from './helpers/echo-fc.ts';

const tiers = loadTiers();
const profile = echoProfile(tiers, { aMs: 30, kMs: 5, coldStartMs: 200 });
const items = (...texts: string[]): BatchItem[] => texts.map((t, i) => ({ id: `r${i}`, type: 'image/png', bytes: Buffer.from(t) }));

async function backendError(p: Promise<unknown>): Promise<BackendError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BackendError);
    return e as BackendError;
  }
  throw new Error('expected the call to fail');
}

let fc: LocalFc;
let backend: FcBackend;
beforeAll(async () => {
  fc = await startLocalFc({ handlerModule: ECHO_HANDLER_MODULE, profile, maxInstances: 2, keepAliveMs: 30_000 });
  backend = createFcBackend({ tiers, endpoint: fc.url, credentials: new FcCredentials({ accessKeyId: fc.accessKeyId, accessKeySecret: 'local-dev-secret', source: 'test' }) });
});
afterAll(async () => {
  await backend?.close();
  await fc?.close();
});

describe('FC backend against the local FC', () => {
  it('run: results in order, cold then warm, billed time, transfer time, bytes and cost', async () => {
    const tier = tiers[1];
    const batch = items('alpha', 'beta', 'gamma');
    const cold = await backend.run(tier.key, batch, { timeoutMs: 10_000 });
    const warm = await backend.run(tier.key, batch, { timeoutMs: 10_000 });
    expect(cold.results.map((r) => [r.id, r.text])).toEqual([['r0', 'ALPHA'], ['r1', 'BETA'], ['r2', 'GAMMA']]);
    expect(cold.coldStart).toBe(true);
    expect(warm.coldStart).toBe(false);
    expect(cold.target).toBe(tier.key);
    expect(cold.batchSize).toBe(3);
    expect(cold.bytesSent).toBe(encodeBatch(batch).length);
    // billed = the function duration the local FC reported, which is at least the modeled a + k·b;
    // the cold start's initializer is billed apart (its own ledger entry), as on FC.
    const [init, coldEntry, warmEntry] = fc.ledger().entries.slice(-3);
    expect([init.kind, coldEntry.kind, warmEntry.kind]).toEqual(['initializer', 'invocation', 'invocation']);
    expect(init.durationMs, 'the emulated cold start').toBeGreaterThanOrEqual(200);
    expect(cold.billedMs).toBe(coldEntry.durationMs);
    expect(warm.billedMs).toBe(warmEntry.durationMs);
    expect(warm.billedMs).toBeGreaterThanOrEqual(30 + 5 * 3);
    expect(cold.billedMs).toBeGreaterThanOrEqual(30 + 5 * 3);
    expect(cold.billedMs).toBeLessThan(init.durationMs + 30 + 5 * 3);
    expect(cold.billedFrom).toBe('header');
    // The initializer's time is in no reply: the cost carries the function's own measurement of
    // it (the fixture's initializer sleeps 50 ms), labelled as an estimate.
    expect(cold.initializerEstimate?.source).toBe('function');
    expect(cold.initializerEstimate!.billedMs).toBeGreaterThanOrEqual(45);
    expect(cold.initializerEstimate!.billedMs).toBeLessThanOrEqual(init.durationMs);
    expect(cold.initializerEstimate!.costUsd).toBeCloseTo(costOf(tier, cold.initializerEstimate!.billedMs, 0).usd, 15);
    expect(cold.costUsd).toBeCloseTo(coldEntry.costUsd + cold.initializerEstimate!.costUsd, 15);
    expect(warm.initializerEstimate).toBeUndefined();
    expect(warm.costUsd).toBeCloseTo(warmEntry.costUsd, 15);
    // A cold call's wall time mixes transfer with the instance's start: no transfer sample from it.
    expect(cold.transferMs).toBe(0);
    expect(warm.transferMs).toBeCloseTo(warm.wallMs - warm.billedMs, 6);
    expect(cold.wallMs).toBeGreaterThanOrEqual(cold.billedMs + init.durationMs);
  });

  it('a reply without x-fc-invocation-duration is billed from the function\'s own handlerMs, else decode + infer, else wall time (never 0)', async () => {
    // A loopback proxy in front of the local FC that drops the header (and, in the last case, the
    // function's timings from the body), as a gateway or an older FC might.
    let mode: 'header' | 'timings' = 'header';
    const proxy = createServer((req, res) => {
      const up = httpRequest(`${fc.url}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          let body = Buffer.concat(chunks);
          const headers = { ...upRes.headers };
          delete headers['x-fc-invocation-duration'];
          if (mode === 'timings') {
            const j = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
            delete j.handlerMs;
            body = Buffer.from(JSON.stringify({ ...j, decodeMs: 0, inferMs: 0 }));
          }
          headers['content-length'] = String(body.length);
          res.writeHead(upRes.statusCode ?? 502, headers);
          res.end(body);
        });
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const via = createFcBackend({ tiers, endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, credentials: new FcCredentials({ accessKeyId: fc.accessKeyId, accessKeySecret: 'local-dev-secret', source: 'test' }) });
    try {
      const tier = tiers[2];
      await via.run(tier.key, items('warm up'), { timeoutMs: 10_000 }); // keep the cold start out of it
      const fromFunction = await via.run(tier.key, items('one', 'two'), { timeoutMs: 10_000 });
      expect(fromFunction.billedFrom).toBe('function');
      expect(fromFunction.billedMs).toBeGreaterThan(0);
      expect(fromFunction.billedMs).toBeLessThanOrEqual(Math.ceil(fromFunction.wallMs));
      expect(fromFunction.costUsd).toBeGreaterThan(costOf(tier, 0, 1).usd);
      mode = 'timings';
      const fromWall = await via.run(tier.key, items('three'), { timeoutMs: 10_000 });
      expect(fromWall.billedFrom).toBe('wall');
      // The local FC holds every reply for at least the modeled 30 + 5 ms: so is the wall time.
      expect(fromWall.billedMs).toBeGreaterThanOrEqual(35);
      expect(fromWall.billedMs).toBe(Math.ceil(fromWall.wallMs));
      expect(fromWall.costUsd).toBeCloseTo(costOf(tier, fromWall.billedMs, 1).usd, 15);
    } finally {
      await via.close();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('billedDuration: the header wins when present, even 0; a blank or junk header falls back', () => {
    const reported = { handlerMs: 12.2, decodeMs: 3, inferMs: 5 };
    expect(billedDuration('40', reported, 100)).toEqual({ ms: 40, source: 'header' });
    expect(billedDuration('0', reported, 100)).toEqual({ ms: 0, source: 'header' });
    expect(billedDuration(undefined, reported, 100)).toEqual({ ms: 13, source: 'function' });
    expect(billedDuration('', { decodeMs: 3, inferMs: 5 }, 100)).toEqual({ ms: 8, source: 'function' });
    expect(billedDuration('n/a', { decodeMs: 0, inferMs: 0 }, 99.2)).toEqual({ ms: 100, source: 'wall' });
  });

  it('FC 2.0 service/function path works too', async () => {
    const fc2 = createFcBackend({ tiers, ...localFcEndpoint(fc), apiVersion: '2016-08-15' });
    const out = await fc2.run(tiers[0].key, items('two'), { timeoutMs: 10_000 });
    expect(out.results[0].text).toBe('TWO');
    await fc2.close();
  });

  it('429 from FC → BackendError throttled with status 429', async () => {
    fc.setFaults({ [tiers[0].key]: { throttleRate: 1 } });
    try {
      const e = await backendError(backend.run(tiers[0].key, items('x'), { timeoutMs: 5_000 }));
      expect(e.code).toBe('throttled');
      expect(e.status).toBe(429);
    } finally {
      fc.setFaults({});
    }
  });

  it('handler error (x-fc-error-type) → function_error carrying the function\'s message', async () => {
    fc.setFaults({ [tiers[0].key]: { errorRate: 1, errorMode: 'handled' } });
    try {
      const e = await backendError(backend.run(tiers[0].key, items('x'), { timeoutMs: 5_000 }));
      expect(e.code).toBe('function_error');
      expect(e.message).toContain('HandledInvocationError');
    } finally {
      fc.setFaults({});
    }
  });

  it('a hung function → timeout after the batch\'s remaining deadline', async () => {
    fc.setFaults({ [tiers[4].key]: { hangRate: 1 } });
    try {
      const t0 = performance.now();
      const e = await backendError(backend.run(tiers[4].key, items('x'), { timeoutMs: 400 }));
      expect(e.code).toBe('timeout');
      expect(performance.now() - t0).toBeLessThan(5_000);
    } finally {
      fc.setFaults({});
    }
  });

  it('link outage → unavailable; platform 5xx → unavailable with the status', async () => {
    fc.setLink({ outage: true });
    try {
      expect((await backendError(backend.run(tiers[0].key, items('x'), { timeoutMs: 5_000 }))).code).toBe('unavailable');
    } finally {
      fc.setLink({ outage: false });
    }
    fc.setFaults({ '*': { errorRate: 1, errorMode: '5xx' } });
    try {
      const e = await backendError(backend.run(tiers[0].key, items('x'), { timeoutMs: 5_000 }));
      expect(e.code).toBe('unavailable');
      expect(e.status).toBe(500);
    } finally {
      fc.setFaults({});
    }
  });

  it('wrong secret → unavailable with status 403; the secret is not in the error', async () => {
    const bad = createFcBackend({ tiers, endpoint: fc.url, credentials: new FcCredentials({ accessKeyId: fc.accessKeyId, accessKeySecret: 'wrong-secret-xyz', source: 'test' }) });
    const e = await backendError(bad.run(tiers[0].key, items('x'), { timeoutMs: 5_000 }));
    expect(e.code).toBe('unavailable');
    expect(e.status).toBe(403);
    expect(`${e.message} ${inspect(e)}`).not.toContain('wrong-secret-xyz');
  });

  it('unknown target and closed backend are BackendErrors', async () => {
    expect((await backendError(backend.run('tier-nope', items('x'), { timeoutMs: 1_000 }))).message).toContain('tier-nope');
    const b = createFcBackend({ tiers, ...localFcEndpoint(fc) });
    fc.setFaults({ [tiers[3].key]: { hangRate: 1 } });
    try {
      const pending = b.run(tiers[3].key, items('x'), { timeoutMs: 10_000 });
      await new Promise((r) => setTimeout(r, 50));
      await b.close();
      expect((await backendError(pending)).code).toBe('closed');
      expect((await backendError(b.run(tiers[0].key, items('x'), { timeoutMs: 1_000 }))).code).toBe('closed');
    } finally {
      fc.setFaults({});
    }
  });
});

describe('FC credentials', () => {
  it('from env: key pair, STS token, account and region', () => {
    const c = resolveFcCredentials({
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'STS.abc',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 's3cr3t-env',
      ALIBABA_CLOUD_SECURITY_TOKEN: 'tok-123',
      FC_ACCOUNT_ID: '42',
      FC_REGION: 'cn-shanghai',
    });
    expect(c).toMatchObject({ accessKeyId: 'STS.abc', accessKeySecret: 's3cr3t-env', securityToken: 'tok-123', accountId: '42', region: 'cn-shanghai', source: 'env' });
  });

  it('half a key pair is a configuration error naming what is missing', () => {
    expect(() => resolveFcCredentials({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'x' })).toThrow(FcCredentialsError);
    expect(() => resolveFcCredentials({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'x' })).toThrow(/ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
  });

  it('from a Serverless Devs access alias, plain or encrypted as `s config add` stores it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seb-access-'));
    // Encrypted by openssl (an independent implementation of crypto-js' passphrase format).
    const enc = (v: string) => execFileSync('openssl', ['enc', '-aes-256-cbc', '-md', 'md5', '-salt', '-pass', 'pass:SecretKey123', '-a', '-A'], { input: v }).toString().trim();
    const path = join(dir, 'access.yaml');
    writeFileSync(path, `default:\n  AccountID: '123'\n  AccessKeyID: LTAIplain\n  AccessKeySecret: plain-secret\nprod:\n  AccountID: ${enc('987')}\n  AccessKeyID: ${enc('LTAIprod')}\n  AccessKeySecret: ${enc('prod-secret')}\n`);
    expect(resolveFcCredentials({}, { accessYamlPath: path })).toMatchObject({ accessKeyId: 'LTAIplain', accessKeySecret: 'plain-secret', accountId: '123', source: 'access.yaml:default' });
    expect(resolveFcCredentials({ FC_REGION: 'cn-beijing' }, { accessYamlPath: path, access: 'prod' })).toMatchObject({ accessKeyId: 'LTAIprod', accessKeySecret: 'prod-secret', accountId: '987', region: 'cn-beijing' });
    expect(() => resolveFcCredentials({}, { accessYamlPath: path, access: 'staging' })).toThrow(/staging.*default, prod/);
    expect(resolveFcCredentials({}, { accessYamlPath: join(dir, 'none.yaml') })).toBeUndefined();
  });

  it('the secret and token never show in JSON, inspect, spreads or string conversion', () => {
    const c = new FcCredentials({ accessKeyId: 'LTAIid', accessKeySecret: 'very-secret-value', securityToken: 'very-secret-token', source: 'test' });
    const shown = [JSON.stringify(c), inspect(c), inspect({ nested: { c } }, { depth: 5 }), String(c), JSON.stringify({ ...c }), `${c}`].join('\n');
    expect(shown).not.toContain('very-secret-value');
    expect(shown).not.toContain('very-secret-token');
    expect(shown).toContain('LTAIid');
    expect(c.accessKeySecret).toBe('very-secret-value');
  });
});
