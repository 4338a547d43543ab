import { ApplicationFailure } from '@temporalio/common';
import { ProgradeError, messageOf } from '../errors';

/**
 * How errors cross into Temporal: a ProgradeError becomes an ApplicationFailure whose `type` is its
 * stable code and whose retry class decides `nonRetryable`. Anything unexpected stays retryable —
 * an unknown error is more likely a passing fault than a verdict.
 */
export function toFailure(e: unknown): unknown {
  if (e instanceof ApplicationFailure) return e;
  if (e instanceof ProgradeError) {
    return ApplicationFailure.create({
      type: e.code,
      message: e.message,
      nonRetryable: !e.retryable,
      details: [e.details],
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(messageOf(e));
}

/** Wraps every activity of an object so its errors are translated by `toFailure`. */
export function withFailureTranslation<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  acts: T,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (e) {
        throw toFailure(e);
      }
    };
  }
  return wrapped as T;
}
