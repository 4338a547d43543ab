import type { IncomingMessage } from 'node:http';
import { ProgradeError, messageOf, type ErrorCode } from '../errors';

/** An error with the HTTP status it is answered with; `code` is stable, the message says what is wrong. */
export class HttpError extends ProgradeError {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    details: Readonly<Record<string, unknown>> = {},
    readonly reply: HttpErrorReply = {},
  ) {
    super(code, message, status >= 500 ? 'retryable' : 'terminal', details);
  }
}

/** What an error adds to its answer besides the JSON body. */
export interface HttpErrorReply {
  /** Sent as Retry-After (seconds) with a 429 or 503 (default 1). */
  readonly retryAfterSec?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Close the connection after answering (the request could not be read to its end). */
  readonly close?: boolean;
}

/** A 503 that tells the client when to come back: the gateway is busy, not broken. */
export function overloaded(code: ErrorCode, message: string, retryAfterSec: number): HttpError {
  return new HttpError(503, code, message, {}, { retryAfterSec });
}

const URL_LIKE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`<>]*/gi;
const URI_LIKE = /\b(?:mlflow-artifacts|models|runs|file|dbfs):\/[^\s'"`<>]*/gi;
const ABS_PATH = /(^|[\s'"`(=:,[])((?:\/[^\s'"`/(),;[\]]+){2,}\/?)/g;
const WINDOWS_PATH = /\b[A-Za-z]:\\[^\s'"`]*/g;
const MAX_PUBLIC_MESSAGE = 300;

/**
 * A message from code the gateway does not control (ONNX Runtime, the MLflow client, the file
 * system), made fit for a client: URLs, registry URIs and file paths are replaced, the length capped.
 * The full message still goes to the log.
 */
export function publicMessage(text: string): string {
  const cleaned = text
    .replace(URL_LIKE, '<url>')
    .replace(URI_LIKE, '<uri>')
    .replace(ABS_PATH, '$1<path>')
    .replace(WINDOWS_PATH, '<path>');
  return cleaned.length > MAX_PUBLIC_MESSAGE ? `${cleaned.slice(0, MAX_PUBLIC_MESSAGE)}…` : cleaned;
}

export function publicMessageOf(e: unknown): string {
  return publicMessage(messageOf(e));
}

/** A client-supplied string quoted for an error message: control characters escaped, at most 64 characters. */
export function quoted(value: string): string {
  const text = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value).slice(1, -1);
  return `'${text}'`;
}

export interface BodyLimits {
  /** Largest body, bytes: past it 413. */
  readonly maxBytes: number;
  /** Longest pause between two chunks: then 408. */
  readonly idleTimeoutMs: number;
  /**
   * Called as the body grows with the bytes received so far (and once up front with the declared
   * length); returning false refuses the body with the error it gives.
   */
  readonly admit?: (bytes: number) => HttpError | undefined;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'SERVING_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`, {
    limit,
  });
}

/** The declared Content-Length, or undefined for a chunked body. A malformed one was already refused by Node's parser. */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * Refuses a body before reading it when its declared length is over the limit or not admitted.
 * Callers then answer and `discardBody`, so the client reads the answer instead of a reset.
 */
export function checkDeclaredBody(req: IncomingMessage, limits: BodyLimits): void {
  const declared = declaredLength(req);
  if (declared === undefined) return;
  if (declared > limits.maxBytes) throw tooLarge(limits.maxBytes);
  const refused = limits.admit?.(declared);
  if (refused) throw refused;
}

/**
 * The whole body, when Node's parser has already taken all of it in: a small body usually comes in
 * the same packet as its headers, and is buffered by the time the handler's first `await` returns
 * (the parser's body callback runs before that continuation; its end-of-message callback may not
 * have, so "all of it" is: the message is complete, or the declared Content-Length is buffered).
 * Read synchronously, under the same limits as `readBody`, without its promise, four listeners and
 * idle timer (which were a measurable share of a 1-row request). Undefined when some of the body is
 * still to come, or the stream was already read from: then `readBody` reads it.
 */
export function bufferedBody(
  req: IncomingMessage,
  maxBytes: number,
  holder: { growBody(bytes: number): HttpError | undefined },
): Buffer | undefined {
  if (req.readableFlowing !== null || req.readableDidRead) return undefined;
  const size = req.readableLength;
  if (!req.complete && declaredLength(req) !== size) return undefined;
  if (size > maxBytes) throw tooLarge(maxBytes);
  const refused = holder.growBody(size);
  if (refused) throw refused;
  if (size === 0) return Buffer.alloc(0);
  // Paused mode, nothing read yet: read() hands over everything buffered, in one buffer.
  const body = req.read() as Buffer | null;
  return body ?? undefined;
}

