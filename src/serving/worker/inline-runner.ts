import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ProgradeError } from '../../errors';
import { ownedBuffer, type TensorData } from '../tensors';
import type { ModelSignature, NumericDtype, WireTensor } from './messages';

function isNumeric(type: string): type is NumericDtype {
  return type === 'float32' || type === 'float64' || type === 'int32' || type === 'int64';
}

function typedArray(w: WireTensor): TensorData {
  switch (w.dtype) {
    case 'float32':
      return new Float32Array(w.buffer);
    case 'float64':
      return new Float64Array(w.buffer);
    case 'int32':
      return new Int32Array(w.buffer);
    case 'int64':
      return new BigInt64Array(w.buffer);
  }
}

/**
 * Inference on the event loop for small requests: posting a batch to an inference thread and waking
 * it costs more than running a small model where the request already is (profiled: the `postMessage`
 * hop was a third of the event loop's time at one connection, and on a busy host every wake-up of
 * another thread waits for a time slice). Requests that arrive while a run is under way are batched
 * into the next run (src/serving/batcher.ts), so a run's fixed cost is shared as on the threads.
 *
 * The bound. ORT's run blocks the thread it runs on, so a run here stalls every other request for as
 * long as it takes. A run here holds at most the rows whose estimated cost is within `maxBlockMs`;
 * the estimate is measured per model version when it loads (runs of 1 and of CALIBRATION_ROWS rows:
 * a fixed cost plus a cost per row) and corrected by the runs made here (the median observed /
 * predicted time of the last 32, never below the calibration): so the bound holds for the estimate,
 * and a single run can exceed it when the OS preempts the thread mid-run or a model's cost depends on
 * its input values (Loop, Scan). Runs here go one at a time, each in its
 * own turn of the event loop, so sockets are polled between two of them. Only models up to
 * `maxModelBytes` (every file of the version's folder together, so external weights count) get a
 * session here, so opening one is a short stall too. A request with more rows than fit the bound,
 * and every shadow copy, goes to the inference threads.
 */
export interface InlineOptions {
  /** Longest estimated run allowed on the event loop, ms; 0 turns inline inference off. */
  readonly maxBlockMs: number;
  /** Largest model (bytes on disk or in memory) given a session on the event loop. */
  readonly maxModelBytes: number;
}

export const DEFAULT_INLINE: InlineOptions = { maxBlockMs: 1, maxModelBytes: 4 * 1024 * 1024 };

const CALIBRATION_ROWS = 32;
const CALIBRATION_RUNS = 7;
/** Runs whose median observed / predicted cost corrects the estimate. */
const RECENT = 32;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function modelBytes(model: { onnxPath: string } | { bytes: Uint8Array }): Promise<number> {
  if ('bytes' in model) return model.bytes.byteLength;
  const dir = path.dirname(model.onnxPath);
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }))
    if (entry.isFile()) total += (await stat(path.join(dir, entry.name))).size;
  return total;
}

function zeros(signature: ModelSignature, rows: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of signature.inputs) {
    const dims = input.shape.map((d, i) => (i === 0 ? rows : d < 0 ? 1 : d));
    const size = dims.reduce((a, b) => a * b, 1);
    const data =
      input.dtype === 'float64'
        ? new Float64Array(size)
        : input.dtype === 'int32'
          ? new Int32Array(size)
          : input.dtype === 'int64'
            ? new BigInt64Array(size)
            : new Float32Array(size);
    feeds[input.name] = new ort.Tensor(input.dtype as 'float32', data as Float32Array, dims);
  }
  return feeds;
}

/**
 * Runs the session and measures how long the run blocked the event loop. ORT's node binding runs
 * the session synchronously inside a setImmediate callback; an immediate queued just before it runs
 * just before it, so the time from there to the awaited result is the run, not the wait for its turn.
 */
async function timedRun(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  fetches: readonly string[],
): Promise<{ result: ort.InferenceSession.ReturnType; blockedMs: number }> {
  let startedAt = Number.NaN;
  setImmediate(() => {
    startedAt = performance.now();
  });
  const queuedAt = performance.now();
  const result = await session.run(feeds, [...fetches]);
  const end = performance.now();
  return { result, blockedMs: end - (Number.isNaN(startedAt) ? queuedAt : startedAt) };
}

