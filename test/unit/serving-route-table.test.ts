import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admission } from '../../src/serving/admission';
import { sendError, sendJson } from '../../src/serving/answers';
import { HttpError, bufferedBody, readBody } from '../../src/serving/http-util';
import { compileRoutes, dispatch, type Route } from '../../src/serving/route-table';

/**
 * The dispatch fast paths (a plain target is not parsed as a URL; a buffered body is read without
 * listeners) must answer exactly as the general paths do, over a real node:http server.
 */
const routes: Route[] = [
  {
    path: ['echo', ':name'],
    methods: {
      POST: async (ctx) => {
        const body =
          bufferedBody(ctx.req, 1024, ctx.ticket) ??
          (await readBody(ctx.req, { maxBytes: 1024, idleTimeoutMs: 2_000 }));
        sendJson(ctx.res, 200, {
          name: ctx.params.name,
          q: ctx.query('q'),
          path: ctx.url.pathname,
          body: body.toString('utf8'),
        });
      },
    },
  },
  { path: ['plain'], methods: { GET: ({ res }) => sendJson(res, 200, { ok: true }) } },
];

let server: Server;
let port = 0;

beforeAll(async () => {
  const compiled = compileRoutes(routes);
  const admission = new Admission({
    maxInflightBytes: 1 << 20,
    maxInflightRows: 1000,
    smallBodyBytes: 16,
    retryAfterSec: 1,
  });
  server = createServer((req, res) => {
    const refuse = (e: unknown): void =>
      sendError(res, e instanceof HttpError ? e : new HttpError(500, 'SERVING_INTERNAL', String(e)));
    try {
      const ticket = admission.ticket();
      res.on('close', () => ticket.release());
      const pending = dispatch(
        compiled,
        { req, res, ticket, requestId: 'r', caller: { kind: 'anonymous' } },
        () => undefined,
      );
      pending?.catch(refuse);
    } catch (e) {
      refuse(e);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends the request as raw chunks (a delay between them), to control what is buffered when. */
function send(
  method: string,
  target: string,
  chunks: readonly string[] = [],
  gapMs = 0,
): Promise<{ status: number; json: Record<string, unknown>; allow?: string | undefined }> {
  return new Promise((resolve, reject) => {
    const length = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
    const req = request(
      { host: '127.0.0.1', port, method, path: target, headers: { 'content-length': length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
            allow: res.headers.allow,
          }),
        );
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const c of chunks) {
        req.write(c);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      req.end();
    })();
  });
}

describe('dispatch', () => {
  it('routes a plain target and one that only URL parsing resolves to the same route', async () => {
    const plain = await send('POST', '/echo/m1', ['{"a":1}']);
    expect(plain).toMatchObject({
      status: 200,
      json: { name: 'm1', q: null, path: '/echo/m1', body: '{"a":1}' },
    });
    const dotted = await send('POST', '/x/../echo/m1?q=7', ['{"a":1}']);
    expect(dotted).toMatchObject({
      status: 200,
      json: { name: 'm1', q: '7', path: '/echo/m1', body: '{"a":1}' },
    });
    const trailing = await send('GET', '/plain/');
    expect(trailing.status).toBe(200);
  });

  it('answers 404, 405 with Allow, and 204 for OPTIONS as before', async () => {
    expect((await send('GET', '/nowhere')).json).toMatchObject({ code: 'SERVING_ROUTE_NOT_FOUND' });
    const wrong = await send('GET', '/echo/m1');
    expect(wrong.status).toBe(405);
    expect(wrong.allow).toBe('POST, OPTIONS');
    const options = await send('OPTIONS', '/plain');
    expect(options).toMatchObject({ status: 204, allow: 'GET, HEAD, OPTIONS' });
  });

  it('reads a body that arrives in pieces after the handler started', async () => {
    const res = await send('POST', '/echo/m2', ['{"part":', '"two"}'], 50);
    expect(res).toMatchObject({ status: 200, json: { name: 'm2', body: '{"part":"two"}' } });
  });

  it('refuses a buffered body over the limit with 413', async () => {
    const res = await send('POST', '/echo/m3', ['x'.repeat(2000)]);
    expect(res).toMatchObject({ status: 413, json: { code: 'SERVING_BODY_TOO_LARGE' } });
  });
});
