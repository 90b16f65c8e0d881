/**
 * The one batch-inference function: decode a batch's images (each guarded, failing alone),
 * run the model once over the good ones, and answer in request order. The FC handler, the
 * local FC (through the handler) and the edge's worker threads all call this.
 */
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { createAdapter, DEFAULT_DECODE_LIMITS, DEFAULT_MODEL, decodeImage, getModelConfig, ItemError, resolveModelPaths, type DecodeLimits, type ItemOutput, type ModelConfigInput, type RgbImage, type SizeRule } from './models/index.ts';
import { parseModelConfig } from './models/config.ts';
import { readModelWithBestClassHead } from './models/onnx-head.ts';
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
  /**
   * Most images one ONNX Runtime run takes; a bigger batch runs as consecutive chunks. On a CPU
   * the time per image grows again past a cache-bound batch size (PP-OCRv4, 1 thread, 2-core
   * dev box: 17.5 ms/image at 4, 22.3 at 15), so a big batch is faster in chunks. `'measure'`
   * times synthetic batches after loading ({@link measureChunkSize}).
   * @default Infinity (one run per batch)
   */
  readonly chunkSize?: number | 'measure';
}

/** What {@link measureChunkSize} saw: ms per image at each batch size tried. */
export interface ChunkCalibration {
  readonly msPerImage: Readonly<Record<number, number>>;
  readonly ms: number;
}

