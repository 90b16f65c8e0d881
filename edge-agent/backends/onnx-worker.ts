/**
 * One edge inference worker (a worker thread): loads the model once through the shared
 * batch-inference function, then runs one batch at a time for the pool in local-onnx.ts.
 * Inference never runs on the agent's event loop.
 *
 * The message types below are the pool ↔ worker protocol; the pool imports them type-only.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchInference, type ChunkCalibration } from '../../shared/batch-inference.ts';
import { getModelConfig } from '../../shared/models/index.ts';
import { calibrationFile, readCalibration, writeCalibration } from './chunk-cache.ts';
import type { BatchResponse, ImageMime } from '../../shared/wire/index.ts';

/** `workerData` of a new worker. */
export interface WorkerInit {
  readonly model: string;
  readonly intraOpThreads: number;
  /** Most images per ONNX Runtime run, or measure at load. */
  readonly chunkSize: number | 'measure';
  /** With `measure`: where measured chunks are kept between starts (chunk-cache.ts), and how many workers calibrate at once. */
  readonly calibrationCache?: { readonly dir: string; readonly workers: number };
}

export type ToWorker =
  | {
      readonly type: 'run';
      readonly id: number;
      readonly items: readonly { readonly id: string; readonly type: ImageMime; readonly bytes: Uint8Array }[];
    }
  /** Finish the run in progress, release the session, exit. */
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready'; readonly loadMs: number; readonly chunkSize: number; readonly calibration?: ChunkCalibration; readonly calibratedAt?: string; readonly calibrationCached?: boolean }
  | { readonly type: 'init-error'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly response: BatchResponse }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

const port = parentPort;
if (!port) throw new Error('onnx-worker.ts must run in a worker thread');
const init = workerData as WorkerInit;

function send(msg: FromWorker): void {
  port!.postMessage(msg);
}

try {
  const started = performance.now();
  const cacheFile =
    init.chunkSize === 'measure' && init.calibrationCache
      ? calibrationFile(init.calibrationCache.dir, {
          modelPath: getModelConfig(init.model).modelPath,
          runtimeVersion: (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version,
          intraOpThreads: init.intraOpThreads,
          workers: init.calibrationCache.workers,
        })
      : undefined;
  const cached = cacheFile ? readCalibration(cacheFile) : undefined;
  const chunkSize = cached ? (cached.chunkSize === 'whole' ? Infinity : cached.chunkSize) : init.chunkSize;
  const inference = await createBatchInference({ model: init.model, intraOpThreads: init.intraOpThreads, chunkSize });
  const measuredAt = new Date().toISOString();
  if (cacheFile && !cached && inference.calibration) {
    writeCalibration(cacheFile, { chunkSize: Number.isFinite(inference.chunkSize) ? inference.chunkSize : 'whole', calibration: inference.calibration, measuredAt });
  }
  send({
    type: 'ready',
    loadMs: performance.now() - started,
    chunkSize: inference.chunkSize,
    ...(cached ? { calibration: cached.calibration, calibratedAt: cached.measuredAt, calibrationCached: true } : inference.calibration ? { calibration: inference.calibration, calibratedAt: measuredAt, calibrationCached: false } : {}),
  });
  // Terminating a worker while ONNX Runtime is inside run() aborts the whole process
  // ("terminate called after throwing Napi::Error"), so closing waits for the run in progress.
  let running: Promise<unknown> = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'close') {
      void running
        .then(() => inference.close())
        .finally(() => port.close());
      return;
    }
    if (msg.type !== 'run') return;
    running = (async () => {
      try {
        const response = await inference.run(msg.items.map((it) => ({ id: it.id, type: it.type, bytes: it.bytes })));
        send({ type: 'result', id: msg.id, response });
      } catch (err) {
        send({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
} catch (err) {
  send({ type: 'init-error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
