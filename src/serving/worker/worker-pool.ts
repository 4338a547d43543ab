import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ProgradeError } from '../../errors';
import type { LoadRequest, ModelSignature, StopRequest, ToWorker, WireTensor, WorkerReply } from './messages';

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
 * Starts a worker thread from a module beside this file. Worker threads do not inherit the parent's
 * tsx hooks (nor vitest's), so a source checkout boots the thread through a tiny eval'd script that
 * registers tsx and then requires the TypeScript module; a compiled build loads the .js file directly.
 */
export function spawnModuleWorker(basename: string, workerData?: unknown): Worker {
  const compiled = path.join(__dirname, `${basename}.js`);
  if (existsSync(compiled)) return new Worker(compiled, { workerData });
  const source = path.join(__dirname, `${basename}.ts`);
  const tsx = require.resolve('tsx/cjs');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(source)});`, {
    eval: true,
    workerData,
  });
}

export function spawnInferenceWorker(): Worker {
  return spawnModuleWorker('inference-worker');
}

/** How long `close` lets a thread finish the run it is in before terminating it. */
const CLOSE_GRACE_MS = 5_000;

/** Crashes within this window count towards the restart back-off. */
const CRASH_WINDOW_MS = 60_000;
const MAX_RESTART_DELAY_MS = 5_000;

/** Restart delay after `recentCrashes` crashes in the window: at once, then 100 ms doubling to 5 s. */
export function restartDelayMs(recentCrashes: number): number {
  return recentCrashes <= 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (recentCrashes - 2));
}

function crashError(e: Error, worker: number): ProgradeError {
  return new ProgradeError('SERVING_WORKER_CRASHED', e.message, 'retryable', { worker }, { cause: e });
}

interface PoolWorkerHooks {
  readonly spawn: () => Worker;
  /** Load messages for every session the pool holds, replayed into a restarted thread. */
  readonly sessions: () => Omit<LoadRequest, 'id'>[];
  readonly logger: Logger;
}

/**
 * One inference thread and its replacement after a crash. While a restarted thread reloads its
 * sessions the worker is not `available`, and every `send` waits for it: a run posted to a fresh
 * thread before its session is back would fail with "not loaded" for no reason of the caller's.
 */
class PoolWorker {
  private worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Settles (never rejects) once the current thread holds every session; replaced by each crash. */
  private ready: Promise<void> = Promise.resolve();
  private restarting = false;
  private readonly crashes: number[] = [];
  /** Settles when the current thread has exited, whatever ended it (close waits for it). */
  private exited: Promise<void> = Promise.resolve();
  inflight = 0;
  closed = false;

  constructor(
    readonly index: number,
    private readonly hooks: PoolWorkerHooks,
  ) {
    this.worker = this.start();
  }

  get available(): boolean {
    return !this.restarting && !this.closed;
  }

  private start(): Worker {
    const worker = this.hooks.spawn();
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    let failure: Error | undefined;
    // Events of a thread already replaced are stale: acting on them would kill its successor.
    worker.on('message', (reply: WorkerReply) => {
      if (worker === this.worker) this.settle(reply);
    });
    // An uncaught error is followed by 'exit'; keep it as the reason and restart once, on exit.
    worker.on('error', (e) => (failure = e));
    worker.on('exit', (code) => {
      if (worker !== this.worker || this.closed) return;
      this.crashed(failure ?? new Error(`inference worker ${this.index} exited with code ${code}`));
    });
    return worker;
  }

  private crashed(e: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.inflight = 0;
    for (const p of pending) p.reject(crashError(e, this.index));

    const now = Date.now();
    this.crashes.push(now);
    while ((this.crashes[0] ?? now) < now - CRASH_WINDOW_MS) this.crashes.shift();
    const delayMs = restartDelayMs(this.crashes.length);
    this.hooks.logger.error(
      { worker: this.index, err: e, restartInMs: delayMs, crashesLastMinute: this.crashes.length },
      'inference worker crashed; restarting it and reloading its sessions',
    );
    this.restarting = true;
    const restart = (async () => {
      if (delayMs > 0) await sleep(delayMs);
      if (this.closed) return;
      try {
        this.worker = this.start();
      } catch (err) {
        // A thread that cannot even start (a broken install) counts as another crash, with back-off.
        this.crashed(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const loads = this.hooks.sessions().map(async (msg) => {
        try {
          await this.post(msg);
        } catch (err) {
          this.hooks.logger.error({ worker: this.index, key: msg.key, err }, 'reloading a session failed');
        }
      });
      await Promise.all(loads);
    })();
    this.ready = restart;
    void restart.finally(() => {
      // A crash during the reload started another restart: that one decides.
      if (this.ready === restart) this.restarting = false;
    });
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.inflight -= 1;
    if (reply.ok) p.resolve(reply);
    else p.reject(new ProgradeError(reply.code, reply.message, 'terminal', { worker: this.index }));
  }

  /** Posts once the thread is up and holds its sessions. */
  async send(msg: Outgoing): Promise<WorkerReply & { ok: true }> {
    for (let current = this.ready; ; current = this.ready) {
      await current;
      if (current === this.ready) break;
    }
    return this.post(msg);
  }

  private post(msg: Outgoing): Promise<WorkerReply & { ok: true }> {
    if (this.closed)
      return Promise.reject(
        new ProgradeError('SERVING_POOL_CLOSED', 'the inference pool is closed', 'terminal'),
      );
    const id = this.nextId++;
    this.inflight += 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: ToWorker = { ...msg, id };
      // Inputs are copied, not transferred: the caller keeps them to re-run a batch whose thread died.
      this.worker.postMessage(message);
    });
  }

  /**
   * Fails what is still pending at once, then lets the thread finish the run it is in and exit by
   * itself (messages.ts, StopRequest); `terminate()` only after `graceMs`, for a thread stuck in a run.
   */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values())
      p.reject(new ProgradeError('SERVING_POOL_CLOSED', 'the inference pool is closed', 'terminal'));
    this.pending.clear();
    this.inflight = 0;
    const worker = this.worker;
    const stop: StopRequest = { kind: 'stop' };
    worker.postMessage(stop);
    const grace = new AbortController();
    const exited = await Promise.race([
      this.exited.then(() => true),
      sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    grace.abort();
    if (!exited) {
      this.hooks.logger.warn(
        { worker: this.index, graceMs },
        'inference worker did not stop in time; terminating it',
      );
      await worker.terminate();
    }
  }
}

export interface WorkerPoolOptions {
  readonly size: number;
  readonly intraOpNumThreads: number;
  readonly warmupRuns: number;
  readonly logger: Logger;
  /** Starts one inference thread; tests pass one that keeps a handle on each thread. */
  readonly spawn?: () => Worker;
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
    const hooks: PoolWorkerHooks = {
      spawn: options.spawn ?? spawnInferenceWorker,
      sessions: () => [...this.loaded].map(([key, model]) => this.loadMessage(key, model)),
      logger: options.logger,
    };
    this.workers = Array.from({ length: options.size }, (_, i) => new PoolWorker(i, hooks));
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

  /**
   * Runs one batch on the least busy available worker. Inference is a pure function of its inputs,
   * so a batch whose thread crashed under it is run once more on another (or the restarted) thread;
   * a batch that kills two threads in a row fails with SERVING_WORKER_CRASHED.
   */
  async run(
    key: string,
    feeds: readonly WireTensor[],
    fetches: readonly string[],
  ): Promise<readonly WireTensor[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.pick().send({ kind: 'run', key, feeds, fetches });
        if (reply.kind !== 'ran')
          throw new ProgradeError('SERVING_WORKER_FAILED', `unexpected reply while running ${key}`);
        return reply.outputs;
      } catch (e) {
        if (attempt >= 2 || !(e instanceof ProgradeError) || e.code !== 'SERVING_WORKER_CRASHED') throw e;
        this.options.logger.warn({ key, err: e }, 're-running a batch whose inference worker crashed');
      }
    }
  }

  /** Whether some thread is up and running nothing (a batch sent now starts at once). */
  get hasIdleThread(): boolean {
    return this.workers.some((w) => w.available && w.inflight === 0);
  }

  /** The least busy worker that is up, or the least busy one when all are restarting. */
  private pick(): PoolWorker {
    const up = this.workers.filter((w) => w.available);
    const candidates = up.length > 0 ? up : this.workers;
    return candidates.reduce((best, w) => (w.inflight < best.inflight ? w : best));
  }

  async unload(key: string): Promise<void> {
    this.loaded.delete(key);
    await Promise.allSettled(this.workers.map((w) => w.send({ kind: 'unload', key })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
