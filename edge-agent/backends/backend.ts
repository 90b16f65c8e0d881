/**
 * The executor contract every backend implements: the local ONNX worker pool, the FC backend
 * (real FC or the local FC), `noop`, and the simulator's virtual executor. The rest of the agent
 * never bypasses it. One batch in, one result per item out (same order), plus the timings the
 * scheduling core's estimators learn from.
 */
import type { ImageMime, ItemResult } from '../../shared/wire/index.ts';

/** `edge` or a tier key from s.yaml. */
export type TargetId = string;

export interface BatchItem {
  readonly id: string;
  readonly type: ImageMime;
  readonly bytes: Uint8Array;
}

export interface RunOptions {
  /** The backend gives up (and throws BackendError code `timeout`) after this long. */
  readonly timeoutMs: number;
  /** Model name to ask for; the backend's default when absent. */
  readonly model?: string;
}

/** What one batch call observed. All durations in ms. */
export interface BatchOutcome {
  /** In request order, one per item; a failed item carries `error`. */
  readonly results: readonly ItemResult[];
  readonly target: TargetId;
  readonly batchSize: number;
  /** Whole call as the caller saw it. */
  readonly wallMs: number;
  /** Inference time reported by the executor (ONNX run). */
  readonly inferMs: number;
  /** Image decoding/preprocessing time reported by the executor. */
  readonly decodeMs: number;
  /** Time spent moving bytes (wall − function duration for FC; 0 on the edge). */
  readonly transferMs: number;
  /** Function duration as billed (FC's x-fc-invocation-duration); 0 on the edge. */
  readonly billedMs: number;
  /** Where billedMs came from when the reply lacked x-fc-invocation-duration (FC only). */
  readonly billedFrom?: 'header' | 'function' | 'wall';
  readonly bytesSent: number;
  readonly coldStart: boolean;
  /** The batch's FC cost, including `initializerEstimate` when there is one. */
  readonly costUsd: number;
  /** FC only, on a cold start of a tier with an initializer: the estimated, separately billed initializer. */
  readonly initializerEstimate?: { readonly billedMs: number; readonly costUsd: number; readonly source: 'function' | 'wall' };
}

/** Errors from a backend: `code` tells the dispatcher whether a retry elsewhere makes sense. */
export class BackendError extends Error {
  override name = 'BackendError';
  constructor(
    readonly code: 'timeout' | 'throttled' | 'unavailable' | 'function_error' | 'bad_response' | 'closed',
    message: string,
    readonly target: TargetId,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.status = options?.status;
  }
  readonly status?: number;
}

export interface InferenceBackend {
  /** `edge`, `fc`, `noop`, `sim`. */
  readonly kind: string;
  /** Targets this backend serves (`edge`, or the tier keys). */
  readonly targets: readonly TargetId[];
  /**
   * A call, once started, runs to its end even when its caller stops waiting (an ONNX run cannot
   * be cut short). The dispatcher then answers each late request at its own deadline itself and
   * lets the call end, so the target counts busy exactly as long as it is; `timeoutMs` only
   * bounds a call that never ends. Unset (FC): a call is cut at `timeoutMs`.
   */
  readonly runsToEnd?: boolean;
  /** Run one batch on one target. Rejects only with BackendError. */
  run(target: TargetId, items: readonly BatchItem[], options: RunOptions): Promise<BatchOutcome>;
  /** Release workers/sockets; pending runs reject with code `closed`. */
  close(): Promise<void>;
}
