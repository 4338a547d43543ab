import { ProgradeError } from '../errors';
import { allocate, fromWire, ownedBuffer, rowWidth, type Tensor, type TensorData } from './tensors';
import type { WireTensor } from './worker/messages';

export interface BatchingOptions {
  /** Rows in one run; a request with more rows runs alone. */
  readonly maxBatchSize: number;
  /** How long the first queued request waits for company before its batch runs. */
  readonly maxWaitMs: number;
  /**
   * When fewer runs than this are in flight, a request runs at once instead of waiting: batching
   * only pays while the inference threads are busy, and an idle gateway should not add `maxWaitMs`
   * to every request (benchmarked: p50 3.0 ms → 0.3 ms at concurrency 1). Unset: always wait.
   */
  readonly maxConcurrentRuns?: number;
}

export type RunBatch = (
  feeds: readonly WireTensor[],
  fetches: readonly string[],
) => Promise<readonly WireTensor[]>;

interface Queued {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
  readonly resolve: (outputs: readonly Tensor[]) => void;
  readonly reject: (e: unknown) => void;
}

interface Queue {
  items: Queued[];
  rows: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Micro-batching for one model version: rows of concurrent requests are concatenated along the
 * first dimension into one ORT run and the outputs are split back per request. Requests whose
 * non-batch dimensions differ cannot share a tensor, so each distinct shape has its own queue.
 */
export class MicroBatcher {
  private readonly queues = new Map<string, Queue>();
  private inFlight = 0;

  constructor(
    private readonly run: RunBatch,
    private readonly fetches: readonly string[],
    private readonly options: BatchingOptions,
  ) {}

  /** `inputs` all carry `rows` rows along their first dimension. */
  submit(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]> {
    const key = shapeKey(inputs);
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(key);
      if (!queue) {
        queue = { items: [], rows: 0, timer: undefined };
        this.queues.set(key, queue);
      }
      if (queue.rows > 0 && queue.rows + rows > this.options.maxBatchSize) this.flush(key);
      queue = this.queues.get(key) ?? { items: [], rows: 0, timer: undefined };
      this.queues.set(key, queue);
      queue.items.push({ inputs, rows, resolve, reject });
      queue.rows += rows;
      const idle =
        this.options.maxConcurrentRuns !== undefined && this.inFlight < this.options.maxConcurrentRuns;
      if (queue.rows >= this.options.maxBatchSize || idle) this.flush(key);
      else queue.timer ??= setTimeout(() => this.flush(key), this.options.maxWaitMs);
    });
  }

  /** Runs `inputs`, already one batch of `rows` rows, on a thread now: no queue, no wait. */
  runBatch(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]> {
    return new Promise((resolve, reject) => void this.execute([{ inputs, rows, resolve, reject }], rows));
  }

  private flush(shapeKey: string): void {
    const queue = this.queues.get(shapeKey);
    if (!queue || queue.items.length === 0) return;
    this.queues.delete(shapeKey);
    if (queue.timer) clearTimeout(queue.timer);
    void this.execute(queue.items, queue.rows);
  }

  private async execute(items: readonly Queued[], totalRows: number): Promise<void> {
    this.inFlight++;
    try {
      const feeds = concatenate(items, totalRows);
      const outputs = (await this.run(feeds, this.fetches)).map(fromWire);
      let offset = 0;
      for (const item of items) {
        item.resolve(outputs.map((o) => sliceRows(o, offset, item.rows, totalRows)));
        offset += item.rows;
      }
    } catch (e) {
      for (const item of items) item.reject(e);
    } finally {
      this.inFlight--;
      // What queued up while the threads were busy runs now rather than at its timer.
      if (this.options.maxConcurrentRuns !== undefined)
        for (const key of [...this.queues.keys()]) this.flush(key);
    }
  }
}

/** A request's inputs and its rows along their first dimension. */
export interface RowsOf {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
}

/**
 * The inputs of several requests with the same non-batch shape, joined along the first dimension in
 * their order. A lone request's own tensors are returned as they are (no new buffer and copy: each
 * ArrayBuffer is an off-heap allocation the GC must also sweep); nothing downstream writes to them.
 */
export function concatRows(items: readonly RowsOf[], totalRows: number): readonly Tensor[] {
  const first = items[0];
  if (!first) return [];
  if (items.length === 1) return first.inputs;
  return first.inputs.map((template, i) => {
    const width = rowWidth(template.dims);
    const data = allocate(template.dtype, totalRows * width);
    let offset = 0;
    for (const item of items) {
      const part = item.inputs[i];
      if (!part)
        throw new ProgradeError('SERVING_BATCH_MISMATCH', `a batched request lacks input '${template.name}'`);
      (data as Float32Array).set(part.data as Float32Array, offset);
      offset += part.data.length;
    }
    return { name: template.name, dtype: template.dtype, dims: [totalRows, ...template.dims.slice(1)], data };
  });
}

function concatenate(items: readonly Queued[], totalRows: number): WireTensor[] {
  return concatRows(items, totalRows).map((t) => ({
    name: t.name,
    dtype: t.dtype,
    dims: t.dims,
    // The pool copies the feeds to a thread; a view that does not span its buffer is copied first.
    buffer: ownedBuffer(t.data),
  }));
}

/** One request's rows `start…start+rows` of a batch output (the output itself when the batch was all its own). */
export function sliceRows(t: Tensor, start: number, rows: number, totalRows: number): Tensor {
  if (t.dims[0] !== totalRows) {
    throw new ProgradeError(
      'SERVING_OUTPUT_NOT_BATCHED',
      `output '${t.name}' has first dimension ${t.dims[0]} for a batch of ${totalRows} rows; the gateway needs one output row per input row`,
      'terminal',
      { output: t.name },
    );
  }
  if (start === 0 && rows === totalRows) return t;
  const width = rowWidth(t.dims);
  const data = t.data.slice(start * width, (start + rows) * width) as TensorData;
  return { name: t.name, dtype: t.dtype, dims: [rows, ...t.dims.slice(1)], data };
}

/** Requests share a run only when every input has the same name, dtype and non-batch dimensions. */
export function shapeKey(inputs: readonly Tensor[]): string {
  let key = '';
  for (const t of inputs) {
    key += `${t.name}:${t.dtype}:`;
    for (let i = 1; i < t.dims.length; i++) key += `${t.dims[i]}x`;
    key += '|';
  }
  return key;
}
