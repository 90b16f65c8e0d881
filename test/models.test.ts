/** Model adapters, guarded decoding and the registry, with the real ONNX models where they run. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatchInference, type BatchInference } from '../shared/batch-inference.ts';
import {
  ItemError,
  MODEL_NAMES,
  ModelConfigError,
  ctcGreedyDecode,
  decodeImage,
  getModelConfig,
  modelDir,
  parseModelConfig,
  sniffImageType,
  toProbabilities,
  writeNchw,
} from '../shared/models/index.ts';
import { Rng } from '../shared/rng.ts';
import { randomLine, renderTextLine } from '../shared/text-line-images.ts';

async function itemErrorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ItemError);
    return (err as ItemError).code;
  }
  throw new Error('expected an ItemError');
}

describe('ctcGreedyDecode', () => {
  const charset = ['a', 'b', 'c', ' '];
  /** One step per entry: [class, its probability]; the rest of the row shares what is left. */
  function probs(steps: [number, number][]): Float32Array {
    const classes = charset.length + 1;
    const out = new Float32Array(steps.length * classes);
    steps.forEach(([c, p], t) => {
      for (let k = 0; k < classes; k++) out[t * classes + k] = k === c ? p : (1 - p) / (classes - 1);
    });
    return out;
  }

  it('drops blanks and repeats but keeps a letter repeated across a blank', () => {
    const r = ctcGreedyDecode(probs([[1, 0.9], [1, 0.8], [0, 0.9], [1, 0.7], [2, 0.6], [3, 0.5]]), 6, 5, charset);
    expect(r.text).toBe('aabc');
    // Mean of the chosen steps' probabilities: first of each run.
    expect(r.confidence).toBeCloseTo((0.9 + 0.7 + 0.6 + 0.5) / 4, 6);
  });

  it('trims the space class at the ends and gives confidence 0 for an all-blank line', () => {
    expect(ctcGreedyDecode(probs([[4, 0.9], [1, 0.9], [4, 0.9]]), 3, 5, charset).text).toBe('a');
    expect(ctcGreedyDecode(probs([[0, 0.9], [0, 0.9]]), 2, 5, charset)).toEqual({ text: '', confidence: 0 });
  });
});

describe('toProbabilities', () => {
  it('keeps a row that is already a distribution and softmaxes logits', () => {
    const p = Float32Array.from([0.25, 0.75]);
    expect(toProbabilities(p)).toBe(p);
    const s = toProbabilities(Float32Array.from([2, 0, -1]));
    expect(s.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(s[0] / s[1]).toBeCloseTo(Math.E ** 2, 3);
  });
});

describe('writeNchw', () => {
  it('normalises per channel, swaps to BGR on request and leaves padding at 0', () => {
    // 2×1 image: pixel 0 = (255, 0, 51), pixel 1 = (0, 255, 102); tensor width 3.
    const img = { width: 2, height: 1, data: Buffer.from([255, 0, 51, 0, 255, 102]) };
    const out = new Float32Array(3 * 3);
    writeNchw(out, 0, img, 1, 3, { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], bgr: false });
    expect([...out].map((v) => +v.toFixed(3))).toEqual([1, -1, 0, -1, 1, 0, -0.6, -0.2, 0]);
    const bgr = new Float32Array(3 * 3);
    writeNchw(bgr, 0, img, 1, 3, { scale: 1, mean: [0, 0, 0], std: [1, 1, 1], bgr: true });
    expect([...bgr]).toEqual([51, 102, 0, 0, 255, 0, 255, 0, 0]);
  });
});

describe('registry and config', () => {
  it('getModelConfig resolves built-in models to files that exist', () => {
    expect(MODEL_NAMES).toEqual(['ocr-rec', 'ocr-cls']);
    const rec = getModelConfig('ocr-rec');
    expect(rec.kind).toBe('ctc-text');
    if (rec.kind === 'ctc-text') expect(existsSync(rec.dictPath)).toBe(true);
    expect(existsSync(rec.modelPath)).toBe(true);
    expect(existsSync(getModelConfig('ocr-cls').modelPath)).toBe(true);
    expect(getModelConfig().name).toBe('ocr-rec');
  });

  it('getModelConfig names the known models when asked for an unknown one', () => {
    expect(() => getModelConfig('resnet')).toThrow(ModelConfigError);
    expect(() => getModelConfig('resnet')).toThrow(/ocr-rec, ocr-cls/);
    expect(() => getModelConfig('toString')).toThrow(ModelConfigError);
  });

  it('modelDir honours SEB_MODEL_DIR', () => {
    expect(modelDir({ SEB_MODEL_DIR: '/opt/models' })).toBe('/opt/models');
    expect(modelDir({})).toMatch(/@gutenye[/\\]ocr-models[/\\]assets$/);
  });

  it('parseModelConfig accepts a ResNet-50 config and fills defaults; rejects std 0', () => {
    const resnet = parseModelConfig({
      kind: 'classifier',
      name: 'resnet50',
      modelPath: '/models/resnet50-v2-7.onnx',
      width: 224,
      height: 224,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      labelsPath: '/models/synset.txt',
    });
    expect(resnet).toMatchObject({ channelOrder: 'RGB', scale: 1 / 255, resize: 'stretch', topK: 5 });
    expect(() => parseModelConfig({ ...resnet, std: [0, 1, 1] })).toThrow(/std/);
    expect(() => parseModelConfig({ kind: 'detector' })).toThrow(ModelConfigError);
  });
});

