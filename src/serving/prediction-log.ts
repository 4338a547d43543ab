import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';

export interface PredictionLogOptions {
  readonly file: string;
  /** Fraction of requests logged, 0..1. */
  readonly sampleRate: number;
  /** Records waiting for the disk beyond this many bytes are dropped, not queued in memory. */
  readonly maxBufferedBytes?: number;
  /** How long after a write error the file is reopened. */
  readonly retryAfterMs?: number;
  /** Told once per failure episode (not per record), and once when writing works again. */
  readonly onTrouble?: (event: PredictionLogTrouble) => void;
  /** Told of every sampled record that was dropped (for a counter). */
  readonly onDrop?: () => void;
  /** This gateway replica's identity (--replica-id), written on every record; read at each record. */
  readonly replica?: () => string | undefined;
}

export type PredictionLogTrouble =
  | { readonly kind: 'failed'; readonly error: Error }
  | { readonly kind: 'recovered'; readonly dropped: number };

export interface PredictionRecord {
  readonly at: string;
  /** The request's `x-request-id` (given or generated), to join a prediction to logs and labels. */
  readonly requestId?: string;
  readonly model: string;
  readonly version: string;
  readonly variant: string;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly outputs: Readonly<Record<string, readonly number[]>>;
  /** The replica that served the request (stamped by the log, not by the caller). */
  readonly replica?: string;
}

const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;
const DEFAULT_RETRY_AFTER_MS = 5_000;

/**
 * Sampled request/response pairs as JSONL, for offline drift and label-join analyses.
 *
 * The log is best effort and never the reason a request fails or the gateway stops: a write error
 * (a full disk, a vanished directory) drops records and counts them, and the file is reopened after
 * a pause, so logging resumes by itself once the disk has room. A write stream's unhandled 'error'
 * would otherwise take the whole process down; a slow disk would otherwise queue records in memory
 * without bound.
 */
export class PredictionLog {
  private stream: WriteStream | undefined;
  private broken = false;
  private droppedTotal = 0;
  private droppedSinceFailure = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: PredictionLogOptions,
    private readonly random: () => number = Math.random,
  ) {
    mkdirSync(path.dirname(options.file), { recursive: true });
    this.open();
  }

  /** Records dropped because the disk failed or could not keep up, since start. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Builds the record only for sampled requests: serialising every batch would cost more than serving it. */
  maybeLog(build: () => PredictionRecord): void {
    if (this.options.sampleRate <= 0 || this.random() >= this.options.sampleRate) return;
    const stream = this.stream;
    const limit = this.options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    if (!stream || stream.writableLength > limit) return this.drop();
    const replica = this.options.replica?.();
    const record = build();
    const line = JSON.stringify(replica === undefined ? record : { ...record, replica }) + '\n';
    if (!this.broken) return void stream.write(line);
    // After a failure, the first write that reaches the disk ends the episode.
    stream.write(line, (error) => {
      if (error) return this.drop();
      if (!this.broken || this.stream !== stream) return;
      this.broken = false;
      this.options.onTrouble?.({ kind: 'recovered', dropped: this.droppedSinceFailure });
      this.droppedSinceFailure = 0;
    });
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const stream = this.stream;
    if (!stream || stream.destroyed) return Promise.resolve();
    return new Promise((resolve) => stream.end(resolve));
  }

  private drop(): void {
    this.droppedTotal += 1;
    this.droppedSinceFailure += 1;
    this.options.onDrop?.();
  }

  private open(): void {
    const stream = createWriteStream(this.options.file, { flags: 'a' });
    stream.on('error', (error) => this.fail(stream, error));
    this.stream = stream;
  }

  private fail(stream: WriteStream, error: Error): void {
    if (this.stream !== stream) return;
    // Records queued behind the first failed write go with the stream uncounted (counting each would
    // cost a callback per record in the healthy case); from then on every lost record is counted.
    if (!this.broken) {
      this.broken = true;
      this.options.onTrouble?.({ kind: 'failed', error });
    }
    stream.destroy();
    this.stream = undefined;
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.open();
    }, this.options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS);
    this.retryTimer.unref();
  }
}
