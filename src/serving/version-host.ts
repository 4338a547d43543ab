import type { Logger } from 'pino';
import { ProgradeError, messageOf } from '../errors';
import { publicMessageOf } from './http-util';
import { MicroBatcher, type BatchingOptions } from './batcher';
import { InlineLane } from './inline-lane';
import type { ModelSource } from './model-source';
import type { Tensor } from './tensors';
import { InlineSession, type InlineOptions } from './worker/inline-runner';
import type { ModelSignature } from './worker/messages';
import type { WorkerPool } from './worker/worker-pool';

export type LoadStatus = 'loading' | 'ready' | 'failed';

export interface VersionStatus {
  readonly status: LoadStatus;
  readonly sha256?: string;
  readonly error?: string;
  readonly loadedAt?: string;
}

/** A version whose sessions are open and warmed up in every worker of a pool. */
export class ReadyVersion {
  private inflight = 0;
  private readonly batcher: MicroBatcher;
  private readonly lane: InlineLane | undefined;

  constructor(
    readonly model: string,
    readonly version: string,
    readonly sha256: string,
    readonly signature: ModelSignature,
    readonly loadedAt: string,
    pool: WorkerPool,
    batching: BatchingOptions,
    /** A session on the event loop for small requests (see worker/inline-runner.ts). */
    private readonly inline?: InlineSession,
    /** Least estimated run of an inline batch handed to an idle thread (inline-lane.ts). */
    spillMinMs = Infinity,
  ) {
    const key = versionKey(model, version);
    const fetches = signature.outputs.map((o) => o.name);
    this.batcher = new MicroBatcher((feeds, f) => pool.run(key, feeds, f), fetches, batching);
    const batcher = this.batcher;
    this.lane = inline
      ? new InlineLane(inline, {
          minMs: spillMinMs,
          idle: () => pool.hasIdleThread,
          run: (inputs, rows) => batcher.runBatch(inputs, rows),
        })
      : undefined;
  }

  /**
   * The outputs at once, when the request is small enough for the event loop and nothing ran there in
   * this turn (inline-lane.ts); undefined when it must wait (then `infer`). Throws what the run throws.
   */
  inferNow(inputs: readonly Tensor[], rows: number): readonly Tensor[] | undefined {
    if (!this.lane || !this.lane.fits(rows)) return undefined;
    return this.lane.runNow(inputs);
  }

  async infer(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]> {
    this.inflight += 1;
    try {
      // Small enough for one run within the stated bound: on the event loop; otherwise the threads.
      if (this.lane?.fits(rows)) return await this.lane.submit(inputs, rows);
      return await this.batcher.submit(inputs, rows);
    } finally {
      this.inflight -= 1;
    }
  }

  get busy(): boolean {
    return this.inflight > 0;
  }

  /** The estimated cost of an inline run of one row, ms, when this version has an inline session. */
  get inlineEstimateMs(): number | undefined {
    return this.inline?.estimateMs(1);
  }

  async closeInline(): Promise<void> {
    await this.inline?.close();
  }
}

type Slot =
  | { readonly state: 'loading'; readonly done: Promise<ReadyVersion> }
  | { readonly state: 'ready'; readonly ready: ReadyVersion }
  | { readonly state: 'failed'; readonly error: string };

export function versionKey(model: string, version: string): string {
  return `${model}@${version}`;
}

/**
 * The versions loaded in one worker pool. Loads are de-duplicated (two routing changes naming the
 * same version share one load) and a failed load can be retried by asking again.
 */
