/**
 * End to end on loopback with the real parts: the FC backend's real @alicloud/fc2 client →
 * the local FC (signature check, worker-thread instance) → the real FC handler
 * (functions/index.ts: initializer loads PP-OCRv4 rec, onnxruntime-node inference) → results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalFc, type LocalFc } from '../local-fc/index.ts';
import { createFcBackend, type FcBackend } from '../edge-agent/backends/fc.ts';
import { localFcEndpoint } from '../edge-agent/dev/embedded-local-fc.ts';
import { loadTiers } from '../shared/tiers.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

const tiers = loadTiers();
const tier = tiers.find((t) => t.vcpu === 2) ?? tiers[0];
let fc: LocalFc;
let backend: FcBackend;

beforeAll(async () => {
  // Default handler module (functions/index.ts) and default profile: the real thing.
  fc = await startLocalFc({ tiers: [tier], maxInstances: 1, keepAliveMs: 60_000 });
  backend = createFcBackend({ tiers: [tier], ...localFcEndpoint(fc) });
});
afterAll(async () => {
  await backend?.close();
  await fc?.close();
});

describe('FC backend + local FC + real OCR handler', () => {
  it('a batch of rendered text-line images comes back as the right text, in order', async () => {
    const lines = ['EDGE 2026', 'Batch42', 'HELLO FC'];
    const items = await Promise.all(lines.map(async (text, i) => ({ id: `line-${i}`, type: 'image/png' as const, bytes: await renderTextLine(text) })));
    const out = await backend.run(tier.key, items, { timeoutMs: 30_000 });
    expect(out.results.map((r) => r.id)).toEqual(['line-0', 'line-1', 'line-2']);
    expect(out.results.map((r) => r.text)).toEqual(lines);
    expect(out.coldStart).toBe(true);
    expect(out.billedMs).toBeGreaterThan(0);
    expect(out.inferMs).toBeGreaterThan(0);

    const again = await backend.run(tier.key, items.slice(0, 1), { timeoutMs: 30_000 });
    expect(again.results[0].text).toBe(lines[0]);
    expect(again.coldStart).toBe(false);
    expect(fc.ledger().totals[tier.key].invocations).toBe(2);
  });

  it('a malformed frame is a function_error carrying the handler\'s JSON message', async () => {
    // A frame the handler must refuse: wrong magic. Sent through the fc2 client like any batch.
    const { createRequire } = await import('node:module');
    const Client = createRequire(import.meta.url)('@alicloud/fc2') as new (a: string, c: Record<string, unknown>) => {
      version: string;
      post(p: string, b: Buffer, h?: object, q?: null, o?: object): Promise<{ headers: Record<string, string>; data: { errorMessage: string } }>;
    };
    const c = new Client('local', { accessKeyID: fc.accessKeyId, accessKeySecret: 'local-dev-secret', region: tier.region, endpoint: fc.url });
    c.version = '2023-03-30';
    const res = await c.post(`/functions/${tier.functionName}/invocations`, Buffer.from('NOPE this is not a frame'), {}, null, { rawBuf: true });
    expect(res.headers['x-fc-error-type']).toBe('HandledInvocationError');
    expect(() => JSON.parse(res.data.errorMessage)).not.toThrow();
  });
});
