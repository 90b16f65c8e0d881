/**
 * The FC 3.0 function (Node.js 20 event handler): one SEB1 frame in, one response JSON out.
 * An adapter around shared/batch-inference.ts; the local FC imports this very module.
 *
 * - `initializer(context)` loads the ONNX session once per instance, with intra-op threads from
 *   the tier's vCPU: env `SEB_VCPU`, which s.yaml sets per function (FC itself tells a function
 *   nothing about its vCPU, and os.availableParallelism() there counts the host's cores, not the
 *   instance's share); without it, os.availableParallelism(); rounded, ≥ 1.
 * - `handler(event, context)` decodes the frame and runs the batch; the first invocation an
 *   instance serves reports `coldStart: true`. Called without the initializer, it loads lazily.
 *   Every response carries `handlerMs` (the handler's own time, for callers whose reply lacks
 *   `x-fc-invocation-duration`) and, on a cold start after the initializer ran, `initializerMs`
 *   (FC bills the initializer apart from the invocation and reports its time to nobody).
 * - A malformed frame (or a model this instance does not serve) throws an Error whose message is
 *   `{"error":{"code","message"}}`: FC then answers with `x-fc-error-type: HandledInvocationError`
 *   and that message, so callers see a per-batch failure, distinct from a crash or a timeout,
 *   and can parse the code. Bad images do not throw: they fail alone inside `results`.
 *
 * Environment: `SEB_MODEL` (built-in model name, default ocr-rec), `SEB_MODEL_CONFIG` (path of a
 * JSON model config, wins over SEB_MODEL), `SEB_MODEL_DIR` (model files; set by the bundle).
 * Importing this module has no side effects.
 */
import { availableParallelism } from 'node:os';
import { createBatchInference, type BatchInference } from '../shared/batch-inference.ts';
import { loadModelConfigFile } from '../shared/models/config.ts';
import { DEFAULT_MODEL } from '../shared/models/registry.ts';
import { WireFormatError, decodeBatch } from '../shared/wire/index.ts';

/** The parts of FC's invocation context this function reads (it never logs the context: it holds credentials). */
export interface FcContext {
  readonly requestId?: string;
  readonly function?: { readonly name?: string };
  readonly [key: string]: unknown;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Intra-op threads for this instance: its tier's vCPU (`SEB_VCPU`), rounded, at least 1. */
export function threadsForInstance(env: Env = process.env, cpus: number = availableParallelism()): number {
  const fromEnv = env.SEB_VCPU === undefined || env.SEB_VCPU === '' ? Number.NaN : Number(env.SEB_VCPU);
  const vcpu = Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : cpus;
  return Math.max(1, Math.round(vcpu));
}

/** Per-instance state: the loading/loaded model, whether an invocation was served yet, and how long the initializer took. */
let instance: { inference: Promise<BatchInference>; served: boolean; initializerMs?: number } | undefined;

function load(env: Env = process.env): Promise<BatchInference> {
  if (!instance) {
    const intraOpThreads = threadsForInstance(env);
    const inference = env.SEB_MODEL_CONFIG
      ? createBatchInference({ config: loadModelConfigFile(env.SEB_MODEL_CONFIG), intraOpThreads })
      : createBatchInference({ model: env.SEB_MODEL || DEFAULT_MODEL, intraOpThreads });
    instance = { inference, served: false };
    // A failed load must not stick: the next call retries.
    inference.catch(() => (instance = undefined));
  }
  return instance.inference;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;

/** An error FC reports as HandledInvocationError; its message is the JSON body callers parse. */
function handledError(code: string, message: string): Error {
  const err = new Error(JSON.stringify({ error: { code, message } }));
  err.name = 'BatchRejected';
  return err;
}

/** FC initializer: load the model once per instance. */
export async function initializer(_context?: FcContext): Promise<void> {
  const started = performance.now();
  const inf = await load();
  const ms = performance.now() - started;
  if (instance) instance.initializerMs = ms;
  console.log(`initializer: model ${inf.model} loaded with ${inf.intraOpThreads} intra-op threads in ${Math.round(ms)} ms`);
}

/**
 * FC event handler.
 * @param event the SEB1 frame (FC passes the request body as a Buffer)
 * @returns the BatchResponse JSON
 */
export async function handler(event: Buffer | Uint8Array, _context?: FcContext): Promise<string> {
  const started = performance.now();
  if (!(event instanceof Uint8Array)) throw handledError('bad_event', `expected the request body as bytes, got ${typeof event}`);
  let batch: ReturnType<typeof decodeBatch>;
  try {
    batch = decodeBatch(event);
  } catch (err) {
    if (err instanceof WireFormatError) throw handledError(err.code, err.message);
    throw err;
  }
  const inf = await load();
  if (batch.model !== undefined && batch.model !== inf.model) {
    throw handledError('model_not_served', `this function serves model "${inf.model}", the batch asks for "${batch.model}"`);
  }
  const state = instance!;
  const coldStart = !state.served;
  state.served = true;
  const response = await inf.run(batch.items);
  const initializerMs = coldStart && state.initializerMs !== undefined ? { initializerMs: round1(state.initializerMs) } : {};
  return JSON.stringify({ ...response, coldStart, handlerMs: round1(performance.now() - started), ...initializerMs });
}
