import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProgradeError } from '../errors';

/** An error with the HTTP status it is answered with; `code` is stable, the message says what is wrong. */
export class HttpError extends ProgradeError {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    code: string,
    message: string,
    details: Readonly<Record<string, unknown>> = {},
  ) {
    super(code, message, status >= 500 ? 'retryable' : 'terminal', details);
  }
}

/**
 * Reads a request body up to `limit` bytes. Past the limit the rest is drained (bounded) rather than
 * the socket cut, so the client reads a 413 instead of a connection reset.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    let drained = 0;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) {
        drained += chunk.length;
        if (drained > limit * 4 + 1_048_576) req.destroy();
        return;
      }
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    const tooLargeError = (): HttpError =>
      new HttpError(413, 'SERVING_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`, {
        limit,
      });
    req.on('end', () => {
      if (tooLarge) reject(tooLargeError());
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
    // Destroyed mid-body (by the drain cap above, or by the client): settle so nothing waits forever.
    req.on('close', () => {
      if (!req.complete)
        reject(
          tooLarge
            ? tooLargeError()
            : new HttpError(400, 'SERVING_BODY_INCOMPLETE', 'the request body ended early'),
        );
    });
  });
}

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0)
    throw new HttpError(400, 'SERVING_BODY_INVALID', 'request body is empty; expected JSON');
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (e) {
    throw new HttpError(
      400,
      'SERVING_BODY_INVALID',
      `request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  e: HttpError,
  headers: Readonly<Record<string, string>> = {},
): void {
  sendJson(res, e.status, { error: e.message, code: e.code, ...e.details }, headers);
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
