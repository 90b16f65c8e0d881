/**
 * `noop` backend: answers every item at once with empty text. It stands in for the edge target
 * so a benchmark measures the agent's own overhead (HTTP, admission, scheduling, fan-out)
 * without any inference behind it.
 *
 * "At once" means on the next turn of the event loop (setImmediate), as any real backend's I/O
 * completes, not within the caller's microtask: requests that arrived meanwhile are then
 * batched as they would be behind a real target.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BackendError, type BatchItem, type BatchOutcome, type InferenceBackend, type RunOptions, type TargetId } from './backend.ts';

export interface NoopBackendOptions {
  /**
   * Targets the backend answers for.
   * @default ['edge']
   */
  readonly targets?: readonly TargetId[];
}

/**
 * Create the `noop` backend.
 * @example
 * const b = createNoopBackend();
 * (await b.run('edge', items, { timeoutMs: 100 })).results; // [{ id, text: '', confidence: 0 }, ...]
 */
export function createNoopBackend(options: NoopBackendOptions = {}): InferenceBackend {
  const targets = options.targets ?? ['edge'];
  let closed = false;
  return {
    kind: 'noop',
    targets,
    async run(target: TargetId, items: readonly BatchItem[], _options: RunOptions): Promise<BatchOutcome> {
      if (closed) throw new BackendError('closed', 'noop backend is closed', target);
      if (!targets.includes(target)) throw new BackendError('unavailable', `noop backend does not serve target ${target}`, target);
      await nextTurn();
      return {
        results: items.map((it) => ({ id: it.id, text: '', confidence: 0 })),
        target,
        batchSize: items.length,
        wallMs: 0,
        inferMs: 0,
        decodeMs: 0,
        transferMs: 0,
        billedMs: 0,
        bytesSent: 0,
        coldStart: false,
        costUsd: 0,
      };
    },
    async close() {
      closed = true;
    },
  };
}
