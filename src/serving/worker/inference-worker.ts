/**
 * Body of an inference worker thread: holds one reused onnxruntime session per loaded model version
 * and runs batches sent by the pool. ORT's `run()` blocks the thread it runs on, which is why it
 * lives here and not on the gateway's event loop.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { ErrorCode } from '../../error-codes';
import type { TensorSpec } from '../../onnx/tensor-spec';
import type {
  LoadRequest,
  ModelSignature,
  NumericDtype,
  RunRequest,
  StopRequest,
  ToWorker,
  WireTensor,
  WorkerReply,
} from './messages';

const NUMERIC: ReadonlySet<string> = new Set<NumericDtype>(['float32', 'float64', 'int32', 'int64']);

interface LoadedSession {
  readonly session: ort.InferenceSession;
  readonly signature: ModelSignature;
}

const sessions = new Map<string, LoadedSession>();

function isNumeric(type: string): type is NumericDtype {
  return NUMERIC.has(type);
}

function specOf(meta: ort.InferenceSession.ValueMetadata): TensorSpec | undefined {
  if (!meta.isTensor || !isNumeric(meta.type)) return undefined;
  // Symbolic dims (strings) and unknown dims are free: -1.
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: meta.name, dtype: meta.type, shape };
}

function signatureOf(session: ort.InferenceSession): ModelSignature {
  const inputs: TensorSpec[] = [];
  for (const meta of session.inputMetadata) {
    const spec = specOf(meta);
    if (!spec) {
      throw new WorkerFailure(
        'SERVING_UNSUPPORTED_INPUT',
        `input '${meta.name}' is ${meta.isTensor ? `a ${meta.type} tensor` : 'not a tensor'}; the gateway serves numeric tensor inputs only`,
      );
    }
    inputs.push(spec);
  }
  // Non-numeric outputs (e.g. skl2onnx ZipMap sequences) are not fetched; the numeric ones are served.
  const outputs = session.outputMetadata.map(specOf).filter((s): s is TensorSpec => s !== undefined);
  if (outputs.length === 0)
    throw new WorkerFailure('SERVING_UNSUPPORTED_OUTPUT', 'the model has no numeric tensor output');
  return { inputs, outputs };
}

class WorkerFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function typedArray(dtype: NumericDtype, buffer: ArrayBuffer): ort.Tensor['data'] {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
  }
}

function zerosFor(spec: TensorSpec): ort.Tensor {
  const dims = spec.shape.map((d) => (d < 0 ? 1 : d));
  const size = dims.reduce((a, b) => a * b, 1);
  const bytesPer = spec.dtype === 'float64' || spec.dtype === 'int64' ? 8 : 4;
  return new ort.Tensor(
    spec.dtype,
    typedArray(spec.dtype as NumericDtype, new ArrayBuffer(size * bytesPer)),
    dims,
  );
}

async function load(req: LoadRequest): Promise<WorkerReply> {
  const existing = sessions.get(req.key);
  if (existing) return { id: req.id, ok: true, kind: 'loaded', signature: existing.signature };
  let session: ort.InferenceSession;
  try {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: req.intraOpNumThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // ORT's own console logging would bypass the gateway's logger; its errors reach us as exceptions.
      logSeverityLevel: 3,
    };
    session =
      'onnxPath' in req.model
        ? await ort.InferenceSession.create(req.model.onnxPath, options)
        : await ort.InferenceSession.create(req.model.bytes, options);
  } catch (e) {
    throw new WorkerFailure(
      'SERVING_MODEL_LOAD_FAILED',
      `onnxruntime could not load ${req.key}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    const signature = signatureOf(session);
    const fetches = signature.outputs.map((o) => o.name);
    for (let i = 0; i < req.warmupRuns; i++) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const input of signature.inputs) feeds[input.name] = zerosFor(input);
      await session.run(feeds, fetches);
    }
    sessions.set(req.key, { session, signature });
    return { id: req.id, ok: true, kind: 'loaded', signature };
  } catch (e) {
    await session.release();
    if (e instanceof WorkerFailure) throw e;
    throw new WorkerFailure(
      'SERVING_WARMUP_FAILED',
      `warm-up of ${req.key} failed: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

function toWire(name: string, value: ort.OnnxValue): WireTensor {
  const tensor = value;
  const dtype = tensor.type;
  if (!isNumeric(dtype))
    throw new WorkerFailure('SERVING_UNSUPPORTED_OUTPUT', `output '${name}' is ${dtype}`);
  const data = tensor.data as Float32Array | Float64Array | Int32Array | BigInt64Array;
  // Copy into a buffer we own: ORT's output may be a view over a larger native-backed buffer.
  const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return { name, dtype, dims: [...tensor.dims], buffer };
}

async function run(req: RunRequest): Promise<WorkerReply> {
  const loaded = sessions.get(req.key);
  if (!loaded)
    throw new WorkerFailure('SERVING_VERSION_NOT_LOADED', `${req.key} is not loaded in this worker`);
  const feeds: Record<string, ort.Tensor> = {};
  for (const f of req.feeds)
    feeds[f.name] = new ort.Tensor(f.dtype, typedArray(f.dtype, f.buffer), [...f.dims]);
  let result: ort.InferenceSession.ReturnType;
  try {
    result = await loaded.session.run(feeds, [...req.fetches]);
  } catch (e) {
    throw new WorkerFailure(
      'SERVING_INFERENCE_FAILED',
      `inference on ${req.key} failed: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const outputs = req.fetches.map((name) => {
    const value = result[name];
    if (!value)
      throw new WorkerFailure('SERVING_INFERENCE_FAILED', `inference on ${req.key} returned no '${name}'`);
    return toWire(name, value);
  });
  return { id: req.id, ok: true, kind: 'ran', outputs };
}

async function unload(key: string, id: number): Promise<WorkerReply> {
  const loaded = sessions.get(key);
  sessions.delete(key);
  if (loaded) await loaded.session.release();
  return { id, ok: true, kind: 'unloaded' };
}

async function handle(msg: ToWorker): Promise<WorkerReply> {
  try {
    switch (msg.kind) {
      case 'load':
        return await load(msg);
      case 'run':
        return await run(msg);
      case 'unload':
        return await unload(msg.key, msg.id);
    }
  } catch (e) {
    const code = e instanceof WorkerFailure ? e.code : 'SERVING_WORKER_FAILED';
    return { id: msg.id, ok: false, code, message: e instanceof Error ? e.message : String(e) };
  }
}

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');
/** Messages started and not yet answered: a run spans turns (onnxruntime-node defers it to an immediate). */
let active = 0;
let stopping = false;

/** Exits once nothing is running: the pool asked to stop (messages.ts, StopRequest). */
function exitWhenIdle(): void {
  if (!stopping || active > 0) return;
  const releases = [...sessions.values()].map((s) => s.session.release().catch(() => undefined));
  sessions.clear();
  void Promise.all(releases).then(() => process.exit(0));
}

port.on('message', (msg: ToWorker | StopRequest) => {
  if (msg.kind === 'stop') {
    stopping = true;
    exitWhenIdle();
    return;
  }
  // The pool has already failed whatever it sent after the stop: running it would only delay the exit.
  if (stopping) return;
  active += 1;
  void handle(msg)
    .then((reply) => {
      const transfer = reply.ok && reply.kind === 'ran' ? reply.outputs.map((o) => o.buffer) : [];
      port.postMessage(reply, transfer);
    })
    .finally(() => {
      active -= 1;
      exitWhenIdle();
    });
});
