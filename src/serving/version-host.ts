import type { Logger } from 'pino';
import { ProgradeError, messageOf } from '../errors';
import { publicMessageOf } from './http-util';
import { MicroBatcher, type BatchingOptions } from './batcher';
import type { ModelSource } from './model-source';
import type { Tensor } from './tensors';
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

  constructor(
    readonly model: string,
    readonly version: string,
    readonly sha256: string,
    readonly signature: ModelSignature,
    readonly loadedAt: string,
    pool: WorkerPool,
    batching: BatchingOptions,
  ) {
    const key = versionKey(model, version);
    this.batcher = new MicroBatcher(
      (feeds, fetches) => pool.run(key, feeds, fetches),
      signature.outputs.map((o) => o.name),
      batching,
    );
  }

  async infer(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]> {
    this.inflight += 1;
    try {
      return await this.batcher.submit(inputs, rows);
    } finally {
      this.inflight -= 1;
    }
  }

  get busy(): boolean {
    return this.inflight > 0;
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
      const ready = new ReadyVersion(
        model,
        version,
        artifact.sha256,
        signature,
        new Date().toISOString(),
        this.pool,
        this.batching,
      );
      this.slots.set(key, { state: 'ready', ready });
      this.logger.info(
        { model, version, sha256: artifact.sha256, ms: Date.now() - started },
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
    this.logger.info({ model, version }, 'model version unloaded');
  }
}
