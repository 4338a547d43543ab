import type * as ort from 'onnxruntime-node';
import { ProgradeError } from '../../errors';

/**
 * An ONNX Runtime session whose `run` returns its outputs synchronously, for the event loop's own
 * session (worker/inline-runner.ts).
 *
 * Why not `InferenceSession.run`: onnxruntime-node's public run validates its arguments, defers the
 * native run to a `setImmediate` and wraps it in two promises. On the inference threads that costs
 * nothing that matters; on the event loop, where the run blocks the thread either way, it is one more
 * loop turn and about 3 µs per request (measured on a 1-row model: 12.0 µs against 9.3 µs a run in a
 * tight loop, more once the gateway's own work has cooled the caches), a tenth of what separated the
 * gateway from a bare server at one connection. The native binding's `run` is the very call the public
 * API makes inside that immediate, with the same feeds, fetches and options.
 *
 * The binding is an internal module of onnxruntime-node (`dist/binding`), so its shape is checked when
 * a session opens: anything unexpected makes `open` throw, and the version host then serves the model
 * from its inference threads only. The package is pinned (package.json), and
 * test/unit/serving-ort-native.test.ts fails on an upgrade that changes the binding.
 */

interface NativeValue {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

interface NativeSession {
  loadModel(path: string, options: ort.InferenceSession.SessionOptions): void;
  loadModel(
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength: number,
    options: ort.InferenceSession.SessionOptions,
  ): void;
  run(
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, null>,
    options: ort.InferenceSession.RunOptions,
  ): Record<string, NativeValue | undefined>;
  dispose(): void;
  readonly outputMetadata: readonly { readonly name: string }[];
}

interface BindingModule {
  readonly binding: { readonly InferenceSession: new () => NativeSession };
  readonly initOrt: () => void;
}

function loadBinding(): BindingModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- an internal module of the pinned package
  const mod = require('onnxruntime-node/dist/binding') as Partial<BindingModule> | undefined;
  const Session = mod?.binding?.InferenceSession;
  if (typeof mod?.initOrt !== 'function' || typeof Session !== 'function')
    throw new ProgradeError(
      'SERVING_INLINE_UNAVAILABLE',
      'onnxruntime-node has no native binding of the expected shape (dist/binding)',
    );
  return mod as BindingModule;
}

let binding: BindingModule | undefined;

const NO_RUN_OPTIONS: ort.InferenceSession.RunOptions = {};

export class NativeOrtSession {
  private readonly fetchSet: Record<string, null>;

  private constructor(
    private readonly native: NativeSession,
    fetches: readonly string[],
  ) {
    this.fetchSet = {};
    for (const name of fetches) this.fetchSet[name] = null;
  }

  /** Opens a session for `fetches` (output names); synchronous, as onnxruntime-node's own open is on this thread. */
  static open(
    model: { onnxPath: string } | { bytes: Uint8Array },
    options: ort.InferenceSession.SessionOptions,
    fetches: readonly string[],
  ): NativeOrtSession {
    binding ??= loadBinding();
    binding.initOrt();
    const native = new binding.binding.InferenceSession();
    if (typeof native.run !== 'function' || typeof native.loadModel !== 'function')
      throw new ProgradeError('SERVING_INLINE_UNAVAILABLE', 'onnxruntime-node native session has no run()');
    if ('onnxPath' in model) native.loadModel(model.onnxPath, options);
    else native.loadModel(model.bytes.buffer, model.bytes.byteOffset, model.bytes.byteLength, options);
    const known = new Set(native.outputMetadata.map((m) => m.name));
    const missing = fetches.find((name) => !known.has(name));
    if (missing !== undefined) {
      native.dispose();
      throw new ProgradeError('SERVING_INFERENCE_FAILED', `the model has no output '${missing}'`);
    }
    return new NativeOrtSession(native, fetches);
  }

  /** Runs the model now, on this thread; ORT's errors are thrown as they are. */
  run(feeds: Record<string, ort.Tensor>): Record<string, NativeValue | undefined> {
    return this.native.run(feeds, this.fetchSet, NO_RUN_OPTIONS);
  }

  release(): void {
    this.native.dispose();
  }
}
