import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ProgradeError } from '../../errors';
import type { Tensor, TensorData } from '../tensors';
import type { ModelSignature, NumericDtype } from './messages';
import { NativeOrtSession } from './ort-native';

function isNumeric(type: string): type is NumericDtype {
  return type === 'float32' || type === 'float64' || type === 'int32' || type === 'int64';
}

/**
 * Inference on the event loop for small requests: posting a batch to an inference thread and waking
 * it costs more than running a small model where the request already is (profiled: the `postMessage`
 * hop was a third of the event loop's time at one connection, and on a busy host every wake-up of
 * another thread waits for a time slice). A request that finds nothing else running here runs at
 * once; requests arriving behind it share one run at the end of the loop's turn (src/serving/
 * inline-lane.ts), so a run's fixed cost is shared as on the threads. Runs call ORT's native binding
 * synchronously (worker/ort-native.ts): the run blocks this thread either way, and the public API's
 * extra turn and promises were a measurable share of a 1-row request.
 *
 * The bound. ORT's run blocks the thread it runs on, so a run here stalls every other request for as
 * long as it takes. A run here holds at most the rows whose estimated cost is within `maxBlockMs`;
 * the estimate is measured per model version when it loads (runs of 1 and of CALIBRATION_ROWS rows:
 * a fixed cost plus a cost per row) and corrected by the runs made here (the median observed /
 * predicted time of the last 32, never below the calibration): so the bound holds for the estimate,
 * and a single run can exceed it when the OS preempts the thread mid-run or a model's cost depends on
 * its input values (Loop, Scan). Between two polls of the sockets the loop makes at most two runs
 * here (one at once, one batched at the end of the turn). Only models up to `maxModelBytes` (every
 * file of the version's folder together, so external weights count) get a session here, so opening
 * one is a short stall too. A request with more rows than fit the bound, and every shadow copy, goes
 * to the inference threads.
 */
export interface InlineOptions {
  /** Longest estimated run allowed on the event loop, ms; 0 turns inline inference off. */
  readonly maxBlockMs: number;
  /** Largest model (bytes on disk or in memory) given a session on the event loop. */
  readonly maxModelBytes: number;
  /**
   * Least estimated run, ms, of a batch that goes to an idle inference thread instead of the event
   * loop (inline-lane.ts, "Sharing with the threads"); Infinity keeps every batch on the loop.
   */
  readonly spillMinMs: number;
}

/**
 * spillMinMs: the hop costs the loop about 30–50 µs (a copy of the rows, a message, the reply); from
 * 0.25 ms on, the loop saves at least 80 % of a run it hands over, and small batches (a 1-row load
 * at 64 connections) stay on the loop, where they cost less than the hop.
 */
export const DEFAULT_INLINE: InlineOptions = {
  maxBlockMs: 1,
  maxModelBytes: 4 * 1024 * 1024,
  spillMinMs: 0.25,
};

const CALIBRATION_ROWS = 32;
const CALIBRATION_RUNS = 7;
/** Most rows of one run here, whatever the estimate (a model whose cost does not grow with rows). */
const MAX_INLINE_ROWS = 4096;
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

/** One version's session on the event loop, with its measured cost. */
export class InlineSession {
  /** Observed / predicted cost of recent runs here (≥ 1 raises the estimate). */
  private drift = 1;
  /** Observed / predicted ratios of the last RECENT runs (a ring). */
  private readonly recent: number[] = [];
  private recentCount = 0;

