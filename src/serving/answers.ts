import { ServerResponse, type IncomingMessage } from 'node:http';
import type { HttpError } from './http-util';

/**
 * Writing the gateway's answers: JSON and text bodies, refusals, and what every answer adds to its
 * headers (the request id, `Connection: close` while draining). Every answer of the HTTP API goes
 * through `sendJson`, `sendText` or `sendError`, so those additions need no per-request `setHeader`.
 */

/** What every answer of one server shares: whether it is draining (then answers close their connection). */
export interface AnswerPolicy {
  readonly draining: boolean;
}

/**
 * The gateway's answer object (the server is created with it). It carries what every answer adds to
 * its headers, read when the headers are written rather than set with `setHeader` when the request
 * arrives:
 * - the request's id, sent as `x-request-id`: one `setHeader` before `writeHead` moves Node's header
 *   writing onto its slow path (every header of the answer then goes through `setHeader`), a
 *   measurable share of a 1-row request;
 * - the server's drain state, sent as `Connection: close`: answers in flight when a drain starts
 *   need no list to be found in. The gateway kept one (a Set of unanswered responses), and that Set
 *   alone made requests that waited across a loop turn survive into the old generation (each rehash
 *   of its table left the old table, with its responses, reachable from the new one): at 8
 *   connections, 1 MB promoted per scavenge, scavenges of 2.5–5 ms and a p99 of 4–5 ms. Without it,
 *   0 KB, 0.5 ms and 1.4 ms (bench/RESULTS.md, serving-compare).
 */
export class GatewayResponse<
  Request extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Request> {
  requestId: string | undefined = undefined;
  policy: AnswerPolicy | undefined = undefined;
  /** The header block the answer was written with (`getHeader` sees only headers set with `setHeader`). */
  written: Readonly<Record<string, string | number>> | undefined = undefined;
}

/** A header of the answer as written, whichever way it was set (for logs and spans once it is sent). */
export function answerHeader(res: ServerResponse, name: string): string | number | undefined {
  const set = res.getHeader(name);
  if (set !== undefined) return Array.isArray(set) ? set[0] : set;
  return (res as Partial<GatewayResponse>).written?.[name];
}

/** The header block of an answer: `headers` with the request's id and, while draining, `Connection: close`. */
function answerHeaders(
  res: ServerResponse,
  headers: Record<string, string | number>,
): Record<string, string | number> {
  if (!(res instanceof GatewayResponse)) return headers;
  if (res.requestId !== undefined) headers['x-request-id'] = res.requestId;
  if (res.policy?.draining === true) headers.connection = 'close';
  res.written = headers;
  return headers;
}

/** An answer whose body is already text (`text` may be empty: no body). */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string>,
): void {
  res.writeHead(
    status,
    answerHeaders(res, text === '' ? headers : { ...headers, 'content-length': Buffer.byteLength(text) }),
  );
  res.end(text === '' ? undefined : text);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
): void {
  const text = JSON.stringify(body);
  // All headers in one writeHead and the body in one end(): Node sends them in a single write.
  const head: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (headers) for (const name of Object.keys(headers)) head[name] = headers[name] as string;
  res.writeHead(status, answerHeaders(res, head));
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  e: HttpError,
  headers: Readonly<Record<string, string>> = {},
): void {
  const retry =
    e.status === 429 || e.status === 503
      ? { 'retry-after': String(Math.max(1, Math.ceil(e.reply.retryAfterSec ?? 1))) }
      : {};
  const close = e.reply.close ? { connection: 'close' } : {};
  sendJson(
    res,
    e.status,
    { error: e.message, code: e.code, ...e.details },
    { ...retry, ...close, ...e.reply.headers, ...headers },
  );
}
