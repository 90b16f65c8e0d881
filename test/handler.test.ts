/**
 * The FC function as FC calls it: SEB1 frame in (encodeBatch), handler, response JSON out.
 * Real PP-OCRv4 inference on text lines rendered in the test.
 */
import { crc32, deflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { handler, initializer, threadsForInstance } from '../functions/index.ts';
import { Rng } from '../shared/rng.ts';
import { DEFAULT_S_YAML, loadTiers } from '../shared/tiers.ts';
import { batchResponseSchema, encodeBatch, type BatchResponse, type WireItem } from '../shared/wire/index.ts';
import { randomLine, renderTextLine } from '../shared/text-line-images.ts';

async function call(items: WireItem[], model?: string): Promise<BatchResponse> {
  return batchResponseSchema.parse(JSON.parse(await handler(encodeBatch(items, model), { requestId: 'test' })));
}

/** The JSON error a rejected frame carries in its message. */
async function rejection(event: Buffer): Promise<{ code: string; message: string }> {
  try {
    await handler(event, {});
  } catch (err) {
    return (JSON.parse((err as Error).message) as { error: { code: string; message: string } }).error;
  }
  throw new Error('handler did not reject');
}

/** A valid, highly compressible 1-bit greyscale PNG of the given size (~50 KB for 20000²). */
function hugePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((1 + Math.ceil(width / 8)) * height); // filter byte 0 + zero pixels per row
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const rng = new Rng(2024);
const texts = Array.from({ length: 24 }, () => randomLine(rng));
let images: Buffer[];

beforeAll(async () => {
  images = await Promise.all(texts.map((t) => renderTextLine(t)));
  await initializer({ requestId: 'init' });
});

describe('handler', () => {
  it('reports coldStart true on the first invocation after the initializer, then false', async () => {
    const one = [{ id: 'x', type: 'image/png' as const, bytes: images[0] }];
    expect((await call(one)).coldStart).toBe(true);
    expect((await call(one)).coldStart).toBe(false);
  });

  it('reports its own handler time on every call and the initializer\'s time only on the cold one', async () => {
    // A fresh module instance: the cold start above already happened in this one.
    vi.resetModules();
    const fresh = (await import('../functions/index.ts')) as typeof import('../functions/index.ts');
    await fresh.initializer({ requestId: 'init-2' });
    const frame = encodeBatch([{ id: 'x', type: 'image/png', bytes: images[1] }]);
    const t0 = performance.now();
    const cold = batchResponseSchema.parse(JSON.parse(await fresh.handler(frame, {})));
    const wallMs = performance.now() - t0;
    const warm = batchResponseSchema.parse(JSON.parse(await fresh.handler(frame, {})));
    expect(cold.coldStart).toBe(true);
    expect(cold.initializerMs, 'the initializer loaded a model').toBeGreaterThan(0);
    expect(cold.handlerMs).toBeGreaterThanOrEqual(cold.inferMs);
    expect(cold.handlerMs).toBeLessThanOrEqual(wallMs);
    expect(warm.coldStart).toBe(false);
    expect(warm.initializerMs).toBeUndefined();
    expect(warm.handlerMs).toBeGreaterThanOrEqual(warm.inferMs + warm.decodeMs);
  });

  it('recognises ≥ 90% of 24 random lines exactly, in batches of 8, results in request order', async () => {
    const got: string[] = [];
    for (let start = 0; start < texts.length; start += 8) {
      const batch = texts.slice(start, start + 8).map((_, j) => ({ id: `line-${start + j}`, type: 'image/png' as const, bytes: images[start + j] }));
      const res = await call(batch);
      expect(res.model).toBe('ocr-rec');
      expect(res.batchSize).toBe(batch.length);
      expect(res.results.map((r) => r.id)).toEqual(batch.map((b) => b.id));
      for (const r of res.results) {
        expect(r.confidence).toBeGreaterThan(0);
        expect(r.confidence).toBeLessThanOrEqual(1);
        got.push(r.text ?? '');
      }
      expect(res.inferMs).toBeGreaterThan(0);
    }
    const exact = got.filter((g, i) => g === texts[i]).length;
    expect(exact / texts.length, `misread: ${got.map((g, i) => (g === texts[i] ? '' : `${texts[i]}→${g}`)).filter(Boolean).join(' ')}`).toBeGreaterThanOrEqual(0.9);
  });

  it('gives an item the same text alone as inside a batch of 8', async () => {
    const batch = await call(images.slice(0, 8).map((bytes, i) => ({ id: `b${i}`, type: 'image/png', bytes })));
    for (let i = 0; i < 8; i++) {
      const alone = await call([{ id: `a${i}`, type: 'image/png', bytes: images[i] }]);
      expect(alone.results[0].text).toBe(batch.results[i].text);
    }
  });

  it('fails bad items alone with distinct codes while the good items in the batch succeed', async () => {
    const noise = new Uint8Array(4096).map(() => rng.int(256));
    const bad: { id: string; type: 'image/png' | 'image/jpeg'; bytes: Uint8Array; code: string }[] = [
      { id: 'random-bytes', type: 'image/png', bytes: noise, code: 'unrecognised_format' },
      { id: 'truncated-png', type: 'image/png', bytes: images[1].subarray(0, Math.floor(images[1].length / 2)), code: 'undecodable_image' },
      { id: 'empty', type: 'image/png', bytes: new Uint8Array(0), code: 'empty_item' },
      { id: 'huge-20000x20000', type: 'image/png', bytes: hugePng(20000, 20000), code: 'pixel_limit' },
      { id: 'png-declared-jpeg', type: 'image/jpeg', bytes: images[2], code: 'type_mismatch' },
    ];
    const goods = [0, 3, 4].map((i) => ({ id: `good-${i}`, type: 'image/png' as const, bytes: images[i], text: texts[i] }));
    // Interleave so a bad item cannot shift its neighbours' results.
    const items: WireItem[] = [goods[0], bad[0], bad[1], goods[1], bad[2], bad[3], bad[4], goods[2]];
    const res = await call(items);
    expect(res.results.map((r) => r.id)).toEqual(items.map((i) => i.id));
    const byId = new Map(res.results.map((r) => [r.id, r]));
    for (const b of bad) {
      expect(byId.get(b.id)?.error?.code, b.id).toBe(b.code);
      expect(byId.get(b.id)?.error?.message.length).toBeGreaterThan(0);
      expect(byId.get(b.id)?.text).toBeUndefined();
    }
    expect(new Set(bad.map((b) => byId.get(b.id)?.error?.code)).size).toBe(bad.length);
    for (const g of goods) {
      expect(byId.get(g.id)?.error).toBeUndefined();
      expect(byId.get(g.id)?.text).toBe(g.text);
    }
  });

  it('answers a batch whose items all fail with no inference run', async () => {
    const res = await call([{ id: 'e', type: 'image/png', bytes: new Uint8Array(0) }]);
    expect(res.inferMs).toBe(0);
    expect(res.results).toEqual([{ id: 'e', error: { code: 'empty_item', message: expect.any(String) } }]);
  });

  it('rejects malformed frames with one JSON error each', async () => {
    const good = encodeBatch([{ id: 'a', type: 'image/png', bytes: images[0] }]);
    const badMagic = Buffer.from(good);
    badMagic.write('XXXX', 0, 'ascii');
    const pastEnd = Buffer.from(good);
    pastEnd.writeUInt32BE(good.length, 4);
    expect((await rejection(badMagic)).code).toBe('bad_magic');
    expect((await rejection(pastEnd)).code).toBe('header_length_out_of_range');
    expect((await rejection(good.subarray(0, good.length - 10))).code).toBe('byte_count_mismatch');
    const notJson = Buffer.concat([Buffer.from('SEB1'), Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
    expect((await rejection(notJson)).code).toBe('header_not_json');
  });

  it('rejects a batch asking for a model this function does not serve', async () => {
    const err = await rejection(encodeBatch([{ id: 'a', type: 'image/png', bytes: images[0] }], 'ocr-cls'));
    expect(err.code).toBe('model_not_served');
    expect(err.message).toMatch(/ocr-rec.*ocr-cls/);
  });
});

describe('threadsForInstance', () => {
  it('uses the tier\'s SEB_VCPU rounded, at least 1, else the machine parallelism', () => {
    expect(threadsForInstance({ SEB_VCPU: '4' }, 2)).toBe(4);
    expect(threadsForInstance({ SEB_VCPU: '0.5' }, 8)).toBe(1);
    expect(threadsForInstance({ SEB_VCPU: '1.4' }, 8)).toBe(1);
    expect(threadsForInstance({ SEB_VCPU: '2.6' }, 8)).toBe(3);
    expect(threadsForInstance({}, 6)).toBe(6);
    expect(threadsForInstance({ SEB_VCPU: 'lots' }, 3)).toBe(3);
  });

  it('on real FC each tier of s.yaml gets its own vCPU count (SEB_VCPU from the function\'s environment), not the host\'s cores', () => {
    const tiers = loadTiers(DEFAULT_S_YAML, {});
    // FC would run every tier on a host with many more cores than the tier's share.
    const hostCores = 96;
    const threads = tiers.map((t) => threadsForInstance({ ...t.environmentVariables }, hostCores));
    expect(threads).toEqual(tiers.map((t) => Math.max(1, Math.round(t.vcpu))));
    expect(new Set(threads).size, 'tiers of different size run different thread counts').toBeGreaterThan(1);
  });
});
