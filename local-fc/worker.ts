/**
 * Entry point of one local FC instance (a worker thread). Imports the function's code, runs its
 * initializer once (the real cold start: module load, model load), then serves invocations one at
 * a time, like an FC instance with instanceConcurrency 1. The thread's env carries the tier's
 * environment variables and SEB_VCPU (its vCPU, capped at this machine's cores).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { setPriority } from 'node:os';
import type { FromInstance, InstanceInit, ToInstance } from './protocol.ts';

type Handler = (event: Buffer, context: unknown) => Promise<unknown> | unknown;
type Initializer = (context: unknown) => Promise<void> | void;

const init = workerData as InstanceInit;
const port = parentPort!;
const send = (m: FromInstance) => port.postMessage(m);

/** Heap plus off-heap buffers of this isolate, in MB (FC reports the instance's peak memory). */
function memoryMb(): number {
  const h = getHeapStatistics();
  return Math.round((h.used_heap_size + h.external_memory) / (1024 * 1024));
}

function contextFor(requestId: string): Record<string, unknown> {
  const tag = `[${init.functionName}/${init.instanceId}] ${requestId}`;
  return {
    requestId,
    credentials: {}, // no role credentials locally
    function: { name: init.functionName, handler: 'index.handler', memory: init.memoryMb, timeout: init.timeoutS },
    service: { name: 'local', qualifier: 'LATEST' },
    region: init.region,
    accountId: init.accountId,
    logger: {
      debug: (...a: unknown[]) => console.debug(tag, ...a),
      info: (...a: unknown[]) => console.info(tag, ...a),
      warn: (...a: unknown[]) => console.warn(tag, ...a),
      error: (...a: unknown[]) => console.error(tag, ...a),
    },
  };
}

function describe(err: unknown): { errorMessage: string; errorType: string; stackTrace: string[] } {
  if (err instanceof Error) return { errorMessage: err.message, errorType: err.name, stackTrace: (err.stack ?? '').split('\n').slice(1).map((l) => l.trim()) };
  return { errorMessage: String(err), errorType: 'Error', stackTrace: [] };
}

// An emulated instance stands for a machine in the cloud: on this device it must not take CPU
// from the agent and its edge workers. On Linux the nice value is per thread and pid 0 means the
// calling thread, so this lowers this worker and the threads it starts from here on (ONNX
// Runtime's intra-op pool is created by the initializer below), not the rest of the process.
if (init.nice !== 0) {
  try {
    setPriority(0, init.nice);
  } catch {
    // not permitted or not supported here: run at normal priority
  }
}

const t0 = performance.now();
let handler: Handler;
try {
  const url = init.handlerModule.startsWith('file:') ? init.handlerModule : pathToFileURL(init.handlerModule).href;
  const mod = (await import(url)) as { handler?: Handler; initializer?: Initializer };
  if (typeof mod.handler !== 'function') throw new TypeError(`${init.handlerModule} does not export a handler function`);
  handler = mod.handler;
  if (init.hasInitializer && typeof mod.initializer === 'function') await mod.initializer(contextFor(`init-${init.instanceId}`));
  send({ type: 'ready', initMs: performance.now() - t0 });
} catch (err) {
  const d = describe(err);
  send({ type: 'init-error', errorMessage: d.errorMessage, errorType: d.errorType });
  process.exit(1);
}

port.on('message', async (m: ToInstance) => {
  if (m.type !== 'invoke') return;
  const start = performance.now();
  try {
    const out = await handler(Buffer.from(m.event.buffer, m.event.byteOffset, m.event.byteLength), contextFor(m.requestId));
    const body = typeof out === 'string' ? out : Buffer.isBuffer(out) ? out.toString('utf8') : JSON.stringify(out ?? null);
    send({ type: 'result', id: m.id, body, handlerMs: performance.now() - start, memoryMb: memoryMb() });
  } catch (err) {
    send({ type: 'error', id: m.id, ...describe(err), handlerMs: performance.now() - start, memoryMb: memoryMb() });
  }
});
