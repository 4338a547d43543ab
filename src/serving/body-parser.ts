import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { fastParse } from './codecs/fast-numeric';
import { HttpError } from './http-util';
import { parseJsonBody } from './json-body';
import type { ExactReading } from './codecs/given';
import { parseRequest, type GivenRequest } from './request-tensors';
import { ownedBuffer } from './tensors';
import type { ParseReply, ParseTask } from './worker/parse-messages';
import { spawnModuleWorker } from './worker/worker-pool';

export interface BodyParserOptions {
  readonly maxDepth: number;
  readonly maxRows: number;
  /** Bodies of at least this many bytes are parsed on the parse thread. */
  readonly offThreadBytes: number;
  readonly logger: Logger;
}

/** The parse thread's nice value (Linux): a big parse never outbids the event loop or inference for a core. */
const PARSE_THREAD_NICE = 10;

interface Pending {
  readonly resolve: (request: GivenRequest) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Request body → `GivenRequest`. Small bodies are parsed in place (a thread hop would cost more than
 * the parse); big ones on one lazily started parse thread, one after another, so at most one big
 * JSON tree is alive at a time. A crashed thread fails its requests with 503 and is restarted on the
 * next big body.
 */
/** The general path's reading of a body the fast path read within float32 rounding. */
class GeneralReading implements ExactReading {
  constructor(
    private readonly parser: BodyParser,
    private readonly kind: 'v2' | 'mlflow',
    private readonly bytes: Buffer,
  ) {}

  read(): GivenRequest {
    return this.parser.parseGeneral(this.kind, this.bytes);
  }
}

export class BodyParser {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: BodyParserOptions) {}

  async parse(kind: 'v2' | 'mlflow', bytes: Buffer): Promise<GivenRequest> {
    if (this.parsesHere(bytes)) return this.parseHere(kind, bytes);
    return this.parseOffThread(kind, bytes);
  }

  /** Whether `parse` parses these bytes on the event loop (then `parseHere` gives the same, without a promise). */
  parsesHere(bytes: Buffer): boolean {
    return bytes.length < this.options.offThreadBytes;
  }

  /**
   * On the event loop: the fast path for plain numeric bodies (codecs/fast-numeric.ts), else the
   * general one (JSON.parse, then the codec), which also makes every refusal.
   */
  parseHere(kind: 'v2' | 'mlflow', bytes: Buffer): GivenRequest {
    const fast = fastParse(kind, bytes, this.options);
    if (!fast) return this.parseGeneral(kind, bytes);
    if (fast.approximate) fast.exact = new GeneralReading(this, kind, bytes);
    return fast;
  }

  /** The general path: JSON.parse, then the codec; every refusal is made here. */
  parseGeneral(kind: 'v2' | 'mlflow', bytes: Buffer): GivenRequest {
    const { maxDepth, maxRows } = this.options;
    return parseRequest(kind, parseJsonBody(bytes, maxDepth), { maxRows });
  }

  private parseOffThread(kind: 'v2' | 'mlflow', bytes: Buffer): Promise<GivenRequest> {
    if (this.closed)
      return Promise.reject(new HttpError(503, 'SERVING_SHUTTING_DOWN', 'the gateway is shutting down'));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    // The buffer is handed over: copy only when it is a view on a shared pool.
    const buffer = ownedBuffer(bytes);
    const task: ParseTask = {
      id,
      kind,
      bytes: buffer,
      maxDepth: this.options.maxDepth,
      maxRows: this.options.maxRows,
    };
    return new Promise<GivenRequest>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keeps the process alive while a parse is pending; an idle parse thread does not.
      worker.ref();
      worker.postMessage(task, [buffer]);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = spawnModuleWorker('parse-worker', { nice: PARSE_THREAD_NICE });
    let failure: Error | undefined;
    worker.on('message', (reply: ParseReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply.request);
      else p.reject(new HttpError(reply.status, reply.code, reply.message, reply.details));
    });
    worker.on('error', (e) => (failure = e));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      const pending = [...this.pending.values()];
      this.pending.clear();
      if (this.closed && pending.length === 0) return;
      this.options.logger.error(
        { err: failure, code, failedRequests: pending.length },
        'the request parse thread exited; it is restarted on the next big body',
      );
      for (const p of pending)
        p.reject(
          new HttpError(
            503,
            'SERVING_PARSE_THREAD_CRASHED',
            'the request parser restarted; retry the request',
            {},
            { retryAfterSec: 1 },
          ),
        );
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}