  private constructor(
    private readonly session: NativeOrtSession,
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
    options: Pick<InlineOptions, 'maxBlockMs' | 'maxModelBytes'>,
  ): Promise<InlineSession | undefined> {
    if (options.maxBlockMs <= 0) return undefined;
    if ((await modelBytes(model)) > options.maxModelBytes) return undefined;
    if (!signature.inputs.every((s) => s.shape.length >= 1 && s.shape[0] === -1)) return undefined;
    const fetches = signature.outputs.map((o) => o.name);
    const session = NativeOrtSession.open(
      model,
      {
        executionProviders: ['cpu'],
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      },
      fetches,
    );
    const timed = (rows: number): number => {
      const feeds = zeros(signature, rows);
      const times: number[] = [];
      for (let i = 0; i < CALIBRATION_RUNS; i++) {
        const started = performance.now();
        session.run(feeds);
        times.push(performance.now() - started);
      }
      return median(times);
    };
    try {
      timed(1); // first runs allocate
      const one = timed(1);
      const many = timed(CALIBRATION_ROWS);
      const perRow = Math.max(0, (many - one) / (CALIBRATION_ROWS - 1));
      if (one > options.maxBlockMs) {
        session.release();
        return undefined;
      }
      return new InlineSession(session, fetches, one, perRow, options.maxBlockMs);
    } catch {
      // A model that cannot run zeros here still runs on the threads, which report its errors.
      session.release();
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

  /**
   * Whether a request of `rows` rows may run here. One refused only because the estimate has grown
   * (it would fit at the calibrated cost) lets the estimate come back down slowly: requests of that
   * size no longer run here, so no run of theirs would ever correct it. Without this, a drift raised
   * while the host was contended (a run here beside a run on an inference thread, at 64 connections)
   * kept every later 100-row request on the threads, one connection included.
   */
  fits(rows: number): boolean {
    if (rows > MAX_INLINE_ROWS) return false;
    const estimate = this.estimateMs(rows);
    if (estimate <= this.maxBlockMs) return true;
    if (this.drift > 1 && estimate / this.drift <= this.maxBlockMs) this.relax();
    return false;
  }

  /** Moves the estimate 1 % of the way back to the calibration and forgets the recent runs. */
  private relax(): void {
    this.drift = 1 + (this.drift - 1) * 0.99;
    this.recent.length = 0;
    this.recentCount = 0;
  }

  /** The most rows one run here may hold within the bound (0: none, the estimate has grown past it). */
  maxRows(): number {
    const spare = this.maxBlockMs / this.drift - this.fixedMs;
    if (spare < 0) {
      // Nothing runs here, so nothing corrects the estimate: let it come back down slowly.
      this.relax();
      return 0;
    }
    return this.perRowMs > 0
      ? Math.min(MAX_INLINE_ROWS, 1 + Math.floor(spare / this.perRowMs))
      : MAX_INLINE_ROWS;
  }

  /**
   * Runs `inputs` (all with the same rows along the first dimension) now, blocking this thread for
   * the run, and returns one tensor per output of the signature. Callers keep within `maxRows()`.
   */
  runNow(inputs: readonly Tensor[]): Tensor[] {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of inputs) feeds[t.name] = new ort.Tensor(t.dtype, t.data as Float32Array, t.dims);
    const rows = inputs[0]?.dims[0] ?? 1;
    const predicted = this.estimateMs(rows) / this.drift;
    const started = performance.now();
    let result: ReturnType<NativeOrtSession['run']>;
    try {
      result = this.session.run(feeds);
    } catch (e) {
      throw new ProgradeError(
        'SERVING_INFERENCE_FAILED',
        `inference failed: ${e instanceof Error ? e.message : String(e)}`,
        'terminal',
      );
    }
    this.observe((performance.now() - started) / Math.max(predicted, 1e-3));
    const outputs: Tensor[] = [];
    for (const name of this.fetches) {
      const value = result[name];
      if (!value || !isNumeric(value.type))
        throw new ProgradeError('SERVING_INFERENCE_FAILED', `inference returned no numeric '${name}'`);
      outputs.push({ name, dtype: value.type, dims: value.dims, data: value.data as TensorData });
    }
    return outputs;
  }

  close(): Promise<void> {
    this.session.release();
    return Promise.resolve();
  }
}
