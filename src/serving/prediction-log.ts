import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';

export interface PredictionLogOptions {
  readonly file: string;
  /** Fraction of requests logged, 0..1. */
  readonly sampleRate: number;
}

export interface PredictionRecord {
  readonly at: string;
  /** The request's `x-request-id` (given or generated), to join a prediction to logs and labels. */
  readonly requestId?: string;
  readonly model: string;
  readonly version: string;
  readonly variant: string;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly outputs: Readonly<Record<string, readonly number[]>>;
}

/** Sampled request/response pairs as JSONL, for offline drift and label-join analyses. */
export class PredictionLog {
  private readonly stream: WriteStream;

  constructor(
    private readonly options: PredictionLogOptions,
    private readonly random: () => number = Math.random,
  ) {
    mkdirSync(path.dirname(options.file), { recursive: true });
    this.stream = createWriteStream(options.file, { flags: 'a' });
  }

  /** Builds the record only for sampled requests: serialising every batch would cost more than serving it. */
  maybeLog(build: () => PredictionRecord): void {
    if (this.options.sampleRate <= 0 || this.random() >= this.options.sampleRate) return;
    this.stream.write(JSON.stringify(build()) + '\n');
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
