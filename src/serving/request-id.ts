import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { headerValue } from './http-util';

/**
 * The id of a request: the caller's `x-request-id` when it is a plausible id, else a fresh UUID.
 * A given id is echoed in the answer and written to logs and the prediction log, so it is held to
 * a short, safe alphabet: a client must not be able to inject log lines, markup or megabytes.
 */

export const REQUEST_ID_HEADER = 'x-request-id';
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}$/;

export function isSafeRequestId(value: string): boolean {
  return SAFE_ID.test(value);
}

export function requestIdOf(req: IncomingMessage): string {
  const given = headerValue(req, REQUEST_ID_HEADER);
  return given !== undefined && isSafeRequestId(given) ? given : randomUUID();
}
