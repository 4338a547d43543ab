import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelCache } from '../../src/mlflow/cache';
import { MlflowClient } from '../../src/mlflow/client';
import { sampleDataset } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { writeModelVersion } from '../../src/serving/model-directory';
import { DirectoryModelSource, type ModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

/**
 * Hostile input against a real gateway over real sockets: every case asserts the exact status (with
 * Retry-After for admission refusals), a JSON message without internal paths or URLs, and — after
 * each case — that routing and the model's error statistics are untouched and a good request still
 * scores. Limits are set small so that each bound is reached with little traffic.
 */

const TOKEN = 'hostile-test-token';
const ROW = Array.from(sampleDataset({ rows: 1, seed: 11 }).features.subarray(0, 12));
const LIMITS = {
  maxBodyBytes: 64 * 1024,
  maxRowsPerRequest: 100,
  smallBodyBytes: 1024,
  maxInflightBytes: 64 * 1024,
  maxInflightRows: 100,
  headersTimeoutMs: 1_000,
  requestTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 1_000,
  modelLookupCacheMs: 60_000,
};

let dir: string;
let gw: GatewayHandle;
const logLines: string[] = [];
/** Registry lookups the main gateway made, by model name. */
const lookups = new Map<string, number>();
let goodRequests = 0;

/** The model directory, counting `hasModel` calls (the registry lookups a request triggers). */
class CountingSource implements ModelSource {
  readonly description: string;
  constructor(private readonly inner: ModelSource) {
    this.description = inner.description;
  }
  load(model: string, version: string): ReturnType<ModelSource['load']> {
    return this.inner.load(model, version);
  }
  hasModel(model: string): Promise<boolean> {
    lookups.set(model, (lookups.get(model) ?? 0) + 1);
    return this.inner.hasModel(model);
  }
}

function v2Body(data: unknown, extra: Record<string, unknown> = {}, shape: number[] = [1, 12]): string {
  return JSON.stringify({ inputs: [{ name: 'features', shape, datatype: 'FP32', data, ...extra }] });
}

async function send(
  method: string,
  p: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
  base = gw.url,
): Promise<Response> {
  return fetch(`${base}${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body } : {}),
  });
}

const admin = (method: string, p: string, body?: string, headers: Record<string, string> = {}) =>
  send(method, p, body, { authorization: `Bearer ${TOKEN}`, ...headers });

/** Strings that must never reach a client: where the gateway keeps its files, its registry's address. */
function internals(): string[] {
  return [
    dir,
    tmpdir() + path.sep,
    'node_modules',
    'model.onnx',
    'model-cache',
    '127.0.0.1:' + blackholePort,
  ];
}

function checkBodyIsClean(text: string): { error: string; code: string } {
  for (const secret of internals()) expect(text).not.toContain(secret);
  expect(text).not.toMatch(/\n\s+at /);
  expect(text).not.toMatch(/https?:\/\//);
  const body = JSON.parse(text) as { error: unknown; code: unknown };
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(5);
  expect(body.code).toMatch(/^[A-Z_]+$/);
  return body as { error: string; code: string };
}

/** Asserts the exact refusal: status, Retry-After for 429/503, and a clean JSON message. */
async function refused(
  res: Response,
  status: number,
  code?: string | RegExp,
): Promise<{ error: string; code: string }> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  if (status === 429 || status === 503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  const body = checkBodyIsClean(text);
  if (code !== undefined) expect(body.code).toMatch(code);
  return body;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

function parseRaw(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return {
    status: Number(statusLine.split(' ')[1] ?? 0),
    headers,
    body: end >= 0 ? raw.slice(end + 4) : '',
    raw,
  };
}

/**
 * Writes raw bytes to the gateway and reads until the first complete answer (by content-length), the
 * socket closes, or `waitMs` passes. `chunks` are written `gapMs` apart.
 */
async function raw(
  chunks: readonly (string | Buffer)[],
  options: { port?: number; waitMs?: number; gapMs?: number } = {},
): Promise<RawAnswer & { closed: boolean }> {
  const socket = net.connect(options.port ?? gw.port, '127.0.0.1');
  let data = '';
  let closed = false;
  socket.on('data', (d) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const complete = (): boolean => {
    const a = parseRaw(data);
    const length = Number(a.headers['content-length'] ?? NaN);
    return a.status > 0 && Number.isFinite(length) && Buffer.byteLength(a.body, 'latin1') >= length;
  };
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.waitMs ?? 5_000);
    const check = (): void => {
      if (complete() || closed) {
        clearTimeout(timer);
        resolve();
      }
    };
    socket.on('data', check);
    socket.on('close', () => {
      closed = true;
      check();
    });
  });
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
    if (!socket.destroyed) socket.write(chunk);
  }
  await done;
  socket.destroy();
  return { ...parseRaw(data), closed };
}

function rawRefused(a: RawAnswer, status: number, code?: string): { error: string; code: string } {
  expect({ status: a.status, raw: a.raw.slice(0, 300) }).toMatchObject({ status });
  if (status === 429 || status === 503) expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  const body = checkBodyIsClean(a.body);
  if (code !== undefined) expect(body.code).toBe(code);
  return body;
}

// A loopback port that accepts connections and never answers: a frozen registry.
let blackhole: net.Server;
let blackholePort = 0;
const held: net.Socket[] = [];
let frozen: GatewayHandle;
let capped: GatewayHandle;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-hostile-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'credit', '2', sampleModel('good', { seed: 2 }));
  await writeModelVersion(models, 'limited', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'heavy', '1', sampleModel('slow'));
  await writeModelVersion(models, 'unrouted', '1', sampleModel('good', { seed: 1 }));
  gw = await startGateway({
    source: new CountingSource(new DirectoryModelSource(models)),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    access: { allowForceVariant: true },
    logger: pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }),
    limits: LIMITS,
    rateLimit: { perModel: { limited: { requestsPerSecond: 0.001, burst: 1 } } },
  });
  await gw.whenReady();
  for (const model of ['credit', 'limited', 'heavy']) {
    const res = await admin(
      'PUT',
      `/admin/models/${model}/routing`,
      JSON.stringify({ generation: 1, stable: { version: '1' } }),
    );
    expect(res.status).toBe(200);
  }

  blackhole = net.createServer((s) => void held.push(s));
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  blackholePort = (blackhole.address() as net.AddressInfo).port;
  const frozenClient = new MlflowClient({ baseUrl: `http://127.0.0.1:${blackholePort}`, timeoutMs: 30_000 });
  frozen = await startGateway({
    source: new MlflowModelSource(frozenClient, new ModelCache(frozenClient, path.join(dir, 'frozen-cache'))),
    stateDir: path.join(dir, 'frozen-state'),
    token: undefined,
    logger: pino({ level: 'silent' }),
    limits: { modelLookupTimeoutMs: 300, maxModelLookups: 4 },
  });
  await frozen.whenReady();

  capped = await startGateway({
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'capped-state'),
    token: TOKEN,
    logger: pino({ level: 'silent' }),
    limits: { maxConnections: 4 },
  });
  await capped.whenReady();
});

