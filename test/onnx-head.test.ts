/** The best-class head appended to ONNX models (shared/models/onnx-head.ts), on real ONNX Runtime. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Writer } from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { createBatchInference } from '../shared/batch-inference.ts';
import { ctcCollapse, ctcGreedyDecode, decodeImage, getModelConfig, modelDir } from '../shared/models/index.ts';
import { bestClassOutputs, readModelFacts, readModelWithBestClassHead } from '../shared/models/onnx-head.ts';
import { Rng } from '../shared/rng.ts';
import { randomLine, renderTextLine } from '../shared/text-line-images.ts';

/** Both the full output and the head's, from one session on the headed model. */
async function runBoth(modelPath: string, input: ort.Tensor) {
  const { bytes, outputs } = readModelWithBestClassHead(modelPath);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const of = session.outputNames[0];
    const out = await session.run({ [session.inputNames[0]]: input }, [of, outputs.index, outputs.score]);
    return { full: out[of], index: out[outputs.index], score: out[outputs.score] };
  } finally {
    await session.release();
  }
}

/** Per row of the last axis: the first index of the maximum, and the maximum. */
function argmaxRows(data: Float32Array, classes: number): { index: number[]; score: number[] } {
  const index: number[] = [];
  const score: number[] = [];
  for (let row = 0; row < data.length; row += classes) {
    let b = 0;
    for (let c = 1; c < classes; c++) if (data[row + c] > data[row + b]) b = c;
    index.push(b);
    score.push(data[row + b]);
  }
  return { index, score };
}

/**
 * A one-node model, Softmax over the last axis of a [N, C] input, importing `opset`; built with
 * the same protobuf writer (onnx.proto field numbers), so the head is also tried where ReduceMax
 * takes its axes as an input (opset ≥ 18).
 */
function softmaxModel(opset: number, classes: number): Uint8Array {
  const w = Writer.create();
  const msg = (field: number, body: (w: Writer) => void) => {
    w.uint32((field << 3) | 2).fork();
    body(w);
    w.ldelim();
  };
  const str = (field: number, s: string) => w.uint32((field << 3) | 2).string(s);
  const valueInfo = (field: number, name: string, dims: (number | string)[]) =>
    msg(field, () => {
      str(1, name);
      msg(2, () => msg(1, () => {
        w.uint32(8).int32(1); // elem_type FLOAT
        msg(2, () => dims.forEach((d) => msg(1, () => (typeof d === 'number' ? w.uint32(8).int64(d) : str(2, d)))));
      }));
    });
  w.uint32(8).int64(8); // ir_version
  msg(8, () => w.uint32(16).int64(opset)); // opset_import { version }
  msg(7, () => {
    msg(1, () => {
      str(1, 'x');
      str(2, 'y');
      str(4, 'Softmax');
      if (opset < 13) msg(5, () => (str(1, 'axis'), w.uint32(24).int64(1), w.uint32(160).int32(2)));
    });
    str(2, 'softmax');
    valueInfo(11, 'x', ['N', classes]);
    valueInfo(12, 'y', ['N', classes]);
  });
  return w.finish();
}

describe('the best-class head', () => {
  it('reads the opset and the outputs (name, rank) of the shipped models', () => {
    expect(readModelFacts(readFileSync(getModelConfig('ocr-rec').modelPath))).toEqual({ opset: 9, outputs: [{ name: 'softmax_11.tmp_0', rank: 3 }] });
    expect(readModelFacts(readFileSync(getModelConfig('ocr-cls').modelPath))).toEqual({ opset: 9, outputs: [{ name: 'softmax_0.tmp_0', rank: 2 }] });
  });

  it('gives exactly the first maximum and its value along the last axis of the text model, on real text lines', async () => {
    const lines = Array.from({ length: 3 }, (_, i) => randomLine(new Rng(5 + i)));
    const images = await Promise.all(lines.map(async (l) => decodeImage(await renderTextLine(l), 'image/png', { mode: 'fit-height', height: 48, maxWidth: 320 })));
    const width = Math.max(...images.map((i) => i.width));
    const data = new Float32Array(images.length * 3 * 48 * width);
    images.forEach((img, n) => {
      for (let c = 0; c < 3; c++) for (let y = 0; y < 48; y++) for (let x = 0; x < img.width; x++) data[((n * 3 + c) * 48 + y) * width + x] = img.data[(y * img.width + x) * 3 + c] / 127.5 - 1;
    });
    const { full, index, score } = await runBoth(getModelConfig('ocr-rec').modelPath, new ort.Tensor('float32', data, [images.length, 3, 48, width]));
    const classes = full.dims[2];
    expect(index.type).toBe('int64');
    expect(index.dims).toEqual(full.dims.slice(0, 2));
    const want = argmaxRows(full.data as Float32Array, classes);
    expect(Array.from(index.data as BigInt64Array, Number)).toEqual(want.index);
    expect(Array.from(score.data as Float32Array)).toEqual(want.score);
    // …so the CTC text from the head is the text from the whole output, line by line.
    const charset = [...readFileSync(join(modelDir(), 'ppocr_keys_v1.txt'), 'utf8').split(/\r?\n/).filter((l, i, a) => i < a.length - 1 || l !== ''), ' '];
    const steps = full.dims[1];
    for (let n = 0; n < images.length; n++) {
      const fromFull = ctcGreedyDecode((full.data as Float32Array).subarray(n * steps * classes, (n + 1) * steps * classes), steps, classes, charset);
      const fromHead = ctcCollapse((index.data as BigInt64Array).subarray(n * steps, (n + 1) * steps), (score.data as Float32Array).subarray(n * steps, (n + 1) * steps), charset);
      expect(fromHead).toEqual(fromFull);
      expect(fromHead.text).toBe(lines[n]);
    }
  });

  it.each([9, 13, 18])('works on a model importing opset %i (axis by number before 11; ReduceMax axes as an input from 18)', async (opset) => {
    const dir = mkdtempSync(join(tmpdir(), 'seb-head-'));
    const path = join(dir, 'softmax.onnx');
    writeFileSync(path, softmaxModel(opset, 5));
    // Ties: the first of equal maxima wins, as the JS scan's strict `>`.
    const x = Float32Array.from([0, 3, 1, 3, 2, /* */ 4, 0, 0, 0, 0, /* */ -1, -1, -1, -1, -1]);
    const { full, index, score } = await runBoth(path, new ort.Tensor('float32', x, [3, 5]));
    const want = argmaxRows(full.data as Float32Array, 5);
    expect(Array.from(index.data as BigInt64Array, Number)).toEqual([1, 0, 0]);
    expect(Array.from(index.data as BigInt64Array, Number)).toEqual(want.index);
    expect(Array.from(score.data as Float32Array)).toEqual(want.score);
    expect(bestClassOutputs('y')).toEqual({ index: 'y/best_class_index', score: 'y/best_class_score' });
  });

  it('refuses a text model whose dictionary does not match its classes, naming both counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seb-dict-'));
    writeFileSync(join(dir, 'short.txt'), 'a\nb\nc\n');
    const { modelPath } = getModelConfig('ocr-rec');
    await expect(
      createBatchInference({ intraOpThreads: 1, config: { kind: 'ctc-text', name: 'short-dict', modelPath, dictPath: join(dir, 'short.txt'), height: 48, maxWidth: 320 } }),
    ).rejects.toThrow(/6625 classes but the adapter expects 5/);
  });
});
