import type { ErrorCode } from '../../error-codes';
import type { TensorSpec } from '../../onnx/tensor-spec';

/**
 * Messages between the gateway's event loop and its inference worker threads. Outputs travel as
 * transferred ArrayBuffers; inputs are copied (a few kB per batch) so that the pool still holds them
 * when a thread dies mid-run and the batch is run again.
 */
export type NumericDtype = 'float32' | 'float64' | 'int32' | 'int64';

export interface WireTensor {
  readonly name: string;
  readonly dtype: NumericDtype;
  readonly dims: readonly number[];
  readonly buffer: ArrayBuffer;
}

export interface LoadRequest {
  readonly kind: 'load';
  readonly id: number;
  /** Identifies one model version inside the worker, e.g. `credit@7`. */
  readonly key: string;
  /** A file path, or the model's bytes (copied to each worker). */
  readonly model: { readonly onnxPath: string } | { readonly bytes: Uint8Array };
  readonly intraOpNumThreads: number;
  readonly warmupRuns: number;
}

export interface RunRequest {
  readonly kind: 'run';
  readonly id: number;
  readonly key: string;
  readonly feeds: readonly WireTensor[];
  readonly fetches: readonly string[];
}

export interface UnloadRequest {
  readonly kind: 'unload';
  readonly id: number;
  readonly key: string;
}

export type ToWorker = LoadRequest | RunRequest | UnloadRequest;

/**
 * Asks the thread to finish the messages it has started, release its sessions and exit by itself. The
 * pool closes threads this way and not with `Worker.terminate()` alone: a thread terminated inside an
 * onnxruntime-node run aborts the whole process ("terminate called after throwing an instance of
 * 'Napi::Error'": the binding throws a C++ exception when it cannot build its outputs in an isolate that
 * is being torn down).
 */
export interface StopRequest {
  readonly kind: 'stop';
}

export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly kind: 'loaded'; readonly signature: ModelSignature }
  | { readonly id: number; readonly ok: true; readonly kind: 'ran'; readonly outputs: readonly WireTensor[] }
  | { readonly id: number; readonly ok: true; readonly kind: 'unloaded' }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode; readonly message: string };