afterAll(async () => {
  await Promise.all([gw?.close(), frozen?.close(), capped?.close()]);
  for (const s of held) s.destroy();
  await new Promise<void>((resolve) => (blackhole ? blackhole.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function goodRequest(): Promise<void> {
  const res = await send('POST', '/v2/models/credit/infer', v2Body(ROW));
  expect(res.status).toBe(200);
  const body = (await res.json()) as { outputs: { data: number[] }[] };
  expect(body.outputs[0]?.data[0]).toBeGreaterThan(0);
  goodRequests += 1;
}

afterEach(async () => {
  // Nothing a refused request did may show: routing generation, error counts, the next good request.
  await goodRequest();
  const routing = (await (await admin('GET', '/admin/models/credit/routing')).json()) as {
    generation: number;
  };
  expect(routing.generation).toBe(1);
  const stats = (await (await admin('GET', '/admin/models/credit/stats?sinceMs=0')).json()) as {
    variants: { stable?: { requests: number; errors: number } };
  };
  expect(stats.variants.stable).toMatchObject({ requests: goodRequests, errors: 0 });
});

describe('hostile gateway – methods and routes', () => {
  it.each([
    ['GET', '/v2/models/credit/infer', 'POST'],
    ['PUT', '/invocations', 'POST'],
    ['DELETE', '/v2/models/credit/versions/1/infer', 'POST'],
    ['POST', '/v2/health/live', 'GET'],
    ['POST', '/metrics', 'GET'],
    ['PATCH', '/v2/models/credit', 'GET'],
    ['POST', '/v2/models/credit/ready', 'GET'],
  ])('405 for %s %s, with Allow', async (method, p, allowed) => {
    const res = await send(method, p, method === 'GET' ? undefined : v2Body(ROW));
    expect(res.headers.get('allow')).toContain(allowed);
    await refused(res, 405, 'SERVING_METHOD_NOT_ALLOWED');
  });

  it('405 for a wrong method on an admin route, only with the token', async () => {
    await refused(await send('DELETE', '/admin/models/credit/routing'), 401, 'SERVING_UNAUTHORIZED');
    const res = await admin('DELETE', '/admin/models/credit/routing');
    expect(res.headers.get('allow')).toBe('GET, PUT, HEAD, OPTIONS');
    await refused(res, 405);
  });

  it('404 for paths that are no route', async () => {
    await refused(await send('GET', '/nope'), 404, 'SERVING_ROUTE_NOT_FOUND');
    await refused(await send('POST', '/v2/models/credit/infer/more', v2Body(ROW)), 404);
    await refused(await send('GET', '/v2/models'), 404);
  });

  it('OPTIONS lists the allowed methods without doing anything', async () => {
    const res = await send('OPTIONS', '/invocations');
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('400 for a method Node does not know', async () => {
    rawRefused(await raw(['BREW /invocations HTTP/1.1\r\nHost: x\r\n\r\n']), 400, 'SERVING_HTTP_INVALID');
  });
});

describe('hostile gateway – names and percent-encoding', () => {
  it.each([
    ['malformed %-escape in the model', '/v2/models/cr%ZZedit/infer'],
    ['truncated UTF-8 escape', '/v2/models/%E0%A4%A/infer'],
    ['an encoded slash', '/v2/models/cre%2Fdit/infer'],
    ['a traversal', '/v2/models/..%2F..%2Fetc/infer'],
    ['an encoded NUL', '/v2/models/credit%00/infer'],
    ['malformed %-escape in the version', '/v2/models/credit/versions/%ZZ/infer'],
    ['a name longer than 128', `/v2/models/${'a'.repeat(300)}/infer`],
  ])('400 for %s', async (_what, p) => {
    const body = await refused(await send('POST', p, v2Body(ROW)), 400, 'SERVING_NAME_INVALID');
    expect(body.error.length).toBeLessThan(250);
  });

  it('400 for a malformed escape in a metadata path', async () => {
    await refused(await send('GET', '/v2/models/%ZZ/ready'), 400, 'SERVING_NAME_INVALID');
  });

  it('decodes ?model= once: %2569 stays %69, never becomes i', async () => {
    const body = await refused(
      await send('POST', '/invocations?model=cred%2569t', JSON.stringify({ inputs: [ROW] })),
      400,
      'SERVING_NAME_INVALID',
    );
    expect(body.error).toContain("'cred%69t'");
  });

  it('takes the x-prograde-model header literally', async () => {
    await refused(
      await send('POST', '/invocations', JSON.stringify({ inputs: [ROW] }), {
        'x-prograde-model': 'cred%69t',
      }),
      400,
      'SERVING_NAME_INVALID',
    );
  });

  it('an encoded CR LF in ?model= is refused and never reaches a header', async () => {
    const res = await send(
      'POST',
      '/invocations?model=credit%0d%0aX-Injected:%201',
      JSON.stringify({ inputs: [ROW] }),
    );
    expect(res.headers.get('x-injected')).toBeNull();
    await refused(res, 400, 'SERVING_NAME_INVALID');
  });

  it('400 for a raw CR inside a header value (header injection)', async () => {
    rawRefused(
      await raw([
        'POST /invocations HTTP/1.1\r\nHost: x\r\nX-Prograde-Model: credit\rX-Evil: 1\r\nContent-Length: 2\r\n\r\n{}',
      ]),
      400,
      'SERVING_HTTP_INVALID',
    );
  });

  it('403 for a forced variant without an admin token; then 400 for an unknown one, 409 for a missing canary', async () => {
    for (const who of [{}, { authorization: 'Bearer not-a-token' }])
      await refused(
        await send('POST', '/v2/models/credit/infer', v2Body(ROW), {
          'x-prograde-force-variant': 'evil',
          ...who,
        }),
        403,
        'SERVING_FORCE_VARIANT_FORBIDDEN',
      );
    await refused(
      await admin('POST', '/v2/models/credit/infer', v2Body(ROW), { 'x-prograde-force-variant': 'evil' }),
      400,
      'SERVING_REQUEST_INVALID',
    );
    await refused(
      await admin('POST', '/v2/models/credit/infer', v2Body(ROW), { 'x-prograde-force-variant': 'canary' }),
      409,
      'SERVING_NO_CANARY',
    );
  });

  it('404 for an unknown model, a version that takes no traffic, and unknown metadata', async () => {
    await refused(await send('POST', '/v2/models/nosuch/infer', v2Body(ROW)), 404, 'SERVING_MODEL_NOT_FOUND');
    await refused(
      await send('POST', '/v2/models/credit/versions/2/infer', v2Body(ROW)),
      404,
      'SERVING_VERSION_NOT_SERVED',
    );
    await refused(await send('GET', '/v2/models/nosuch'), 404);
  });

  it('503 with Retry-After for a known model without routing', async () => {
    await refused(await send('POST', '/v2/models/unrouted/infer', v2Body(ROW)), 503, 'SERVING_NO_ROUTING');
  });
});

describe('hostile gateway – malformed and oversized bodies', () => {
  it.each([
    ['malformed JSON', '{nope'],
    ['an empty body', ''],
    ['a truncated document', '{"inputs": [[1, 2'],
    ['JSON null', 'null'],
    ['a bare array', '[]'],
    ['a bare string', '"features"'],
    ['trailing garbage', '{"inputs": [[1]]} x'],
  ])('400 for %s on /invocations', async (_what, body) => {
    await refused(await send('POST', '/invocations?model=credit', body), 400);
  });

  it('400 for a body that is not UTF-8', async () => {
    await refused(
      await send('POST', '/invocations?model=credit', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
      400,
      'SERVING_BODY_INVALID',
    );
  });

  it.each([
    ['arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
    ['objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)],
    ['arrays inside v2 data', v2Body(JSON.parse('['.repeat(40) + '1' + ']'.repeat(40)))],
  ])('400 for 10,000-deep nested %s, before parsing', async (_what, body) => {
    await refused(await send('POST', '/v2/models/credit/infer', body), 400, 'SERVING_BODY_TOO_DEEP');
  });

  it('does not count brackets inside strings towards the depth', async () => {
    const res = await send(
      'POST',
      '/v2/models/credit/infer',
      v2Body(ROW, {}, [1, 12]).replace('{', `{"id":"${'['.repeat(100)}",`),
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('['.repeat(100));
    goodRequests += 1;
  });

  it('413 for a body one byte over the limit', async () => {
    const body = `{"inputs": [[${' '.repeat(LIMITS.maxBodyBytes)}]]}`;
    await refused(await send('POST', '/invocations?model=credit', body), 413, 'SERVING_BODY_TOO_LARGE');
  });

  it('413 for a 50 MB body, read to its end rather than reset', async () => {
    const res = await send('POST', '/invocations?model=credit', Buffer.alloc(50 * 1024 * 1024, 0x20));
    await refused(res, 413, 'SERVING_BODY_TOO_LARGE');
  });

  it('413 for a chunked body without Content-Length that grows past the limit', async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${gw.url}/invocations?model=credit`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    });
    await refused(res, 413, 'SERVING_BODY_TOO_LARGE');
  });

  it('413 before the body is sent when Expect: 100-continue declares too much', async () => {
    const a = await raw([
      'POST /invocations?model=credit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n',
    ]);
    rawRefused(a, 413, 'SERVING_BODY_TOO_LARGE');
    expect(a.raw).not.toContain('100 Continue');
  });

  it('413 on the admin API too, routing untouched', async () => {
    await refused(
      await admin(
        'PUT',
        '/admin/models/credit/routing',
        JSON.stringify({ generation: 2, pad: ' '.repeat(70_000) }),
      ),
      413,
    );
  });
});

describe('hostile gateway – content types', () => {
  it.each([
    ['application/x-www-form-urlencoded', {}],
    ['multipart/form-data; boundary=x', {}],
    ['text/csv', {}],
    ['application/xml', {}],
    ['application/json; charset=utf-16', {}],
    ['application/json', { 'content-encoding': 'gzip' }],
  ])('415 for %s %j', async (type, extra) => {
    await refused(
      await send('POST', '/invocations?model=credit', JSON.stringify({ inputs: [ROW] }), {
        'content-type': type,
        ...extra,
      }),
      415,
    );
  });

  it('accepts +json media types and a missing content type', async () => {
    for (const headers of [{ 'content-type': 'application/vnd.api+json' }, {}]) {
      const res = await fetch(`${gw.url}/invocations?model=credit`, {
        method: 'POST',
        headers,
        body: Buffer.from(JSON.stringify({ inputs: [ROW] })),
      });
      expect(res.status).toBe(200);
      goodRequests += 1;
    }
  });
});

describe('hostile gateway – non-finite and out-of-range numbers', () => {
  const at = (value: string): string => `[${[value, ...ROW.slice(1).map(String)].join(',')}]`;
  it.each([
    ['1e309 (Infinity after parsing)', '1e309'],
    ['-1e309', '-1e309'],
    ['3.5e38 (beyond float32)', '3.5e38'],
    ['-3.5e38', '-3.5e38'],
    ['1e39', '1e39'],
  ])('400 for %s via inputs, instances and v2, never a model error', async (_what, value) => {
    for (const [p, body] of [
      ['/invocations?model=credit', `{"inputs":[${at(value)}]}`],
      ['/invocations?model=credit', `{"instances":[${at(value)}]}`],
      ['/invocations?model=credit', `{"dataframe_split":{"columns":[],"data":[${at(value)}]}}`],
      [
        '/v2/models/credit/infer',
        `{"inputs":[{"name":"features","shape":[1,12],"datatype":"FP32","data":${at(value)}}]}`,
      ],
    ] as const) {
      const res = await send('POST', p, body);
      const refusal = await refused(res, 400, 'SERVING_REQUEST_INVALID');
      expect(refusal.error).toMatch(/expected finite FP32 numbers/);
    }
  });

  it('400 for 1e400 in dataframe_records', async () => {
    const record = Object.fromEntries(ROW.map((v, i) => [`f${i}`, i === 3 ? '__BIG__' : v]));
    const body = JSON.stringify({ dataframe_records: [record] }).replace('"__BIG__"', '1e400');
    await refused(await send('POST', '/invocations?model=credit', body), 400);
  });

  it('accepts the largest float32 itself', async () => {
    const res = await send(
      'POST',
      '/invocations?model=credit',
      `{"inputs":[${at('3.4028234663852886e38')}]}`,
    );
    expect(res.status).toBe(200);
    goodRequests += 1;
  });

  it.each([
    ['null', 'null'],
    ['a string', '"NaN"'],
    ['an object', '{"v":1}'],
  ])('400 for %s among the data', async (_what, value) => {
    await refused(await send('POST', '/invocations?model=credit', `{"inputs":[${at(value)}]}`), 400);
  });
});

describe('hostile gateway – shapes and dtypes', () => {
  it.each([
    ['FP64 for an FP32 input', v2Body(ROW).replace('FP32', 'FP64')],
    ['a BYTES datatype', v2Body(ROW).replace('FP32', 'BYTES')],
    ['11 columns', v2Body(ROW.slice(1), {}, [1, 11])],
    ['a shape that disagrees with the data', v2Body(ROW.slice(1))],
    ['a negative dimension', v2Body(ROW, {}, [-1, 12])],
    ['a fractional dimension', v2Body(ROW, {}, [0.5, 12])],
    ['40 dimensions', v2Body(ROW, {}, Array<number>(40).fill(1))],
    ['zero rows', v2Body([], {}, [0, 12])],
    ['an unknown input name', v2Body(ROW).replace('"features"', '"x"')],
    ['no inputs', '{"inputs":[]}'],
    ['inputs that is not a list', '{"inputs":{"features":1}}'],
    ['an unknown output', v2Body(ROW).replace(/}$/, ',"outputs":[{"name":"nope"}]}')],
  ])('400 for v2 with %s', async (_what, body) => {
    await refused(await send('POST', '/v2/models/credit/infer', body), 400, 'SERVING_REQUEST_INVALID');
  });

  it.each([
    ['ragged rows', { inputs: [ROW, ROW.slice(1)] }],
    ['two formats', { inputs: [ROW], instances: [ROW] }],
    ['no format', { rows: [ROW] }],
    ['strings in a dataframe', { dataframe_split: { columns: ['a'], data: [['a', 'b']] } }],
    ['records missing a column', { dataframe_records: [{ a: 1, b: 2 }, { a: 1 }] }],
    ['an empty instances list', { instances: [] }],
    ['a scalar input', { inputs: 1 }],
  ])('400 for MLflow scoring with %s', async (_what, body) => {
    await refused(
      await send('POST', '/invocations?model=credit', JSON.stringify(body)),
      400,
      'SERVING_REQUEST_INVALID',
    );
  });
});

describe('hostile gateway – rows', () => {
  it('413 for more rows than one request may carry', async () => {
    const rows = Array.from({ length: LIMITS.maxRowsPerRequest + 1 }, () => ROW);
    await refused(
      await send('POST', '/invocations?model=credit', JSON.stringify({ inputs: rows })),
      413,
      'SERVING_TOO_MANY_ROWS',
    );
  });

  it('413 for a v2 shape claiming a million rows, before its data is read', async () => {
    await refused(await send('POST', '/v2/models/credit/infer', v2Body(ROW, {}, [1_000_000, 12])), 413);
  });

  it('413 for too many dataframe records', async () => {
    const record = Object.fromEntries(ROW.map((v, i) => [`f${i}`, v]));
    const body = JSON.stringify({ dataframe_records: Array(LIMITS.maxRowsPerRequest + 1).fill(record) });
    await refused(await send('POST', '/invocations?model=credit', body), 413);
  });
});

describe('hostile gateway – admin API', () => {
  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: `Bearer ${TOKEN}x` }],
    ['another scheme', { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('401 with %s, for every admin route', async (_what, headers) => {
    for (const [method, p] of [
      ['GET', '/admin/models'],
      ['GET', '/admin/audit'],
      ['PUT', '/admin/models/credit/routing'],
      ['GET', '/admin/models/credit/stats'],
      ['GET', '/admin/nope'],
    ] as const) {
      const res = await send(
        method,
        p,
        method === 'PUT' ? JSON.stringify({ generation: 9, stable: { version: '2' } }) : undefined,
        headers,
      );
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="prograde-admin"/);
      await refused(res, 401, 'SERVING_UNAUTHORIZED');
    }
  });

  it('503 with Retry-After when the gateway has no token at all', async () => {
    await refused(
      await send('GET', '/admin/models', undefined, {}, frozen.url),
      503,
      'SERVING_ADMIN_DISABLED',
    );
  });

  it.each([
    ['malformed JSON', '{"generation": 2,', 'SERVING_BODY_INVALID'],
    ['deep JSON', '['.repeat(5000) + ']'.repeat(5000), 'SERVING_BODY_TOO_DEEP'],
    [
      'a traversal in a version',
      JSON.stringify({ generation: 2, stable: { version: '../../etc' } }),
      'SERVING_ROUTING_INVALID',
    ],
    [
      'an unknown field',
      JSON.stringify({ generation: 2, stable: { version: '2' }, evil: true }),
      'SERVING_ROUTING_INVALID',
    ],
    [
      'a weight over 100',
      JSON.stringify({ generation: 2, stable: { version: '1' }, canary: { version: '2', weight: 1e309 } }),
      'SERVING_ROUTING_INVALID',
    ],
    [
      'a generation that is not a number',
      JSON.stringify({ generation: '2', stable: { version: '2' } }),
      'SERVING_ROUTING_INVALID',
    ],
  ])('400 for a routing PUT with %s', async (_what, body, code) => {
    await refused(await admin('PUT', '/admin/models/credit/routing', body), 400, code);
  });

  it('409 for a stale generation', async () => {
    await refused(
      await admin(
        'PUT',
        '/admin/models/credit/routing',
        JSON.stringify({ generation: 1, stable: { version: '2' } }),
      ),
      409,
      'SERVING_ROUTING_CONFLICT',
    );
  });

  it('422 for a version that does not exist, without the models folder in the message', async () => {
    const body = await refused(
      await admin(
        'PUT',
        '/admin/models/credit/routing',
        JSON.stringify({ generation: 2, stable: { version: '77' } }),
      ),
      422,
      'SERVING_VERSION_NOT_FOUND',
    );
    expect(body.error).toMatch(/credit version 77/);
  });

  it('415 for a routing PUT that is not JSON', async () => {
    await refused(
      await admin('PUT', '/admin/models/credit/routing', 'generation=2', {
        'content-type': 'application/x-www-form-urlencoded',
      }),
      415,
    );
  });

  it('400 for a bad stats query, 404 for stats and routing of an unknown model', async () => {
    await refused(
      await admin('GET', '/admin/models/credit/stats?threshold=2'),
      400,
      'SERVING_REQUEST_INVALID',
    );
    await refused(await admin('GET', '/admin/models/credit/stats?sinceMs=-1'), 400);
    await refused(await admin('GET', '/admin/models/nosuch/stats'), 404);
    await refused(await admin('GET', '/admin/models/nosuch/routing'), 404);
    await refused(await admin('GET', '/admin/models/credit/stats?generation=99'), 409);
  });

  it('400 for an audit query naming an invalid model', async () => {
    await refused(await admin('GET', '/admin/audit?model=%ZZ'), 400, 'SERVING_NAME_INVALID');
    await refused(await admin('GET', '/admin/audit?model=../x'), 400, 'SERVING_NAME_INVALID');
  });

  it('the audit log holds only the three routings applied at start', async () => {
    const { entries } = (await (await admin('GET', '/admin/audit')).json()) as { entries: unknown[] };
    expect(entries).toHaveLength(3);
  });
});

describe('hostile gateway – admission control', () => {
  it('429 with Retry-After once a model’s token bucket is empty', async () => {
    const first = await send('POST', '/invocations?model=limited', JSON.stringify({ inputs: [ROW] }));
    expect(first.status).toBe(200);
    await refused(
      await send('POST', '/invocations?model=limited', JSON.stringify({ inputs: [ROW] })),
      429,
      'SERVING_RATE_LIMITED',
    );
  });

  it('503 with Retry-After when big bodies in flight fill the byte budget; small ones still pass', async () => {
    // A 40 KiB body, its headers sent and its bytes trickling, holds 40 KiB of the 64 KiB budget.
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    const length = 40 * 1024;
    socket.write(
      `POST /invocations?model=credit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"inputs": [`,
    );
    let sent = '{"inputs": ['.length;
    // A space every 200 ms keeps the held body inside the body idle timeout on a slow machine.
    const trickle = setInterval(() => {
      socket.write(' ');
      sent += 1;
    }, 200);
    await new Promise((r) => setTimeout(r, 100));
    const second = await send(
      'POST',
      '/invocations?model=credit',
      `{"inputs": [${ROW.join(',')}]}`.padEnd(length, ' '),
    );
    await refused(second, 503, 'SERVING_OVERLOADED');
    await goodRequest();
    clearInterval(trickle);
    socket.write(`${JSON.stringify(ROW)}]}`.padEnd(length - sent, ' '));
    for (let i = 0; i < 100 && !/\r\n\r\n\{.*\}$/s.test(answer); i++)
      await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    goodRequests += 1;
  });

  it('503 with Retry-After when rows in inference fill the row budget', async () => {
    const rows = Array.from({ length: 60 }, () => ROW);
    const body = JSON.stringify({ inputs: rows });
    // Six requests overlap in inference only if they arrive together; on a loaded machine one burst may
    // be served one by one, so bursts repeat (bounded) until the budget is seen full.
    let answers: Response[] = [];
    for (let burst = 0; burst < 20 && !answers.some((r) => r.status === 503); burst++) {
      for (const r of answers) await r.arrayBuffer();
      answers = await Promise.all(
        Array.from({ length: 6 }, () => send('POST', '/invocations?model=heavy', body)),
      );
    }
    const statuses = answers.map((r) => r.status);
    expect(statuses).toContain(503);
    for (const r of answers) {
      if (r.status === 503) await refused(r, 503, 'SERVING_OVERLOADED');
      else {
        expect(r.status).toBe(200);
        await r.arrayBuffer();
      }
    }
  });

  it('503 with Retry-After for a connection past the cap, then serves again', async () => {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect(capped.port, '127.0.0.1');
      s.on('error', () => undefined);
      sockets.push(s);
      await new Promise<void>((resolve) => s.once('connect', resolve));
    }
    await new Promise((r) => setTimeout(r, 50));
    const a = await raw(['GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n'], { port: capped.port });
    rawRefused(a, 503, 'SERVING_TOO_MANY_CONNECTIONS');
    for (const s of sockets) s.destroy();
    // The gateway sees the closes a moment later; on a loaded machine that moment can be long.
    let ok = await raw(['GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n'], { port: capped.port });
    for (let i = 0; i < 50 && ok.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ok = await raw(['GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n'], { port: capped.port });
    }
    expect(ok.status).toBe(200);
  });
});

describe('hostile gateway – slow senders', () => {
  it('408 for headers that never finish (slowloris)', async () => {
    const started = Date.now();
    const a = await raw(['POST /invocations HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n'], { waitMs: 10_000 });
    rawRefused(a, 408, 'SERVING_REQUEST_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('408 and a closed connection for a body that stalls', async () => {
    const a = await raw(
      [
        'POST /invocations?model=credit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"inputs": [[1,',
      ],
      { waitMs: 10_000 },
    );
    rawRefused(a, 408, 'SERVING_BODY_TIMEOUT');
    expect(a.headers.connection).toBe('close');
  });

  it('a body that trickles in within the idle timeout is served', async () => {
    const body = JSON.stringify({ inputs: [ROW] });
    const head = `POST /invocations?model=credit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const third = Math.ceil(body.length / 3);
    const a = await raw([head, body.slice(0, third), body.slice(third, 2 * third), body.slice(2 * third)], {
      gapMs: 200,
    });
    expect(a.status).toBe(200);
    goodRequests += 1;
  });
});

describe('hostile gateway – malformed HTTP', () => {
  it.each([
    [
      'Content-Length and Transfer-Encoding together (smuggling)',
      'POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'two different Content-Lengths',
      'POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      400,
    ],
    ['a header name with a space', 'GET /v2 HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n', 400],
    ['garbage instead of a request line', 'HELLO THERE\r\n\r\n', 400],
    ['a negative Content-Length', 'POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n', 400],
    ['a 20 KiB header', `GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431],
  ])('%s', async (_what, text, status) => {
    rawRefused(await raw([text]), status);
  });
});

describe('hostile gateway – unknown models and a frozen registry', () => {
  it('503 with Retry-After within the lookup timeout, without the registry address', async () => {
    const started = Date.now();
    const res = await send('POST', '/v2/models/never-seen/infer', v2Body(ROW), {}, frozen.url);
    const body = await refused(res, 503, 'SERVING_REGISTRY_TIMEOUT');
    expect(body.error).not.toContain(String(blackholePort));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('caps registry lookups in flight: a flood of names is refused at once', async () => {
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send('POST', `/invocations?model=flood-${i}`, JSON.stringify({ inputs: [ROW] }), {}, frozen.url),
      ),
    );
    for (const r of answers) await refused(r, 503, /^SERVING_REGISTRY_(TIMEOUT|BUSY)$/);
    expect(answers.filter((r) => r.status === 503)).toHaveLength(20);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('remembers an unknown model: one registry lookup for repeated requests', async () => {
    for (let i = 0; i < 5; i++)
      await refused(
        await send('POST', '/v2/models/ghost-model/infer', v2Body(ROW)),
        404,
        'SERVING_MODEL_NOT_FOUND',
      );
    await refused(await send('GET', '/v2/models/ghost-model'), 404);
    expect(lookups.get('ghost-model')).toBe(1);
  });

  it('refuses an unknown model before reading its body', async () => {
    const res = await send('POST', '/v2/models/ghost-model/infer', Buffer.alloc(60 * 1024, 0x20));
    await refused(res, 404, 'SERVING_MODEL_NOT_FOUND');
  });
});

describe('hostile gateway – what the operator sees', () => {
  it('logs client errors at debug, without stacks, and nothing at warn or above but refused access', () => {
    const entries = logLines.map(
      (l) => JSON.parse(l) as { level: number; msg: string; status?: number; err?: unknown; remote?: string },
    );
    // Refused access (401/403) is the exception: a warn line with the caller's address, rate-limited.
    const isAccess = (e: { msg: string }): boolean =>
      e.msg.startsWith('refused ') || e.msg.endsWith('more refused requests suppressed');
    const access = entries.filter((e) => e.msg.startsWith('refused '));
    expect(access.length).toBeGreaterThan(0);
    for (const e of access) {
      expect(e).toMatchObject({ level: 40, remote: '127.0.0.1' });
      expect([401, 403]).toContain(e.status);
    }
    const refusals = entries.filter((e) => e.status !== undefined && e.msg !== 'request' && !isAccess(e));
    expect(refusals.length).toBeGreaterThan(50);
    for (const e of refusals) {
      expect({ level: e.level, msg: e.msg }).toMatchObject({ level: 20 });
      expect(e.err).toBeUndefined();
    }
    expect(entries.filter((e) => e.level >= 40 && !isAccess(e))).toEqual([]);
  });

  it('counts refusals in /metrics by status and code, and none as a model error', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/prograde_gateway_refused_total\{status="413",code="SERVING_BODY_TOO_LARGE"\} \d+/);
    expect(text).toMatch(/prograde_gateway_refused_total\{status="503",code="SERVING_OVERLOADED"\} \d+/);
    expect(text).not.toMatch(/prograde_gateway_errors_total\{/);
  });
});
