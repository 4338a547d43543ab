import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { messageOf, type ErrorCode } from '../errors';
import { DeliveryCache } from './delivery-cache';
import { parseEvent } from './payload';
import { HEADER, verifyDelivery } from './signature';
import { onAliasSet, type TriggerDeps, type TriggerResult } from './trigger';

/** Registry payloads are a few hundred bytes; anything near this is not MLflow. */
export const MAX_BODY_BYTES = 64 * 1024;
/** How far a delivery's timestamp may be from our clock (MLflow's retries back off for seconds). */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

export interface WebhookServerOptions extends TriggerDeps {
  readonly secret: string;
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
  readonly path?: string;
  readonly maxSkewSeconds?: number;
  readonly now?: () => number;
}

export interface WebhookServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * The receiver of MLflow registry webhooks. Order matters: the body is read up to a bound, the HMAC
 * and timestamp are checked (401), a delivery id already acted on is answered from the cache, then
 * the payload is parsed (400) and only then may a promotion start. A failure to reach Temporal or
 * MLflow is a 503, which MLflow retries with the same delivery id.
 */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const path = opts.path ?? '/webhook';
  const now = opts.now ?? Date.now;
  const maxSkew = opts.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  // A replay older than twice the skew window fails the timestamp check, so the cache need not outlive it.
  const done = new DeliveryCache(2 * maxSkew * 1000);
  const inFlight = new Map<string, Promise<TriggerResult>>();

  async function handle(req: IncomingMessage): Promise<TriggerResult> {
    const url = new URL(req.url ?? '/', 'http://webhook');
    if (url.pathname === '/healthz' && req.method === 'GET') return { status: 200, body: { ok: true } };
    if (url.pathname !== path) return refuse(404, 'WEBHOOK_BAD_REQUEST', `POST ${path}`);
    if (req.method !== 'POST') return refuse(405, 'WEBHOOK_BAD_REQUEST', 'POST only');
    const body = await readBounded(req);
    if (body === 'too-large') {
      return refuse(413, 'WEBHOOK_BAD_REQUEST', `at most ${MAX_BODY_BYTES} bytes`);
    }
    const deliveryId = header(req, HEADER.deliveryId);
    const check = verifyDelivery(
      opts.secret,
      {
        signature: header(req, HEADER.signature),
        deliveryId,
        timestamp: header(req, HEADER.timestamp),
        rawBody: body,
      },
      Math.floor(now() / 1000),
      maxSkew,
    );
    if (!check.ok) {
      opts.logger.warn({ reason: check.reason, deliveryId }, 'webhook delivery refused');
      return refuse(401, 'WEBHOOK_UNAUTHORIZED', check.reason);
    }
    const id = deliveryId as string;
    if (done.has(id, now())) return { status: 200, body: { duplicate: true, deliveryId: id } };
    // Two copies of one delivery at once share one attempt.
    let attempt = inFlight.get(id);
    if (!attempt) {
      attempt = act(body, id).finally(() => inFlight.delete(id));
      inFlight.set(id, attempt);
    }
    const result = await attempt;
    if (result.status < 500) done.add(id, now());
    return result;
  }

  async function act(body: Buffer, deliveryId: string): Promise<TriggerResult> {
    const parsed = parseEvent(body);
    if (!parsed.ok) return refuse(400, 'WEBHOOK_BAD_REQUEST', parsed.problem);
    const ev = parsed.event;
    if (ev.kind === 'other') {
      return { status: 200, body: { ignored: true, reason: `${ev.event} does not start promotions` } };
    }
    try {
      const result = await onAliasSet(opts, ev, `mlflow-webhook (delivery ${deliveryId})`);
      opts.logger.info({ deliveryId, ...ev, status: result.status, ...result.body }, 'webhook delivery');
      return result;
    } catch (e) {
      opts.logger.error({ deliveryId, ...ev, err: messageOf(e) }, 'webhook delivery failed');
      return refuse(503, 'WEBHOOK_UNAVAILABLE', messageOf(e));
    }
  }

  const server = createServer((req, res) => {
    handle(req).then(
      (r) => send(res, r),
      (e: unknown) => send(res, refuse(400, 'WEBHOOK_BAD_REQUEST', messageOf(e))),
    );
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}${path}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? undefined : v;
}

/** The raw body, refused past MAX_BODY_BYTES (by Content-Length up front, or while streaming). */
function readBounded(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: TriggerResult): void {
  if (res.headersSent) return;
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function refuse(status: number, code: ErrorCode, message: string): TriggerResult {
  return { status, body: { error: code, message } };
}
