import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ProgradeError } from '../../errors';
import type { LoadRequest, ModelSignature, ToWorker, WireTensor, WorkerReply } from './messages';

/** Distributes to-worker messages without their `id`; the pool numbers them. */
type Outgoing =
  | Omit<LoadRequest, 'id'>
  | {
      readonly kind: 'run';
      readonly key: string;
      readonly feeds: readonly WireTensor[];
      readonly fetches: readonly string[];
    }
  | { readonly kind: 'unload'; readonly key: string };

interface Pending {
  readonly resolve: (reply: WorkerReply & { ok: true }) => void;
  readonly reject: (e: Error) => void;
}

/**
 * Starts the worker body. Worker threads do not inherit the parent's tsx hooks (nor vitest's), so a
 * source checkout boots the thread through a tiny eval'd script that registers tsx and then requires
 * the TypeScript module; a compiled build loads the .js file directly.
 */
function spawnWorker(): Worker {
  const compiled = path.join(__dirname, 'inference-worker.js');
  if (existsSync(compiled)) return new Worker(compiled);
  const source = path.join(__dirname, 'inference-worker.ts');
  const tsx = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(source)});`, { eval: true });
}

class PoolWorker {
  private worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  inflight = 0;
  closed = false;

  constructor(
    readonly index: number,
    private readonly onCrash: (w: PoolWorker, error: Error) => void,
  ) {
    this.worker = this.start();
  }

  private start(): Worker {
    const worker = spawnWorker();
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      if (this.closed) return;
      this.failAll(new Error(`inference worker ${this.index} exited with code ${code}`));
    });
    return worker;
  }

  private failAll(e: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.inflight = 0;
    for (const p of pending)
      p.reject(
        new ProgradeError(
          'SERVING_WORKER_CRASHED',
          e.message,
          'retryable',
          { worker: this.index },
          { cause: e },
        ),
      );
    if (!this.closed) {
      void this.worker.terminate();
      this.worker = this.start();
      this.onCrash(this, e);
    }
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.inflight -= 1;
    if (reply.ok) p.resolve(reply);
    else p.reject(new ProgradeError(reply.code, reply.message, 'terminal', { worker: this.index }));
  }

  send(msg: Outgoing, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.closed)
      return Promise.reject(
        new ProgradeError('SERVING_POOL_CLOSED', 'the inference pool is closed', 'terminal'),
      );
    const id = this.nextId++;
    this.inflight += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: ToWorker = { ...msg, id };
      this.worker.postMessage(message, transfer);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
    for (const p of this.pending.values())
      p.reject(new ProgradeError('SERVING_POOL_CLOSED', 'the inference pool is closed', 'terminal'));
    this.pending.clear();
  }
}

export interface WorkerPoolOptions {
  readonly size: number;
  readonly intraOpNumThreads: number;
  readonly warmupRuns: number;
  readonly logger: Logger;
}

/**
 * A fixed set of inference threads. Every worker holds a session for every loaded version, so any
 * worker can take any batch; a batch goes to the least busy one. A crashed worker is restarted and
 * its sessions reloaded.
 */
export class WorkerPool {
  private readonly workers: PoolWorker[];
  private readonly loaded = new Map<string, LoadRequest['model']>();

  constructor(private readonly options: WorkerPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 64) {
      throw new ProgradeError(
        'SERVING_POOL_SIZE_INVALID',
        `worker pool size must be an integer in 1..64, got ${options.size}`,
      );
    }
    this.workers = Array.from(
      { length: options.size },
      (_, i) => new PoolWorker(i, (w, e) => this.recover(w, e)),
    );
  }

  private recover(worker: PoolWorker, error: Error): void {
    this.options.logger.error(
      { worker: worker.index, err: error },
      'inference worker crashed; restarting and reloading its sessions',
    );
    for (const [key, model] of this.loaded) {
      worker.send(this.loadMessage(key, model)).catch((e: unknown) => {
        this.options.logger.error(
          { worker: worker.index, key, err: e },
          'reloading a session after a worker crash failed',
        );
      });
    }
  }

  private loadMessage(key: string, model: LoadRequest['model']): Omit<LoadRequest, 'id'> {
    return {
      kind: 'load',
      key,
      model,
      intraOpNumThreads: this.options.intraOpNumThreads,
      warmupRuns: this.options.warmupRuns,
    };
  }

  /** Opens (and warms up) `key` in every worker; resolves to the model's signature. */
  async load(key: string, model: LoadRequest['model']): Promise<ModelSignature> {
    const replies = await Promise.allSettled(this.workers.map((w) => w.send(this.loadMessage(key, model))));
    const failed = replies.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.unload(key);
      throw failed.reason;
    }
    this.loaded.set(key, model);
    const first = replies[0];
    if (first?.status !== 'fulfilled' || first.value.kind !== 'loaded') {
      throw new ProgradeError('SERVING_WORKER_FAILED', `unexpected reply while loading ${key}`);
    }
    return first.value.signature;
  }

  async run(
    key: string,
    feeds: readonly WireTensor[],
    fetches: readonly string[],
  ): Promise<readonly WireTensor[]> {
    const worker = this.workers.reduce((best, w) => (w.inflight < best.inflight ? w : best));
    const reply = await worker.send(
      { kind: 'run', key, feeds, fetches },
      feeds.map((f) => f.buffer),
    );
    if (reply.kind !== 'ran')
      throw new ProgradeError('SERVING_WORKER_FAILED', `unexpected reply while running ${key}`);
    return reply.outputs;
  }

  async unload(key: string): Promise<void> {
    this.loaded.delete(key);
    await Promise.allSettled(this.workers.map((w) => w.send({ kind: 'unload', key })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