/** One version's session on the event loop, with its measured cost. */
export class InlineSession {
  /** Observed / predicted cost of recent runs here (≥ 1 raises the estimate). */
  private drift = 1;
  /** Observed / predicted ratios of the last RECENT runs (a ring). */
  private readonly recent: number[] = [];
  private recentCount = 0;
  /** Settles when the last run queued here has finished. */
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly fetches: readonly string[],
    /** Measured at load: ms for a run of one row, and ms per further row. */
    readonly fixedMs: number,
    readonly perRowMs: number,
    private readonly maxBlockMs: number,
  ) {}

  /**
   * Opens and calibrates a session, or undefined when the model is too big for the event loop, its
   * first dimension is not the batch dimension, or it is too slow for the bound even at one row.
   */
  static async open(
    model: { onnxPath: string } | { bytes: Uint8Array },
    signature: ModelSignature,
    options: InlineOptions,
  ): Promise<InlineSession | undefined> {
    if (options.maxBlockMs <= 0) return undefined;
    if ((await modelBytes(model)) > options.maxModelBytes) return undefined;
    if (!signature.inputs.every((s) => s.shape.length >= 1 && s.shape[0] === -1)) return undefined;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    };
    const session =
      'onnxPath' in model
        ? await ort.InferenceSession.create(model.onnxPath, sessionOptions)
        : await ort.InferenceSession.create(model.bytes, sessionOptions);
    const fetches = signature.outputs.map((o) => o.name);
    const timed = async (rows: number): Promise<number> => {
      const feeds = zeros(signature, rows);
      const times: number[] = [];
      for (let i = 0; i < CALIBRATION_RUNS; i++)
        times.push((await timedRun(session, feeds, fetches)).blockedMs);
      return median(times);
    };
    try {
      await timed(1); // first runs allocate
      const one = await timed(1);
      const many = await timed(CALIBRATION_ROWS);
      const perRow = Math.max(0, (many - one) / (CALIBRATION_ROWS - 1));
      if (one > options.maxBlockMs) {
        await session.release();
        return undefined;
      }
      return new InlineSession(session, fetches, one, perRow, options.maxBlockMs);
    } catch {
      // A model that cannot run zeros here still runs on the threads, which report its errors.
      await session.release();
      return undefined;
    }
  }

  /** Estimated ms a run of `rows` rows blocks the event loop. */
  estimateMs(rows: number): number {
    return (this.fixedMs + this.perRowMs * Math.max(0, rows - 1)) * this.drift;
  }

  /**
   * Keeps `drift` at the median observed / predicted ratio of the last RECENT runs (never below 1):
   * a run stretched because the OS preempted the thread on a busy host is an outlier the median
   * ignores, while a model that is really slower than calibrated (a slower host, costlier inputs)
   * moves it within RECENT / 2 runs.
   */
  private observe(ratio: number): void {
    this.recent[this.recentCount % RECENT] = Math.min(ratio, 50);
    this.recentCount++;
    if (this.recentCount % 8 !== 0 && this.recentCount > 8) return;
    const window = this.recent.slice(0, Math.min(this.recentCount, RECENT)).sort((a, b) => a - b);
    this.drift = Math.max(1, window[Math.floor(window.length / 2)] ?? 1);
  }

  /** The most rows one run here may hold within the bound (0: none, the estimate has grown past it). */
  maxRows(): number {
    const spare = this.maxBlockMs / this.drift - this.fixedMs;
    if (spare < 0) {
      // Nothing runs here, so nothing corrects the estimate: let it come back down slowly.
      this.drift = 1 + (this.drift - 1) * 0.99;
      this.recent.length = 0;
      this.recentCount = 0;
      return 0;
    }
    return this.perRowMs > 0 ? Math.min(4096, 1 + Math.floor(spare / this.perRowMs)) : 4096;
  }

  /** One batch, as the batcher hands it to an inference thread; one run at a time, each in its own loop turn. */
  run(feeds: readonly WireTensor[], fetches: readonly string[]): Promise<readonly WireTensor[]> {
    const next = this.tail.then(() => this.runNow(feeds, fetches));
    this.tail = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async runNow(
    feeds: readonly WireTensor[],
    fetches: readonly string[],
  ): Promise<readonly WireTensor[]> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const f of feeds)
      inputs[f.name] = new ort.Tensor(f.dtype, typedArray(f) as Float32Array, [...f.dims]);
    const rows = feeds[0]?.dims[0] ?? 1;
    const predicted = this.estimateMs(rows) / this.drift;
    let result: ort.InferenceSession.ReturnType;
    let blockedMs: number;
    try {
      // ORT's node binding runs the session in a setImmediate callback: its own turn of the loop.
      ({ result, blockedMs } = await timedRun(this.session, inputs, fetches));
    } catch (e) {
      throw new ProgradeError(
        'SERVING_INFERENCE_FAILED',
        `inference failed: ${e instanceof Error ? e.message : String(e)}`,
        'terminal',
      );
    }
    this.observe(blockedMs / Math.max(predicted, 1e-3));
    return fetches.map((name): WireTensor => {
      const value = result[name];
      if (!value || !isNumeric(value.type))
        throw new ProgradeError('SERVING_INFERENCE_FAILED', `inference returned no numeric '${name}'`);
      const data = value.data as TensorData;
      // Our own buffer: ORT's output may be a view over a larger one (copied only then).
      return { name, dtype: value.type, dims: [...value.dims], buffer: ownedBuffer(data) };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
