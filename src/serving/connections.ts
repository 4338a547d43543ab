import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../error-codes';

/** A whole HTTP/1.1 answer written straight to a socket, for when no request object exists. */
function rawAnswer(
  status: number,
  reason: string,
  body: { error: string; code: ErrorCode },
  extra: Readonly<Record<string, string>> = {},
): string {
  const text = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    connection: 'close',
    ...extra,
  };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `HTTP/1.1 ${status} ${reason}\r\n${lines.join('\r\n')}\r\n\r\n${text}`;
}

export interface ConnectionCapOptions {
  readonly maxConnections: number;
  readonly retryAfterSec: number;
  /** Called for each refused connection (metrics). */
  readonly onRefuse: () => void;
  /**
   * The server event that hands a connection to HTTP: `connection` for plain HTTP, `secureConnection`
   * over TLS, so a refused TLS client reads the 503 inside the TLS session it set up.
   */
  readonly event?: 'connection' | 'secureConnection';
}

/** How long a refused connection may take to send its request before it is cut. */
const REFUSED_GRACE_MS = 2_000;

/**
 * Caps the connections the HTTP server serves at once. One more is not dropped silently: once it
 * sends its request it reads a 503 with Retry-After, then the socket is closed. Refused sockets are
 * capped too (as many again); past that they are cut at once.
 *
 * Node's `server.maxConnections` would drop the socket without an answer, so the HTTP server's own
 * connection listener is wrapped instead.
 */
export function capConnections(server: Server, options: ConnectionCapOptions): { open(): number } {
  const event = options.event ?? 'connection';
  const listeners = server.listeners(event);
  const httpListener = listeners[0] as ((socket: Socket) => void) | undefined;
  if (listeners.length !== 1 || !httpListener)
    throw new Error(`expected one '${event}' listener on the HTTP server, found ${listeners.length}`);
  server.removeListener(event, httpListener);
  let open = 0;
  let refusing = 0;
  const answer = rawAnswer(
    503,
    'Service Unavailable',
    {
      error: `the gateway serves ${options.maxConnections} connections at once; retry later`,
      code: 'SERVING_TOO_MANY_CONNECTIONS',
    },
    { 'retry-after': String(Math.max(1, Math.ceil(options.retryAfterSec))) },
  );
  server.on(event, (socket: Socket) => {
    if (open < options.maxConnections) {
      open += 1;
      socket.once('close', () => (open -= 1));
      httpListener.call(server, socket);
      return;
    }
    options.onRefuse();
    socket.on('error', () => undefined);
    if (refusing >= options.maxConnections) {
      socket.destroy();
      return;
    }
    refusing += 1;
    const timer = setTimeout(() => socket.destroy(), REFUSED_GRACE_MS);
    socket.once('close', () => {
      refusing -= 1;
      clearTimeout(timer);
    });
    // Answer once the request starts arriving (an answer before it confuses some clients); the rest
    // is read and dropped so the client gets the answer, not a reset.
    socket.once('data', () => socket.end(answer));
    socket.on('data', () => undefined);
    socket.once('end', () => socket.destroy());
  });
  return { open: () => open };
}

/**
 * Answers requests Node's HTTP parser refuses (malformed request line or headers, smuggling
 * attempts, oversized headers, header or request timeouts) with a JSON message, then closes.
 * Without a listener Node would answer with an empty body.
 */
export function answerClientErrors(server: Server, onError: (code: string) => void): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? 'UNKNOWN';
    onError(code);
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, reason, message, errorCode]: [number, string, string, ErrorCode] =
      code === 'HPE_HEADER_OVERFLOW'
        ? [
            431,
            'Request Header Fields Too Large',
            'request headers are too large',
            'SERVING_HEADERS_TOO_LARGE',
          ]
        : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT'
          ? [408, 'Request Timeout', 'the request was not received in time', 'SERVING_REQUEST_TIMEOUT']
          : [400, 'Bad Request', 'malformed HTTP request', 'SERVING_HTTP_INVALID'];
    socket.end(rawAnswer(status, reason, { error: message, code: errorCode }), () => socket.destroy());
  });
}
