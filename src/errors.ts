import { exitClassOf, type ErrorCode, type ExitClass } from './error-codes';

export type { ErrorCode, ExitClass } from './error-codes';

/**
 * Every error prograde raises on purpose is a `ProgradeError`: a `code` from the closed catalogue
 * in `src/error-codes.ts`, a retry class, and identifiers in `details`. Activities turn them into
 * Temporal failures with `type = code` (see `src/activities/failures.ts`), so the retry policy and
 * the CLI's exit code both follow from the error itself: the exit class is the catalogue's entry
 * for the code, never a match on how the code is spelled.
 */
export type RetryClass = 'retryable' | 'terminal';

export class ProgradeError extends Error {
  override readonly name: string = 'ProgradeError';

  constructor(
    /** Stable code from the catalogue, e.g. `MLFLOW_RESOURCE_DOES_NOT_EXIST`. Never reworded. */
    readonly code: ErrorCode,
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

  /** How a CLI run ends when this error reaches it. */
  get exitClass(): ExitClass {
    return exitClassOf(this.code);
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
