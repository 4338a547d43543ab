import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { answerClientErrors, capConnections } from './connections';
import { GatewayResponse, sendError } from './answers';
import { HttpError } from './http-util';
import type { GatewayLimits } from './limits';
import type { GatewayMetrics } from './metrics';
import type { TlsPair } from './tls';

/**
 * The gateway's HTTP or HTTPS server with its transport-level bounds: header and request timeouts,
 * the connection cap, answers to malformed requests and to oversized `Expect: 100-continue` bodies.
 */

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly limits: GatewayLimits;
  /** Serve HTTPS with this certificate and key; plain HTTP without. */
  readonly tls?: TlsPair | undefined;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** Called first for every request (it sets the request id an early refusal must carry too). */
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** Called for a request refused before `onRequest` (a body declared too large on 100-continue). */
  readonly beforeRefusal: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface Listening {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** Puts a new certificate and key in force for new connections (HTTPS only). */
  readonly setTls: (pair: TlsPair) => void;
}

export async function listen(options: ListenOptions): Promise<Listening> {
  const { limits, metrics, onRequest } = options;
  const httpOptions = {
    // Carries the request id into the answer's header block (http-util.ts).
    ServerResponse: GatewayResponse,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // How often Node checks the two timeouts above; its default (30 s) would let a slow sender
    // hold a connection for up to that much longer.
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
  const tls = options.tls;
  const server: Server = tls
    ? // An https.Server is an http.Server over TLS sockets; a handshake that stalls counts as slow headers.
      createHttpsServer(
        { ...httpOptions, cert: tls.cert, key: tls.key, handshakeTimeout: limits.headersTimeoutMs },
        onRequest,
      )
    : createServer(httpOptions, onRequest);
  server.keepAliveTimeout = 5_000;
  // A client that sends `Expect: 100-continue` with an oversized body is refused before it sends it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limits.maxBodyBytes) {
      options.beforeRefusal(req, res);
      metrics.refuse(413, 'SERVING_BODY_TOO_LARGE');
      sendError(
        res,
        new HttpError(
          413,
          'SERVING_BODY_TOO_LARGE',
          `request body exceeds the limit of ${limits.maxBodyBytes} bytes`,
          { limit: limits.maxBodyBytes },
          { close: true },
        ),
      );
      res.once('finish', () => req.socket.destroy());
      return;
    }
    res.writeContinue();
    onRequest(req, res);
  });
  capConnections(server, {
    maxConnections: limits.maxConnections,
    retryAfterSec: limits.retryAfterSec,
    onRefuse: () => metrics.refuse(503, 'SERVING_TOO_MANY_CONNECTIONS'),
    event: tls ? 'secureConnection' : 'connection',
  });
  // Over TLS the cap above counts sessions; handshakes in progress get a (looser) bound of their own.
  if (tls) server.maxConnections = 2 * limits.maxConnections;
  answerClientErrors(server, (code) => options.logger.debug({ code }, 'malformed HTTP request refused'));
  if (tls)
    server.on('tlsClientError', (err: NodeJS.ErrnoException) =>
      options.logger.debug({ code: err.code, error: err.message }, 'TLS handshake refused'),
    );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    setTls: (pair) => {
      if (server instanceof HttpsServer) server.setSecureContext(pair);
    },
  };
}
