/**
 * Every error prograde raises on purpose is a `ProgradeError`: a stable machine-readable `code`,
 * a retry class, and identifiers in `details`. Activities turn them into Temporal failures with
 * `type = code` (see `src/activities/failures.ts`), so the retry policy and the CLI's exit code
 * both follow from the error itself rather than from string matching.
 */
export type RetryClass = 'retryable' | 'terminal';

export class ProgradeError extends Error {
  override readonly name: string = 'ProgradeError';

  constructor(
    /** Stable, SCREAMING_SNAKE code, e.g. `MLFLOW_RESOURCE_DOES_NOT_EXIST`. Never reworded. */
    readonly code: string,
    message: string,
    readonly retry: RetryClass = 'terminal',
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    return this.retry === 'retryable';
  }
}

/** Thrown when input from a person or a file is wrong; the message says what and where. */
export class InvalidInputError extends ProgradeError {
  override readonly name = 'InvalidInputError';
  constructor(
    message: string,
    details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super('INVALID_INPUT', message, 'terminal', details, options);
  }
}

export function isProgradeError(e: unknown): e is ProgradeError {
  return e instanceof ProgradeError;
}

/** The message of anything thrown, for logs and evidence. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