describe('decodeImage guards', () => {
  let png: Buffer;
  beforeAll(async () => {
    png = await renderTextLine('Guard-42');
  });
  const fit = { mode: 'fit-height', height: 48, maxWidth: 320 } as const;

  it('sniffs PNG, JPEG and WebP by magic bytes', async () => {
    expect(sniffImageType(png)).toBe('image/png');
    expect(sniffImageType(await sharp(png).jpeg().toBuffer())).toBe('image/jpeg');
    expect(sniffImageType(await sharp(png).webp().toBuffer())).toBe('image/webp');
    expect(sniffImageType(Buffer.from('GIF89a...'))).toBeUndefined();
  });

  it('resizes to height 48 keeping the ratio, capped at maxWidth, 3 channels', async () => {
    const meta = await sharp(png).metadata();
    const img = await decodeImage(png, 'image/png', fit);
    expect(img.height).toBe(48);
    expect(img.width).toBe(Math.ceil((48 * meta.width) / meta.height));
    expect(img.data.length).toBe(img.width * 48 * 3);
    const wide = await sharp({ create: { width: 2000, height: 40, channels: 3, background: '#fff' } }).png().toBuffer();
    expect((await decodeImage(wide, 'image/png', fit)).width).toBe(320);
  });

  it('flattens transparency on white', async () => {
    const clear = await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const img = await decodeImage(clear, 'image/png', { mode: 'stretch', width: 4, height: 4 });
    expect(Math.min(...img.data)).toBe(255);
  });

  it('fails with too_large over the byte limit and pixel_limit over the pixel limit', async () => {
    expect(await itemErrorCode(decodeImage(png, 'image/png', fit, { maxItemBytes: 100, maxInputPixels: 1e9 }))).toBe('too_large');
    expect(await itemErrorCode(decodeImage(png, 'image/png', fit, { maxItemBytes: 1e9, maxInputPixels: 100 }))).toBe('pixel_limit');
  });
});

