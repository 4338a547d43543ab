import { ApplicationFailure } from '@temporalio/common';
import { isErrorCode, type ErrorCode } from '../error-codes';
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

/** How deep `errorCodeIn` follows causes; Temporal nests at most workflow → activity → application. */
const MAX_CAUSE_DEPTH = 8;

/**
 * The catalogue code an error carries: a ProgradeError's own code, or the `type` of an
 * ApplicationFailure somewhere down its causes (how a code comes back from Temporal, e.g.
 * WorkflowFailedError → ActivityFailure → ApplicationFailure). A failure type that is not in the
 * catalogue (a foreign error class name) carries no code.
 */
export function errorCodeIn(e: unknown): ErrorCode | undefined {
  let current: unknown = e;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (current instanceof ProgradeError) return current.code;
    if (current instanceof ApplicationFailure && isErrorCode(current.type)) return current.type;
    current = current.cause;
  }
  return undefined;
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
