/**
 * Local ONNX backend: a pool of worker threads (onnx-worker.ts), each holding one ONNX Runtime
 * session, serving the `edge` target. One batch per worker at a time, so the pool size is the
 * number of batches the device runs at once (the scheduler's `edgeWorkers`). Each worker runs a
 * batch bigger than its chunk size as consecutive ONNX runs; by default it measures that size
 * when it loads (createBatchInference's `chunkSize: 'measure'`).
 *
 * A batch a worker has started runs to its end (`runsToEnd`: ONNX Runtime cannot cut a run); a
 * call's `timeoutMs` only bounds one that never ends (a hung worker).
 *
 * Workers run onnx-worker.ts bundled to JavaScript once per process (shared/worker-bundle.ts),
 * not through tsx: no per-worker compile at start-up.
 */
import { Worker } from 'node:worker_threads';
import { bundledModuleUrl } from '../../shared/worker-bundle.ts';
import { BackendError, type BatchItem, type BatchOutcome, type InferenceBackend, type RunOptions, type TargetId } from './backend.ts';
import type { EdgeLayout } from './edge-layout.ts';
import type { FromWorker, ToWorker, WorkerInit } from './onnx-worker.ts';
// Type-only: the event loop's thread never loads ONNX Runtime (the worker checks `chunkSize`).
import type { ChunkCalibration } from '../../shared/batch-inference.ts';

export interface LocalOnnxOptions {
  /**
   * Worker threads, i.e. batches run at once. Minimum 1.
   * @default 1
   */
  readonly workers?: number;
  /**
   * ONNX Runtime intra-op threads per worker. Minimum 1.
   * @default 1
   */
  readonly intraOpThreads?: number;
  /**
   * Most images per ONNX Runtime run (a bigger batch runs in chunks), or `'measure'` at load:
   * see createBatchInference's `chunkSize`.
   * @default 'measure'
   */
  readonly chunkSize?: number | 'measure';
  /**
   * With `chunkSize: 'measure'`: a directory where measured chunks are kept and read back on
   * later starts with the same model, runtime, CPU and layout (chunk-cache.ts). Unset: measure
   * every time.
   */
  readonly calibrationCacheDir?: string;
  /**
   * Model name passed to createBatchInference.
   * @default 'ocr-rec'
   */
  readonly model?: string;
  /**
   * Target id the pool answers for.
   * @default 'edge'
   */
  readonly target?: TargetId;
}

/** The local backend plus what the agent reports about it. */
export interface LocalOnnxBackend extends InferenceBackend {
  /** Model load (and chunk calibration) time of each worker, ms. */
  readonly loadMs: readonly number[];
  /** Most images per ONNX Runtime run, per worker (Infinity: whole batches). */
  readonly chunkSizes: readonly number[];
  /** Time per image at each calibration size, per worker (when measured). */
  readonly calibrations: readonly (ChunkCalibration | undefined)[];
  /** The first worker's calibration: when it was measured, and whether it was read from the cache. */
  readonly calibrationOrigin?: { readonly measuredAt: string; readonly cached: boolean };
  readonly model: string;
}

const WORKER_MODULE = new URL('./onnx-worker.ts', import.meta.url).href;

/** A chunk size as people read it: `≤ 4 per ONNX run`, or `whole batches per ONNX run`. */
export function describeChunkSize(chunkSize: number): string {
  return `${Number.isFinite(chunkSize) ? `≤ ${chunkSize}` : 'whole batches'} per ONNX run`;
}

/** How the local edge runs, as chosen at start-up: shown on the start-up line and in `GET /v1/plan`. */
export interface EdgeSetup {
  readonly model: string;
  readonly workers: number;
  readonly intraOpThreads: number;
  /** Most images per ONNX run, or `whole` batches. */
  readonly chunkSize: number | 'whole';
  /** Calibration's ms per image at each size tried (the model's widest input), first worker. */
  readonly calibrationMsPerImage?: Readonly<Record<number, number>>;
  /** Items per second all workers run at the chosen chunk, by that calibration (a floor for narrower inputs). */
  readonly measuredItemsPerS?: number;
  /** How workers × threads were chosen (edge-layout.ts). */
  readonly layout: string;
  /** When the calibration was measured, and whether this start read it from the cache. */
  readonly calibratedAt?: string;
  readonly calibrationCached?: boolean;
}

