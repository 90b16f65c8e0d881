/**
 * One edge inference worker (a worker thread): loads the model once through the shared
 * batch-inference function, then runs one batch at a time for the pool in local-onnx.ts.
 * Inference never runs on the agent's event loop.
 *
 * The message types below are the pool ↔ worker protocol; the pool imports them type-only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBatchInference, type ChunkCalibration } from '../../shared/batch-inference.ts';
import type { BatchResponse, ImageMime } from '../../shared/wire/index.ts';

/** `workerData` of a new worker. */
export interface WorkerInit {
  readonly model: string;
  readonly intraOpThreads: number;
  /** Most images per ONNX Runtime run, or measure at load. */
  readonly chunkSize: number | 'measure';
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
  | { readonly type: 'ready'; readonly loadMs: number; readonly chunkSize: number; readonly calibration?: ChunkCalibration }
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
  const inference = await createBatchInference({ model: init.model, intraOpThreads: init.intraOpThreads, chunkSize: init.chunkSize });
  send({ type: 'ready', loadMs: performance.now() - started, chunkSize: inference.chunkSize, calibration: inference.calibration });
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