describe('models on real ONNX Runtime', () => {
  let rec: BatchInference;
  let cls: BatchInference;
  const rng = new Rng(77);
  const lines = Array.from({ length: 6 }, () => randomLine(rng));
  let pngs: Buffer[];

  beforeAll(async () => {
    [rec, cls, pngs] = await Promise.all([
      createBatchInference({ model: 'ocr-rec', intraOpThreads: 1 }),
      createBatchInference({ model: 'ocr-cls', intraOpThreads: 1 }),
      Promise.all(lines.map((l) => renderTextLine(l))),
    ]);
  });
  afterAll(async () => {
    await Promise.all([rec?.close(), cls?.close()]);
  });

  it('ocr-rec reads the same text from PNG, JPEG and WebP encodings', async () => {
    const png = pngs[0];
    const res = await rec.run([
      { id: 'png', type: 'image/png', bytes: png },
      { id: 'jpeg', type: 'image/jpeg', bytes: await sharp(png).jpeg({ quality: 92 }).toBuffer() },
      { id: 'webp', type: 'image/webp', bytes: await sharp(png).webp({ lossless: true }).toBuffer() },
    ]);
    expect(res.results.map((r) => r.text)).toEqual([lines[0], lines[0], lines[0]]);
    expect(res.coldStart).toBe(false);
  });

  it('ocr-cls labels upright lines 0 and lines rotated 180° as 180', async () => {
    const rotated = await Promise.all(pngs.map((p) => sharp(p).rotate(180).png().toBuffer()));
    const res = await cls.run([...pngs.map((b, i) => ({ id: `u${i}`, type: 'image/png' as const, bytes: b })), ...rotated.map((b, i) => ({ id: `r${i}`, type: 'image/png' as const, bytes: b }))]);
    expect(res.model).toBe('ocr-cls');
    const top = res.results.map((r) => r.labels?.[0].label);
    expect(top).toEqual([...pngs.map(() => '0'), ...pngs.map(() => '180')]);
    for (const r of res.results) {
      expect(r.labels).toHaveLength(2);
      expect(r.labels![0].score).toBeGreaterThanOrEqual(r.labels![1].score);
      expect(r.confidence).toBe(r.labels![0].score);
    }
  });

  it('a classifier given by configuration alone (labels from a file) matches the built-in one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seb-labels-'));
    writeFileSync(join(dir, 'labels.txt'), 'upright\nupside-down\n');
    const custom = await createBatchInference({
      intraOpThreads: 1,
      config: {
        kind: 'classifier',
        name: 'direction',
        modelPath: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
        width: 192,
        height: 48,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
        resize: 'pad-right',
        labelsPath: join(dir, 'labels.txt'),
        topK: 1,
      },
    });
    try {
      const res = await custom.run([
        { id: 'u', type: 'image/png', bytes: pngs[1] },
        { id: 'r', type: 'image/png', bytes: await sharp(pngs[1]).rotate(180).png().toBuffer() },
      ]);
      expect(res.model).toBe('direction');
      expect(res.results.map((r) => r.labels)).toEqual([[{ label: 'upright', score: expect.any(Number) }], [{ label: 'upside-down', score: expect.any(Number) }]]);
    } finally {
      await custom.close();
    }
  });

  it('per-item limits from the options fail big items alone', async () => {
    const small = await createBatchInference({ intraOpThreads: 1, limits: { maxItemBytes: Math.max(...pngs.slice(0, 2).map((p) => p.length)) } });
    const big = await sharp(pngs[2]).resize({ height: 400 }).png({ compressionLevel: 0 }).toBuffer();
    try {
      const res = await small.run([
        { id: 'ok', type: 'image/png', bytes: pngs[0] },
        { id: 'big', type: 'image/png', bytes: big },
      ]);
      expect(res.results[0].text).toBe(lines[0]);
      expect(res.results[1].error?.code).toBe('too_large');
    } finally {
      await small.close();
    }
  });

  it('a batch run in chunks reads the same text in request order, bad items failing alone', async () => {
    const chunked = await createBatchInference({ model: 'ocr-rec', intraOpThreads: 1, chunkSize: 2 });
    try {
      expect(chunked.chunkSize).toBe(2);
      const items = pngs.map((b, i) => ({ id: `l${i}`, type: 'image/png' as const, bytes: b }));
      // A bad item in the middle shifts which images share a chunk.
      items.splice(3, 0, { id: 'bad', type: 'image/png', bytes: Buffer.from('not an image') });
      const [whole, inChunks] = await Promise.all([rec.run(items), chunked.run(items)]);
      expect(inChunks.results.map((r) => r.id)).toEqual(items.map((i) => i.id));
      expect(inChunks.results.map((r) => r.text)).toEqual(whole.results.map((r) => r.text));
      expect(inChunks.results.filter((r) => r.text !== undefined).map((r) => r.text)).toEqual(lines);
      expect(inChunks.results[3].error?.code).toBe('unrecognised_format');
      // Padding differs per chunk (each pads to its own widest line), so scores move a little.
      inChunks.results.forEach((r, i) => r.confidence !== undefined && expect(Math.abs(r.confidence - whole.results[i].confidence!)).toBeLessThan(0.05));
      expect(inChunks.inferMs).toBeGreaterThan(0);
    } finally {
      await chunked.close();
    }
  });

  it("chunkSize 'measure' picks the largest size it tried within 5 % of the best time per image, stopping once per-image time rises past the tie", async () => {
    const measured = await createBatchInference({ model: 'ocr-cls', intraOpThreads: 1, chunkSize: 'measure' });
    try {
      const cal = measured.calibration!;
      const sizes = Object.keys(cal.msPerImage).map(Number);
      // Ascending from 2; it stops early only at a size beyond the tie that is slower than the one before.
      expect(sizes).toEqual([2, 4, 8, 16].slice(0, sizes.length));
      expect(sizes.length).toBeGreaterThanOrEqual(2);
      for (const b of sizes) expect(cal.msPerImage[b]).toBeGreaterThan(0);
      const best = Math.min(...sizes.map((b) => cal.msPerImage[b]));
      if (sizes.length < 4) {
        const [prev, last] = sizes.slice(-2);
        expect(cal.msPerImage[last]).toBeGreaterThan(best * 1.05);
        expect(cal.msPerImage[last]).toBeGreaterThan(cal.msPerImage[prev]);
      }
      const picked = Number.isFinite(measured.chunkSize) ? measured.chunkSize : 16;
      expect(sizes).toContain(picked);
      expect(cal.msPerImage[picked]).toBeLessThanOrEqual(best * 1.05);
      for (const b of sizes.filter((x) => x > picked)) expect(cal.msPerImage[b]).toBeGreaterThan(best * 1.05);
      // It still answers.
      const res = await measured.run([{ id: 'u', type: 'image/png', bytes: pngs[0] }]);
      expect(res.results[0].labels?.[0].label).toBe('0');
    } finally {
      await measured.close();
    }
  });

  it('rejects a chunk size that is not a positive integer', async () => {
    await expect(createBatchInference({ model: 'ocr-cls', intraOpThreads: 1, chunkSize: 0 })).rejects.toThrow(/chunkSize/);
    await expect(createBatchInference({ model: 'ocr-cls', intraOpThreads: 1, chunkSize: 2.5 })).rejects.toThrow(/chunkSize/);
  });

  it('close() makes later runs reject', async () => {
    const tmp = await createBatchInference({ model: 'ocr-cls', intraOpThreads: 1 });
    await tmp.close();
    await expect(tmp.run([{ id: 'a', type: 'image/png', bytes: pngs[0] }])).rejects.toThrow(/closed/);
  });
});
