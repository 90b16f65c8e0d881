/**
 * FC instances of one tier: worker threads running the handler, one request per instance at a
 * time (instanceConcurrency 1), scaled out on demand up to a limit and reclaimed after idling
 * for the keep-alive. A new instance is a real cold start: the worker imports the code and runs
 * the initializer (model load) before its first invocation.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Tier } from '../shared/tiers.ts';
import type { FromInstance, InstanceInit } from './protocol.ts';

/** The instance's entry; the pool runs it (and the handler) as bundles: see shared/worker-bundle.ts. */
export const INSTANCE_WORKER_MODULE = new URL('./worker.ts', import.meta.url).href;

/** What one invocation produced. `unhandled` = crash, failed initializer or function timeout. */
export type InvokeResult =
  | { readonly kind: 'ok'; readonly body: string; readonly handlerMs: number; readonly memoryMb: number }
  | { readonly kind: 'handled'; readonly errorMessage: string; readonly errorType: string; readonly stackTrace: string[]; readonly handlerMs: number; readonly memoryMb: number }
  | { readonly kind: 'unhandled'; readonly errorMessage: string; readonly errorType: string; readonly handlerMs: number; readonly memoryMb: number };

export interface PoolOptions {
  readonly tier: Tier;
  /** file: URL of the instance entry, bundled (bundledModuleUrl(INSTANCE_WORKER_MODULE)). */
  readonly workerUrl: string;
  /** file: URL of the function's code, bundled if it was TypeScript. */
  readonly handlerModule: string;
  /** Instances this tier may run at once; beyond it requests get 429. */
  readonly maxInstances: number;
  /** An instance idle this long is reclaimed (the next request cold-starts). */
  readonly keepAliveMs: number;
  readonly accountId: string;
  /** Nice value of instance threads (0 = unchanged). */
  readonly nice: number;
}

let nextInstance = 0;

/** One worker thread = one FC instance. */
export class Instance {
  readonly id: string;
  readonly worker: Worker;
  /** Resolves with the initializer's duration when the instance can serve; rejects if it cannot. */
  readonly ready: Promise<number>;
  busy = true;
  dead = false;
  idleTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private pending: { id: number; resolve: (r: InvokeResult) => void; start: number } | undefined;
  private lastMemoryMb = 0;
  /** Settles when the invocation now running (if any) has its answer. */
  running: Promise<unknown> = Promise.resolve();

  constructor(opts: PoolOptions, onExit: (i: Instance) => void) {
    const t = opts.tier;
    this.id = `c-${t.functionName.slice(-12)}-${process.pid}-${++nextInstance}`;
    const init: InstanceInit = {
      handlerModule: opts.handlerModule,
      functionName: t.functionName,
      instanceId: this.id,
      memoryMb: t.memoryMb,
      timeoutS: t.timeoutS,
      region: t.region,
      accountId: opts.accountId,
      hasInitializer: !!t.initializer,
      nice: opts.nice,
    };
    // The handler sizes its intra-op thread pool from SEB_VCPU (on FC, s.yaml sets the tier's vCPU);
    // here it is capped at this machine's cores: more threads than cores only thrash.
    const vcpu = Math.max(1, Math.min(Math.ceil(t.vcpu), availableParallelism()));
    const env: Record<string, string | undefined> = { ...process.env, ...t.environmentVariables, SEB_VCPU: String(vcpu), FC_FUNCTION_NAME: t.functionName, FC_FUNCTION_MEMORY_SIZE: String(t.memoryMb), FC_INSTANCE_ID: this.id };
    // A function never sees its caller's keys on FC; keep the local ones out of handler code too.
    for (const k of Object.keys(env)) if (/^(FC_LOCAL_ACCESS_KEY|ALIBABA_CLOUD_(ACCESS_KEY|SECURITY_TOKEN))/.test(k)) delete env[k];
    this.worker = new Worker(new URL(opts.workerUrl), { workerData: init, env, stderr: false });
    this.worker.unref(); // idle instances must not keep the process alive
    this.ready = new Promise<number>((resolve, reject) => {
      const onMsg = (m: FromInstance) => {
        if (m.type === 'ready') resolve(m.initMs);
        else if (m.type === 'init-error') reject(new Error(`initializer failed: ${m.errorType}: ${m.errorMessage}`));
      };
      this.worker.on('message', onMsg);
      this.worker.once('exit', (code) => reject(new Error(`instance exited with code ${code} during start`)));
    });
    this.ready.catch(() => {}); // observed by invoke(); avoid an unhandled rejection
    this.worker.on('message', (m: FromInstance) => {
      if ((m.type === 'result' || m.type === 'error') && this.pending?.id === m.id) {
        const p = this.pending;
        this.pending = undefined;
        this.lastMemoryMb = m.memoryMb;
        if (m.type === 'result') p.resolve({ kind: 'ok', body: m.body, handlerMs: m.handlerMs, memoryMb: m.memoryMb });
        else p.resolve({ kind: 'handled', errorMessage: m.errorMessage, errorType: m.errorType, stackTrace: m.stackTrace, handlerMs: m.handlerMs, memoryMb: m.memoryMb });
      }
    });
    this.worker.on('error', () => {}); // surfaced through 'exit'
    this.worker.once('exit', (code) => {
      this.dead = true;
      if (this.pending) {
        const p = this.pending;
        this.pending = undefined;
        p.resolve({ kind: 'unhandled', errorType: 'ProcessExited', errorMessage: `Process exited unexpectedly before completing request (exit code ${code})`, handlerMs: performance.now() - p.start, memoryMb: this.lastMemoryMb });
      }
      onExit(this);
    });
  }