/** The setup of a started pool. */
export function edgeSetupOf(b: LocalOnnxBackend, layout: EdgeLayout): EdgeSetup {
  const { workers, intraOpThreads } = layout;
  const chunk = b.chunkSizes[0];
  const ms = b.calibrations[0]?.msPerImage;
  const tried = ms ? Object.keys(ms).map(Number) : [];
  // Whole batches: calibration found no size slower than the largest it tried, so that one.
  const at = Number.isFinite(chunk) ? chunk : Math.max(...tried);
  const perImage = ms?.[at];
  return {
    model: b.model,
    workers,
    intraOpThreads,
    chunkSize: Number.isFinite(chunk) ? chunk : 'whole',
    ...(ms ? { calibrationMsPerImage: ms } : {}),
    ...(perImage ? { measuredItemsPerS: Math.round((workers * 1000) / perImage) } : {}),
    layout: layout.reason,
    ...(b.calibrationOrigin ? { calibratedAt: b.calibrationOrigin.measuredAt, calibrationCached: b.calibrationOrigin.cached } : {}),
  };
}

/** Longest wait for a worker to finish its batch on close before it is terminated. */
const CLOSE_GRACE_MS = 10_000;

interface Job {
  readonly id: number;
  readonly items: readonly BatchItem[];
  readonly target: TargetId;
  readonly startedMs: number;
  readonly resolve: (o: BatchOutcome) => void;
  readonly reject: (e: BackendError) => void;
  timer?: NodeJS.Timeout;
  done: boolean;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  /** Crashed and not (yet) replaced: takes no jobs. */
  dead: boolean;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`Expected \`${name}\` to be an integer ≥ 1, got \`${String(v)}\``);
  return x;
}

interface Started {
  readonly worker: Worker;
  readonly loadMs: number;
  readonly chunkSize: number;
  readonly calibration?: ChunkCalibration;
  readonly calibratedAt?: string;
  readonly calibrationCached?: boolean;
}

function startWorker(workerUrl: string, init: WorkerInit): Promise<Started> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(workerUrl), { workerData: init });
    // Remove only our own listeners: Worker keeps internal ones (they ref its message port).
    const off = () => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      worker.off('message', onMessage);
    };
    const fail = (err: Error) => {
      off();
      void worker.terminate();
      reject(err);
    };
    const onError = (err: Error) => fail(err);
    const onExit = (code: number) => fail(new Error(`ONNX worker exited with code ${code} while loading model ${init.model}`));
    const onMessage = (msg: FromWorker) => {
      if (msg.type === 'ready') {
        off();
        const { loadMs, chunkSize, calibration, calibratedAt, calibrationCached } = msg;
        resolve({ worker, loadMs, chunkSize, calibration, calibratedAt, calibrationCached });
      } else fail(new Error(`ONNX worker could not load model ${init.model}: ${msg.type === 'init-error' ? msg.message : msg.type}`));
    };
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.on('message', onMessage);
  });
}

/**
 * Start the pool; resolves once every worker has loaded the model.
 * @example
 * const edge = await createLocalOnnxBackend({ workers: 2, intraOpThreads: 1 });
 * const out = await edge.run('edge', [{ id: 'a', type: 'image/png', bytes }], { timeoutMs: 500 });
 */