/**
 * Reads a request body up to `maxBytes`. Refusals (413, 408, 503 from `admit`) reject at once and
 * leave the rest of the body unread: the caller answers, then `discardBody` takes what still comes.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  checkDeclaredBody(req, limits);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // A declared length (already checked against the limit) is allocated once and filled in place:
    // joining a multi-megabyte body at its end would be one long copy on the event loop.
    const declared = declaredLength(req);
    const whole =
      declared !== undefined && declared > 64 * 1024 ? Buffer.allocUnsafeSlow(declared) : undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (e: HttpError | undefined): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      if (e) {
        chunks.length = 0;
        req.pause();
        reject(e);
      } else if (whole) resolve(size === whole.length ? whole : whole.subarray(0, size));
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish(
            new HttpError(
              408,
              'SERVING_BODY_TIMEOUT',
              `no request body bytes arrived for ${limits.idleTimeoutMs} ms`,
              {},
              { close: true },
            ),
          ),
        limits.idleTimeoutMs,
      );
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.maxBytes) return finish(tooLarge(limits.maxBytes));
      const refused = limits.admit?.(size);
      if (refused) return finish(refused);
      if (whole) {
        if (size > whole.length)
          return finish(
            new HttpError(400, 'SERVING_BODY_INVALID', 'the body is longer than its Content-Length'),
          );
        chunk.copy(whole, size - chunk.length);
      } else chunks.push(chunk);
      arm();
    };
    const onEnd = (): void => finish(undefined);
    const onClose = (): void => {
      if (!req.complete)
        finish(new HttpError(400, 'SERVING_BODY_INCOMPLETE', 'the request body ended early'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
    arm();
    req.resume();
  });
}

/**
 * The rate at which all refused bodies together are read and dropped. Every chunk read is a buffer
 * the garbage collector must reclaim on the event loop's thread: unthrottled, a few clients that
 * keep starting 50 MiB uploads would cost every other request tens of milliseconds of GC pauses.
 */
export class DiscardRate {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond / 10;
  }

  /** Takes `bytes`; returns how long to pause (ms) before reading more, 0 when within the rate. */
  take(bytes: number): number {
    const now = performance.now();
    const burst = this.bytesPerSecond / 10;
    this.tokens = Math.min(burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSecond) * 1000;
  }
}

export interface DiscardLimits {
  /** Past this many bytes the socket is cut. */
  readonly maxBytes: number;
  /** Past this long without data (not counting pauses the rate imposes) the socket is cut. */
  readonly idleTimeoutMs: number;
  readonly rate: DiscardRate;
}

/**
 * Reads and throws away what is left of a refused request's body, so the client (still sending)
 * reads the answer rather than a connection reset: some clients (Python's requests, for one) read
 * the answer only after sending the whole body. Bounded: past `maxBytes`, or `idleTimeoutMs`
 * without data, the socket is cut; all discards together read at most `rate`.
 */
export function discardBody(req: IncomingMessage, limits: DiscardLimits): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  let idle: NodeJS.Timeout | undefined;
  let pause: NodeJS.Timeout | undefined;
  const cut = (): void => {
    cleanup();
    req.socket.destroy();
  };
  const arm = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(cut, limits.idleTimeoutMs);
  };
  const onData = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen > limits.maxBytes) return cut();
    const waitMs = limits.rate.take(chunk.length);
    if (waitMs <= 0) return arm();
    if (idle) clearTimeout(idle);
    req.pause();
    pause = setTimeout(() => {
      arm();
      req.resume();
    }, waitMs);
  };
  const cleanup = (): void => {
    if (idle) clearTimeout(idle);
    if (pause) clearTimeout(pause);
    req.off('data', onData);
    req.off('end', cleanup);
    req.off('close', cleanup);
  };
  req.on('data', onData);
  req.on('end', cleanup);
  req.on('close', cleanup);
  arm();
  req.resume();
}

/** Media types a JSON body may be sent with: JSON itself, and what curl/fetch send by default for a string body. */
const JSON_TYPES = new Set(['application/json', 'text/json', 'text/plain']);

/** Content-Type values already accepted (a bounded memo of a pure check). */
const acceptedContentTypes = new Set<string>();

/** 415 unless the body is declared as JSON (or not declared); 415 too for compressed bodies or a charset other than UTF-8. */
export function checkJsonContentType(req: IncomingMessage): void {
  const raw = req.headers['content-type'];
  if (raw !== undefined && !acceptedContentTypes.has(raw) && raw.trim() !== '') {
    const [type = '', ...params] = raw.split(';').map((p) => p.trim().toLowerCase());
    if (!JSON_TYPES.has(type) && !/^application\/[a-z0-9.+-]+\+json$/.test(type))
      throw new HttpError(
        415,
        'SERVING_CONTENT_TYPE_UNSUPPORTED',
        `content type ${quoted(type)} is not supported; send JSON with content-type: application/json`,
      );
    const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length);
    if (charset !== undefined && !['utf-8', 'utf8', '"utf-8"'].includes(charset))
      throw new HttpError(
        415,
        'SERVING_CONTENT_TYPE_UNSUPPORTED',
        `charset ${quoted(charset)} is not supported; send UTF-8 JSON`,
      );
    // Clients send the same value request after request: the next one skips the split and the regex.
    if (acceptedContentTypes.size >= 32) acceptedContentTypes.clear();
    acceptedContentTypes.add(raw);
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')
    throw new HttpError(
      415,
      'SERVING_CONTENT_ENCODING_UNSUPPORTED',
      `content-encoding ${quoted(encoding)} is not supported; send the body uncompressed`,
    );
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
