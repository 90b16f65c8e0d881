/**
 * Messages between the local FC and one instance (a worker thread running the handler).
 * One request at a time per instance, so `id` only guards against late replies.
 */

/** What the worker needs to start: the handler module and the function's identity. */
export interface InstanceInit {
  /** Absolute path or file URL of the module exporting `handler` (and optionally `initializer`). */
  readonly handlerModule: string;
  readonly functionName: string;
  readonly instanceId: string;
  readonly memoryMb: number;
  readonly timeoutS: number;
  readonly region: string;
  readonly accountId: string;
  readonly hasInitializer: boolean;
  /** Nice value the instance's thread (and the ONNX Runtime threads it starts) runs at; 0 = unchanged. */
  readonly nice: number;
}

export type ToInstance = { readonly type: 'invoke'; readonly id: number; readonly requestId: string; readonly event: Uint8Array };

export type FromInstance =
  | { readonly type: 'ready'; readonly initMs: number }
  | { readonly type: 'init-error'; readonly errorMessage: string; readonly errorType: string }
  | { readonly type: 'result'; readonly id: number; readonly body: string; readonly handlerMs: number; readonly memoryMb: number }
  | {
      readonly type: 'error';
      readonly id: number;
      readonly errorMessage: string;
      readonly errorType: string;
      readonly stackTrace: string[];
      readonly handlerMs: number;
      readonly memoryMb: number;
    };
