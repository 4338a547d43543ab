import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';

/**
 * A TLS-terminating TCP proxy on loopback: it presents `cert`/`key` and pipes the decrypted bytes to
 * a plain-TCP server (the test Temporal or MLflow). Clients then speak TLS to a server that knows
 * nothing of it, which is how a load balancer in front of Temporal or MLflow looks to them.
 */
export interface TlsProxyOptions {
  /** `host:port` of the plain server behind the proxy. */
  readonly target: string;
  readonly cert: string;
  readonly key: string;
  /** gRPC needs `['h2']`; leave unset for HTTP/1.1. */
  readonly alpn?: string[];
  /** Ask every client for a certificate signed by this CA (mutual TLS), refusing those without one. */
  readonly clientCa?: string;
}

export interface TlsProxy {
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly address: string;
  /** Connections that completed the handshake. */
  readonly accepted: () => number;
  /** Handshakes the proxy saw fail, with the server-side reason (e.g. a client that did not trust it). */
  readonly handshakeErrors: () => readonly string[];
  readonly close: () => Promise<void>;
}

export async function startTlsProxy(options: TlsProxyOptions): Promise<TlsProxy> {
  const [host, portText] = splitHostPort(options.target);
  const sockets = new Set<Socket>();
  const errors: string[] = [];
  let accepted = 0;
  const server = createServer(
    {
      cert: options.cert,
      key: options.key,
      ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
      ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (client: TLSSocket) => {
      accepted++;
      const upstream = netConnect({ host, port: Number(portText) });
      sockets.add(client);
      sockets.add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    },
  );
  server.on('tlsClientError', (e) => errors.push((e as { code?: string }).code ?? e.message));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    accepted: () => accepted,
    handshakeErrors: () => errors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function splitHostPort(target: string): [string, string] {
  const withoutScheme = target.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  const i = withoutScheme.lastIndexOf(':');
  if (i < 0) throw new Error(`proxy target ${target} has no port`);
  return [withoutScheme.slice(0, i).replace(/^\[|\]$/g, ''), withoutScheme.slice(i + 1)];
}
