/**
 * The one batch-inference function: decode a batch's images (each guarded, failing alone),
 * run the model once over the good ones, and answer in request order. The FC handler, the
 * local FC (through the handler) and the edge's worker threads all call this.
 */
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { createAdapter, DEFAULT_DECODE_LIMITS, DEFAULT_MODEL, decodeImage, getModelConfig, ItemError, resolveModelPaths, type DecodeLimits, type ModelConfigInput, type RgbImage } from './models/index.ts';
import { parseModelConfig } from './models/config.ts';
import type { BatchResponse, ItemResult, WireItem } from './wire/index.ts';

export interface BatchInferenceOptions {
  /** Built-in model name (see shared/models/registry.ts). @default 'ocr-rec' */
  readonly model?: string;
  /**
   * A model given by configuration instead of by name (e.g. a ResNet-50 classifier); relative
   * paths resolve against the model directory. Wins over `model`.
   */
  readonly config?: ModelConfigInput;
  /** ONNX Runtime intra-op threads. @default os.availableParallelism() */
  readonly intraOpThreads?: number;
  /** Per-item byte and pixel limits. @default 8 MiB, 40 Mpx */
  readonly limits?: Partial<DecodeLimits>;
}

/** A loaded model, ready to run batches. */
export interface BatchInference {
  /** Model name answered in every response. */
  readonly model: string;
  /** Threads ONNX Runtime uses for one batch. */
  readonly intraOpThreads: number;
  /** Run one batch; `coldStart` is always false here (callers that know better set it). */
  run(items: readonly WireItem[]): Promise<BatchResponse>;
  /** Release the ONNX session. */
  close(): Promise<void>;
}

/**
 * Load a model's ONNX session once and return a runner for batches.
 * @example
 * const inf = await createBatchInference({ model: 'ocr-rec', intraOpThreads: 2 });
 * const res = await inf.run([{ id: 'a', type: 'image/png', bytes: png }]);
 * res.results[0].text; // 'AB-12cd'
 */
export async function createBatchInference(opts: BatchInferenceOptions = {}): Promise<BatchInference> {
  const config = opts.config ? resolveModelPaths(parseModelConfig(opts.config)) : getModelConfig(opts.model ?? DEFAULT_MODEL);
  const threads = Math.max(1, Math.round(opts.intraOpThreads ?? availableParallelism()));
  if (!Number.isFinite(threads)) throw new RangeError(`Expected \`intraOpThreads\` to be a finite number ≥ 1, got \`${opts.intraOpThreads}\``);
  const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...opts.limits };
  const adapter = await createAdapter(config);
  const session = await ort.InferenceSession.create(config.modelPath, {
    intraOpNumThreads: threads,
    // One batch at a time per session: inter-op parallelism would only fight intra-op threads.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  let closed = false;
  // ONNX Runtime sessions are not re-entrant for our purpose; queue runs one after another.
  let tail: Promise<unknown> = Promise.resolve();

  async function runOnce(items: readonly WireItem[]): Promise<BatchResponse> {
    if (closed) throw new Error(`batch inference for ${config.name} is closed`);
    const t0 = performance.now();
    const decoded = await Promise.allSettled(items.map((it) => decodeImage(it.bytes, it.type, adapter.sizeRule, limits)));
    const decodeMs = performance.now() - t0;
    const results: ItemResult[] = items.map((it) => ({ id: it.id }));
    const good: { index: number; image: RgbImage }[] = [];
    decoded.forEach((d, i) => {
      if (d.status === 'fulfilled') good.push({ index: i, image: d.value });
      else results[i] = { id: items[i].id, error: itemError(d.reason) };
    });
    let inferMs = 0;
    if (good.length > 0) {
      const input = adapter.toInput(good.map((g) => g.image));
      const t1 = performance.now();
      const out = await session.run({ [inputName]: new ort.Tensor('float32', input.data, input.dims) });
      inferMs = performance.now() - t1;
      const tensor = out[outputName];
      const outputs = adapter.fromOutput(tensor.data as Float32Array, tensor.dims, good.length);
      good.forEach((g, j) => (results[g.index] = { id: items[g.index].id, ...outputs[j] }));
      tensor.dispose?.();
    }
    return { model: config.name, batchSize: items.length, coldStart: false, decodeMs, inferMs, results };
  }

  return {
    model: config.name,
    intraOpThreads: threads,
    run(items) {
      const p = tail.then(() => runOnce(items));
      tail = p.catch(() => undefined);
      return p;
    },
    async close() {
      if (closed) return;
      closed = true;
      await tail;
      await session.release();
    },
  };
}

function itemError(reason: unknown): { code: string; message: string } {
  if (reason instanceof ItemError) return { code: reason.code, message: reason.message };
  return { code: 'undecodable_image', message: reason instanceof Error ? reason.message : String(reason) };
}