/** A loaded model, ready to run batches. */
export interface BatchInference {
  /** Model name answered in every response. */
  readonly model: string;
  /** Threads ONNX Runtime uses for one batch. */
  readonly intraOpThreads: number;
  /** Most images per ONNX Runtime run (Infinity: the whole batch). */
  readonly chunkSize: number;
  /** The timings behind a measured `chunkSize`. */
  readonly calibration?: ChunkCalibration;
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
  if (opts.chunkSize !== undefined) checkChunkSize(opts.chunkSize);
  const adapter = await createAdapter(config);
  let headed = adapter.output === 'best-class' ? readModelWithBestClassHead(config.modelPath) : undefined;
  const head = headed?.outputs;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    // One batch at a time per session: inter-op parallelism would only fight intra-op threads.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // A memory pattern is planned and cached per input shape, and every batch size × width is a
    // new shape: off, intermediate tensors are allocated one by one from the arena and reused.
    // Edge agent's RSS after a saturating load (bench:rss, busy 2-core box): −13 to −25 MB at
    // chunks of 4, −40 to −80 MB running whole batches of 16; CPU time per image unchanged. The
    // CPU arena stays on: without it the freed tensors stay with glibc anyway, fragmented (+50 MB
    // at chunks of 2, +200 MB at 16).
    enableMemPattern: false,
  };
  const session = await (headed ? ort.InferenceSession.create(headed.bytes, sessionOptions) : ort.InferenceSession.create(config.modelPath, sessionOptions));
  headed = undefined; // the session holds its own copy: let the model's bytes go
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  if (adapter.output === 'best-class') {
    const classes = session.outputMetadata[0]?.isTensor ? session.outputMetadata[0].shape.at(-1) : undefined;
    if (typeof classes === 'number' && classes !== adapter.classes) {
      await session.release();
      throw new Error(`${config.name}: the model has ${classes} classes but the adapter expects ${adapter.classes} (check the dictionary)`);
    }
  }

  /** One ONNX Runtime run over decoded images (at most one chunk). */
  async function infer(images: readonly RgbImage[]): Promise<ItemOutput[]> {
    const input = adapter.toInput(images);
    const feeds = { [inputName]: new ort.Tensor('float32', input.data, input.dims) };
    if (adapter.output === 'full') {
      const tensor = (await session.run(feeds))[outputName];
      return adapter.fromOutput(tensor.data as Float32Array, tensor.dims, images.length);
    }
    // Only the head's outputs are fetched: the whole class axis never leaves the session.
    const out = await session.run(feeds, [head!.index, head!.score]);
    const index = out[head!.index];
    return adapter.fromBestClass(index.data as BigInt64Array, out[head!.score].data as Float32Array, index.dims, images.length);
  }

  let chunkSize = Infinity;
  let calibration: ChunkCalibration | undefined;
  if (opts.chunkSize === 'measure') {
    const probe = syntheticImage(adapter.sizeRule);
    try {
      ({ chunkSize, calibration } = await measureChunkSize(infer, probe));
    } catch (err) {
      await session.release();
      throw err;
    }
    // A fresh session after calibration (its arena keeps what the largest calibration run
    // needed) measured −5 to −23 MB at start-up (bench:rss), within the noise after load, for one
    // more session load (0.15–0.45 s of a start-up that must stay ≤ 3 s): not done.
  } else if (opts.chunkSize !== undefined) {
    chunkSize = opts.chunkSize;
  }
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
    for (let start = 0; start < good.length; start += chunkSize) {
      const chunk = good.slice(start, start + chunkSize);
      const t1 = performance.now();
      const outputs = await infer(chunk.map((g) => g.image));
      inferMs += performance.now() - t1;
      chunk.forEach((g, j) => (results[g.index] = { id: items[g.index].id, ...outputs[j] }));
    }
    return { model: config.name, batchSize: items.length, coldStart: false, decodeMs, inferMs, results };
  }

  return {
    model: config.name,
    intraOpThreads: threads,
    chunkSize,
    calibration,
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

/** @throws RangeError unless `c` is an integer ≥ 1, Infinity or `'measure'`. */
function checkChunkSize(c: number | 'measure'): void {
  if (c !== 'measure' && c !== Infinity && !(Number.isInteger(c) && c >= 1)) {
    throw new RangeError(`Expected \`chunkSize\` to be an integer ≥ 1, Infinity or 'measure', got \`${String(c)}\``);
  }
}

/** Batch sizes {@link measureChunkSize} tries (1 is never worth a chunk of its own). */
const CALIBRATION_SIZES = [2, 4, 8, 16] as const;
/** A larger chunk wins a near-tie: fewer runs, and real images are often narrower than the probe. */
const CHUNK_TIE = 1.05;

/**
 * Time synthetic batches of each size in {@link CALIBRATION_SIZES} (≥ 8 images per size, after
 * one warm-up run) and pick the largest size within 5 % of the best time per image. When the
 * largest size tried is that one, nothing says bigger batches get slower: no chunking.
 * Sizes are tried in ascending order and the search stops at the first size beyond the tie
 * whose time per image is also above the previous size's: per-image time is taken to fall, then
 * rise, with the batch (on one core PP-OCRv4 at the widest input reads 31, 37, 45, 57 ms per
 * image at 2, 4, 8, 16), so the costliest sizes are not run only to lose — the batch of 16 alone
 * took ≈ 0.9 s of a 1.8 s calibration that start-up waited for.
 */
export async function measureChunkSize(
  infer: (images: readonly RgbImage[]) => Promise<unknown>,
  image: RgbImage,
): Promise<{ chunkSize: number; calibration: ChunkCalibration }> {
  const started = performance.now();
  await infer([image, image]);
  const msPerImage: Record<number, number> = {};
  const tried: number[] = [];
  let best = Infinity;
  for (const b of CALIBRATION_SIZES) {
    const batch = Array.from({ length: b }, () => image);
    const runs = Math.max(1, Math.ceil(8 / b));
    const t0 = performance.now();
    for (let r = 0; r < runs; r++) await infer(batch);
    const ms = (performance.now() - t0) / (runs * b);
    const prev = tried.length > 0 ? msPerImage[tried[tried.length - 1]] : Infinity;
    msPerImage[b] = ms;
    tried.push(b);
    best = Math.min(best, ms);
    if (ms > best * CHUNK_TIE && ms > prev) break;
  }
  let pick = tried[0];
  for (const b of tried) if (msPerImage[b] <= best * CHUNK_TIE) pick = b;
  const chunkSize = pick === CALIBRATION_SIZES[CALIBRATION_SIZES.length - 1] ? Infinity : pick;
  return { chunkSize, calibration: { msPerImage, ms: performance.now() - started } };
}

/** A mid-grey image of the widest size the model takes (the costliest input, for calibration). */
function syntheticImage(rule: SizeRule): RgbImage {
  const width = rule.mode === 'fit-height' ? rule.maxWidth : rule.width;
  return { width, height: rule.height, data: Buffer.alloc(width * rule.height * 3, 128) };
}

function itemError(reason: unknown): { code: string; message: string } {
  if (reason instanceof ItemError) return { code: reason.code, message: reason.message };
  return { code: 'undecodable_image', message: reason instanceof Error ? reason.message : String(reason) };
}