  /** Run one invocation; the function timeout kills the instance, as FC does. */
  async invoke(requestId: string, event: Uint8Array, timeoutMs: number): Promise<InvokeResult> {
    const start = performance.now();
    try {
      await this.ready;
    } catch (err) {
      return { kind: 'unhandled', errorType: 'InitializationError', errorMessage: (err as Error).message, handlerMs: performance.now() - start, memoryMb: 0 };
    }
    const done = new Promise<InvokeResult>((resolve) => {
      const id = ++this.seq;
      const timer = setTimeout(() => {
        if (this.pending?.id !== id) return;
        this.pending = undefined;
        resolve({ kind: 'unhandled', errorType: 'FunctionTimeout', errorMessage: `Function timed out after ${timeoutMs / 1000} seconds`, handlerMs: performance.now() - start, memoryMb: this.lastMemoryMb });
        void this.worker.terminate();
      }, timeoutMs);
      this.pending = { id, start, resolve: (r) => (clearTimeout(timer), resolve(r)) };
      const copy = new Uint8Array(event); // transfer a private copy; the caller keeps its buffer
      this.worker.postMessage({ type: 'invoke', id, requestId, event: copy }, [copy.buffer]);
    });
    this.running = done;
    return done;
  }
}

/** The instances of one tier. */
export class TierPool {
  readonly instances = new Set<Instance>();
  private closed = false;

  constructor(readonly opts: PoolOptions) {}

  /**
   * Take an idle instance (warm), or start a new one (cold) if under the limit.
   * @returns undefined when every allowed instance is busy (the caller answers 429)
   */
  acquire(): { instance: Instance; cold: boolean } | undefined {
    if (this.closed) return undefined;
    for (const i of this.instances) {
      if (!i.busy && !i.dead) {
        i.busy = true;
        clearTimeout(i.idleTimer);
        return { instance: i, cold: false };
      }
    }
    if (this.instances.size >= this.opts.maxInstances) return undefined;
    const i = new Instance(this.opts, (dead) => this.instances.delete(dead));
    this.instances.add(i);
    return { instance: i, cold: true };
  }

  /** Hand an instance back; it is reclaimed after the keep-alive unless reused. */
  release(i: Instance): void {
    i.busy = false;
    if (i.dead || this.closed) return;
    i.idleTimer = setTimeout(() => {
      if (!i.busy) {
        this.instances.delete(i);
        void i.worker.terminate();
      }
    }, this.opts.keepAliveMs);
    i.idleTimer.unref();
  }

  /** Instances now alive, and how many of them are busy. */
  stats(): { instances: number; busy: number } {
    let busy = 0;
    for (const i of this.instances) if (i.busy) busy++;
    return { instances: this.instances.size, busy };
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.instances];
    this.instances.clear();
    // Terminating a worker while ONNX Runtime is creating its session or running a batch aborts
    // the whole process (a Napi::Error thrown during the worker's teardown: "terminate called
    // after throwing an instance of 'Napi::Error'", seen when an agent shut down during cold
    // starts or under load). Let an instance finish its initializer and its current invocation
    // first (bounded by the function timeout, as FC bounds both), then terminate.
    const quiet = (i: Instance) =>
      Promise.race([i.ready.then(() => i.running, () => undefined).then(() => undefined, () => undefined), new Promise<void>((r) => setTimeout(r, this.opts.tier.timeoutS * 1000).unref())]);
    await Promise.all(all.map(async (i) => (clearTimeout(i.idleTimer), await quiet(i), await i.worker.terminate())));
  }
}