export class VersionHost {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly pool: WorkerPool,
    private readonly source: ModelSource,
    private readonly batching: BatchingOptions,
    private readonly logger: Logger,
    /** Inline inference for lone small requests; unset (as for shadow versions): always the threads. */
    private readonly inline?: InlineOptions,
  ) {}

  ensure(model: string, version: string): Promise<ReadyVersion> {
    const key = versionKey(model, version);
    const slot = this.slots.get(key);
    if (slot?.state === 'ready') return Promise.resolve(slot.ready);
    if (slot?.state === 'loading') return slot.done;
    const done = this.load(model, version);
    this.slots.set(key, { state: 'loading', done });
    return done;
  }

  private async load(model: string, version: string): Promise<ReadyVersion> {
    const key = versionKey(model, version);
    const started = Date.now();
    try {
      const artifact = await this.source.load(model, version);
      const modelRef = 'onnxPath' in artifact ? { onnxPath: artifact.onnxPath } : { bytes: artifact.bytes };
      const signature = await this.pool.load(key, modelRef);
      const inline = await this.openInline(model, version, modelRef, signature);
      const ready = new ReadyVersion(
        model,
        version,
        artifact.sha256,
        signature,
        new Date().toISOString(),
        this.pool,
        this.batching,
        inline,
        this.inline?.spillMinMs,
      );
      this.slots.set(key, { state: 'ready', ready });
      this.logger.info(
        {
          model,
          version,
          sha256: artifact.sha256,
          ms: Date.now() - started,
          inlineMs: inline ? { oneRow: inline.fixedMs, perRow: inline.perRowMs } : null,
        },
        'model version loaded and warmed up',
      );
      return ready;
    } catch (e) {
      // The status is shown to clients (503 answers, the routing view): no paths or registry URLs.
      this.slots.set(key, { state: 'failed', error: publicMessageOf(e) });
      if (e instanceof ProgradeError && e.code === 'SERVING_VERSION_NOT_FOUND')
        // Asked for by a routing PUT that named a version that does not exist: the caller's error.
        this.logger.info({ model, version, code: e.code }, 'model version not found');
      else this.logger.warn({ model, version, err: e }, 'model version failed to load');
      if (e instanceof ProgradeError) throw e;
      throw new ProgradeError(
        'SERVING_MODEL_LOAD_FAILED',
        `loading ${key} failed: ${messageOf(e)}`,
        'retryable',
        { model, version },
        { cause: e },
      );
    }
  }

  /** An event-loop session for the version, or undefined (off, too big, too slow, or it failed to open). */
  private async openInline(
    model: string,
    version: string,
    modelRef: { onnxPath: string } | { bytes: Uint8Array },
    signature: ModelSignature,
  ): Promise<InlineSession | undefined> {
    if (!this.inline || this.inline.maxBlockMs <= 0) return undefined;
    try {
      return await InlineSession.open(modelRef, signature, this.inline);
    } catch (e) {
      this.logger.warn(
        { model, version, err: e },
        'no inline session: every request goes to the inference threads',
      );
      return undefined;
    }
  }

  ready(model: string, version: string): ReadyVersion | undefined {
    const slot = this.slots.get(versionKey(model, version));
    return slot?.state === 'ready' ? slot.ready : undefined;
  }

  status(model: string, version: string): VersionStatus | undefined {
    const slot = this.slots.get(versionKey(model, version));
    if (!slot) return undefined;
    if (slot.state === 'loading') return { status: 'loading' };
    if (slot.state === 'failed') return { status: 'failed', error: slot.error };
    return { status: 'ready', sha256: slot.ready.sha256, loadedAt: slot.ready.loadedAt };
  }

  /** Versions of `model` this host holds (loaded, loading or failed). */
  versionsOf(model: string): string[] {
    const prefix = `${model}@`;
    return [...this.slots.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** Closes a version's sessions once the requests already on it have finished. */
  async unload(model: string, version: string, drainTimeoutMs = 30_000): Promise<void> {
    const key = versionKey(model, version);
    const slot = this.slots.get(key);
    this.slots.delete(key);
    if (slot?.state !== 'ready') return;
    const deadline = Date.now() + drainTimeoutMs;
    while (slot.ready.busy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.pool.unload(key);
    await slot.ready.closeInline();
    this.logger.info({ model, version }, 'model version unloaded');
  }
}