export async function createLocalOnnxBackend(options: LocalOnnxOptions = {}): Promise<LocalOnnxBackend> {
  const workers = positiveInt('workers', options.workers, 1);
  const intraOpThreads = positiveInt('intraOpThreads', options.intraOpThreads, 1);
  const model = options.model ?? 'ocr-rec';
  const target = options.target ?? 'edge';
  const chunkSize = options.chunkSize ?? 'measure';
  const init: WorkerInit = { model, intraOpThreads, chunkSize, ...(options.calibrationCacheDir ? { calibrationCache: { dir: options.calibrationCacheDir, workers } } : {}) };

  const workerUrl = await bundledModuleUrl(WORKER_MODULE);
  const started = await Promise.allSettled(Array.from({ length: workers }, () => startWorker(workerUrl, init)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of started) if (r.status === 'fulfilled') void r.value.worker.terminate();
    throw (failed as PromiseRejectedResult).reason;
  }
  const ok = started as PromiseFulfilledResult<Started>[];
  const slots: Slot[] = [];
  const waiting: Job[] = [];
  let nextId = 1;
  let closed = false;

  const finish = (job: Job, outcome: { ok: BatchOutcome } | { err: BackendError }) => {
    if (job.done) return;
    job.done = true;
    if (job.timer) clearTimeout(job.timer);
    if ('ok' in outcome) job.resolve(outcome.ok);
    else job.reject(outcome.err);
  };

  const pump = () => {
    for (const slot of slots) {
      if (slot.job || slot.dead || waiting.length === 0) continue;
      const job = waiting.shift()!;
      if (job.done) continue; // timed out while waiting
      slot.job = job;
      const msg: ToWorker = { type: 'run', id: job.id, items: job.items.map((it) => ({ id: it.id, type: it.type, bytes: it.bytes })) };
      slot.worker.postMessage(msg);
    }
  };

  const attach = (slot: Slot) => {
    slot.worker.on('message', (msg: FromWorker) => {
      const job = slot.job;
      if (!job || (msg.type !== 'result' && msg.type !== 'error') || msg.id !== job.id) return;
      slot.job = null; // the worker is free again even if the caller already gave up
      if (msg.type === 'error') {
        finish(job, { err: new BackendError('function_error', `edge inference failed: ${msg.message}`, target) });
      } else {
        const r = msg.response;
        if (r.results.length !== job.items.length) {
          finish(job, { err: new BackendError('bad_response', `edge worker answered ${r.results.length} results for ${job.items.length} items`, target) });
        } else {
          finish(job, {
            ok: {
              results: r.results,
              target,
              batchSize: job.items.length,
              wallMs: performance.now() - job.startedMs,
              inferMs: r.inferMs,
              decodeMs: r.decodeMs,
              transferMs: 0,
              billedMs: 0,
              bytesSent: 0,
              coldStart: r.coldStart,
              costUsd: 0,
            },
          });
        }
      }
      pump();
    });
    const crashed = (why: string) => {
      const job = slot.job;
      slot.job = null;
      slot.dead = true;
      if (job) finish(job, { err: new BackendError('unavailable', `edge worker ${why}`, target) });
      if (closed) return;
      // Replace the dead worker so the pool keeps its size; the new one loads the model first.
      // A replacement reuses the measured chunk size instead of measuring again.
      startWorker(workerUrl, { ...init, chunkSize: ok[0].value.chunkSize }).then(
        ({ worker }) => {
          if (closed) return void worker.terminate();
          slot.worker = worker;
          slot.dead = false;
          attach(slot);
          pump();
        },
        () => {
          // Stays dead; run() fails fast once no worker is left.
          if (slots.every((s) => s.dead)) for (const j of waiting.splice(0)) finish(j, { err: new BackendError('unavailable', 'every edge worker crashed', target) });
        },
      );
    };
    slot.worker.once('error', (err: Error) => crashed(`crashed: ${err.message}`));
    slot.worker.once('exit', (code) => {
      if (!closed) crashed(`exited with code ${code}`);
    });
  };

  for (const r of ok) {
    const slot: Slot = { worker: r.value.worker, job: null, dead: false };
    slots.push(slot);
    attach(slot);
  }

  return {
    kind: 'edge',
    targets: [target],
    runsToEnd: true,
    model,
    loadMs: ok.map((r) => r.value.loadMs),
    chunkSizes: ok.map((r) => r.value.chunkSize),
    calibrations: ok.map((r) => r.value.calibration),
    ...(ok[0].value.calibratedAt ? { calibrationOrigin: { measuredAt: ok[0].value.calibratedAt, cached: ok[0].value.calibrationCached === true } } : {}),
    run(t: TargetId, items: readonly BatchItem[], runOptions: RunOptions): Promise<BatchOutcome> {
      if (closed) return Promise.reject(new BackendError('closed', 'local ONNX backend is closed', t));
      if (t !== target) return Promise.reject(new BackendError('unavailable', `local ONNX backend serves ${target}, not ${t}`, t));
      if (items.length === 0) return Promise.reject(new BackendError('bad_response', 'empty batch', t));
      if (slots.every((s) => s.dead)) return Promise.reject(new BackendError('unavailable', 'every edge worker crashed', t));
      return new Promise<BatchOutcome>((resolve, reject) => {
        const job: Job = { id: nextId++, items, target: t, startedMs: performance.now(), resolve, reject, done: false };
        const timeoutMs = Math.max(1, runOptions.timeoutMs);
        job.timer = setTimeout(() => {
          const busy = slots.filter((s) => s.job).length;
          finish(job, { err: new BackendError('timeout', `edge batch of ${items.length} took over ${Math.round(timeoutMs)} ms (${busy}/${slots.length} workers busy, ${waiting.length} batches waiting)`, t) });
        }, timeoutMs);
        waiting.push(job);
        pump();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      const pending = [...waiting.splice(0), ...slots.map((s) => s.job).filter((j): j is Job => !!j)];
      for (const job of pending) finish(job, { err: new BackendError('closed', 'local ONNX backend closed', target) });
      // Let each worker finish its ONNX run and exit by itself; terminate only a stuck one.
      await Promise.all(
        slots.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.dead) return resolve();
              const timer = setTimeout(() => void s.worker.terminate().then(() => resolve()), CLOSE_GRACE_MS);
              s.worker.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              s.worker.postMessage({ type: 'close' } satisfies ToWorker);
            }),
        ),
      );
    },
  };
}
