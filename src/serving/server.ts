/**
 * The serving gateway: prograde's default deployment target.
 *
 * Data plane (no auth):
 *   GET  /v2/health/live · /v2/health/ready (also /ping, /health) · /v2 · /v2/models/{m}[/versions/{v}] · /v2/models/{m}/ready
 *   POST /v2/models/{m}[/versions/{v}]/infer   Open Inference Protocol v2
 *   POST /invocations[?model=m]                MLflow scoring (inputs | instances | dataframe_split | dataframe_records)
 *   GET  /metrics                              Prometheus text
 * Admin (Authorization: Bearer <token>):
 *   PUT/GET /admin/models/{m}/routing · GET /admin/models/{m}/stats?sinceMs&generation&threshold
 *   GET /admin/audit?model= · GET /admin/models
 *
 * Decisions:
 * - Answers carry `x-prograde-variant` (stable|canary) and `x-prograde-version`, errors included once
 *   a variant was chosen.
 * - A prediction with a NaN/Inf value is answered 502 `{error: 'model returned non-finite output'}`
 *   and counted as an error of its variant: the model, not the caller, is at fault, and a canary
 *   that emits NaN must fail its analysis rather than pass silently. Inputs a model's dtype cannot
 *   hold (1e309, ±3.5e38 for float32, 2^31 for int32) never reach it: they are the caller's 400.
 * - Client errors (4xx) are not variant errors; they never reach a model, are logged at debug
 *   without a stack, and their messages carry no file paths or registry URLs.
 * - Admission (src/serving/limits.ts): body bytes, JSON depth, rows per request, bytes and rows in
 *   flight, open connections and slow senders are all bounded. Over a per-request bound the answer is
 *   413 / 400 / 408; over a gateway-wide budget it is 503 with Retry-After (429 for a model's rate
 *   limit). A refused body is read and discarded (bounded), so the client reads the answer, not a reset.
 * - A model without routing is looked up in the registry with a timeout, a cap on lookups in flight,
 *   and a cache of answers (negative ones too): a frozen registry costs a 503, never a hang.
 * - A batch whose inference thread crashes is re-run once on a restarted thread; a second crash is
 *   answered 503 SERVING_WORKER_CRASHED (retry later), other inference failures 500.
 * - Shadow copies run on their own worker threads with a bounded backlog (overflow is dropped and
 *   counted), so the caller's latency never includes shadow work.
 * - The admin API is disabled (503) when no token is configured, never open.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { Admission, type Ticket } from './admission';
import type { BatchingOptions } from './batcher';
import { BodyParser } from './body-parser';
import { answerClientErrors, capConnections } from './connections';
import { RoutingPut } from './desired-state';
import { Gateway, VariantError, type InferResult } from './gateway';
import {
  HttpError,
  checkDeclaredBody,
  checkJsonContentType,
  DiscardRate,
  discardBody,
  headerValue,
  publicMessageOf,
  quoted,
  readBody,
  sendError,
  sendJson,
  type BodyLimits,
} from './http-util';
import { parseJsonBody } from './json-body';
import { resolveLimits, type GatewayLimits } from './limits';
import { GatewayMetrics } from './metrics';
import { ModelLookup } from './model-lookup';
import type { ModelSource } from './model-source';
import { PredictionLog } from './prediction-log';
import { ModelRateLimiter, type RateLimit } from './rate-limit';
import { checkRequest, type GivenRequest } from './request-tensors';
import { NAME_PATTERN, type Variant } from './routing';
import { StateStore } from './state-store';
import { V2_DATATYPE, nest, toNumbers } from './tensors';
import { VersionHost } from './version-host';
import { DEFAULT_WINDOW_STATS, type WindowStatsOptions } from './window-stats';
import type { ModelSignature } from './worker/messages';
import { WorkerPool } from './worker/worker-pool';

export interface GatewayOptions {
  readonly source: ModelSource;
  /** Routing state and audit log live here. */
  readonly stateDir: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** Bearer token of the admin API; falls back to PROGRADE_GATEWAY_TOKEN. Without one the admin API answers 503. */
  readonly token?: string | undefined;
  readonly logger?: Logger;
  /** Inference threads for traffic (default 2) and for shadow copies (default 1). */
  readonly workers?: number;
  readonly shadowWorkers?: number;
  readonly intraOpNumThreads?: number;
  readonly warmupRuns?: number;
  readonly batching?: Partial<BatchingOptions>;
  /** Largest request body accepted, bytes (default 8 MiB); the same as `limits.maxBodyBytes`. */
  readonly maxBodyBytes?: number;
  /** Parse limits, in-flight budgets, timeouts (defaults: DEFAULT_LIMITS in src/serving/limits.ts). */
  readonly limits?: Partial<GatewayLimits>;
  /** Token bucket per model; `perModel` overrides the default for named models. Unset: unlimited. */
  readonly rateLimit?: {
    readonly default?: RateLimit;
    readonly perModel?: Readonly<Record<string, RateLimit>>;
  };
  readonly stats?: Partial<WindowStatsOptions>;
  /** Score threshold for shadow agreement when the stats query does not give one (default 0.5). */
  readonly agreementThreshold?: number;
  readonly maxShadowBacklog?: number;
  /** Pause between attempts to reload a model that failed to restore at boot (default 5 s). */
  readonly restoreRetryMs?: number;
  /** How long close() lets open connections finish before cutting them (default 10 s). */
  readonly shutdownGraceMs?: number;
  /** Sampled prediction logging; default off. */
  readonly predictionLog?: { readonly file?: string; readonly sampleRate: number };
}

export interface GatewayHandle {
  readonly url: string;
  readonly port: number;
  /** Resolves once persisted routing is restored and its models are loaded. */
  whenReady(): Promise<void>;
  close(): Promise<void>;
}

const StatsQuery = z.object({
  sinceMs: z.coerce.number().int().min(0).optional(),
  generation: z.coerce.number().int().min(1).optional(),
  threshold: z.coerce.number().min(0).max(1).optional(),
});

const ForceVariant = z.enum(['stable', 'canary']);

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = headerValue(req, 'authorization') ?? '';
  const match = /^Bearer (.+)$/i.exec(header);
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A model or version name, checked against the safe alphabet (never decoded here). */
function checkName(value: string, what: string): string {
  if (!NAME_PATTERN.test(value))
    throw new HttpError(
      400,
      'SERVING_NAME_INVALID',
      `${what} ${quoted(value)} must be 1–128 characters from [A-Za-z0-9._-], starting with a letter or digit`,
    );
  return value;
}

/** A path segment: percent-decoded exactly once, then checked. */
function pathName(raw: string, what: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'SERVING_NAME_INVALID', `${what} ${quoted(raw)} is not valid percent-encoding`);
  }
  return checkName(decoded, what);
}

function tensorMeta(signature: ModelSignature): { inputs: unknown[]; outputs: unknown[] } {
  const describe = (t: ModelSignature['inputs'][number]): unknown => ({
    name: t.name,
    datatype: V2_DATATYPE[t.dtype as keyof typeof V2_DATATYPE],
    shape: t.shape,
  });
  return { inputs: signature.inputs.map(describe), outputs: signature.outputs.map(describe) };
}

function variantHeaders(variant: Variant, version: string): Record<string, string> {
  return { 'x-prograde-variant': variant, 'x-prograde-version': version };
}

/** One request being served: the parsed URL, its path parameters and what it holds of the budgets. */
interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Raw path segments bound to `:name` parts of the route (decode with `pathName`). */
  readonly params: Readonly<Record<string, string>>;
  readonly ticket: Ticket;
}

type Handler = (ctx: Ctx) => Promise<void> | void;

interface Route {
  /** Segments; `:x` binds a parameter. */
  readonly path: readonly string[];
  readonly methods: Readonly<Partial<Record<'GET' | 'PUT' | 'POST', Handler>>>;
}

function matchRoute(
  routes: readonly Route[],
  parts: readonly string[],
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.path.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = route.path.every((p, i) => {
      const part = parts[i] as string;
      if (p.startsWith(':')) {
        params[p.slice(1)] = part;
        return true;
      }
      return p === part;
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/** Starts the serving gateway: HTTP API, worker threads, restored routing. */
export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const logger = options.logger ?? pino({ name: 'prograde-gateway' });
  const token = options.token ?? process.env.PROGRADE_GATEWAY_TOKEN;
  const limits = resolveLimits(options.limits, options.maxBodyBytes);
  const threshold = options.agreementThreshold ?? 0.5;
  const batching: BatchingOptions = {
    maxBatchSize: 64,
    maxWaitMs: 2,
    maxConcurrentRuns: options.workers ?? 2,
    ...options.batching,
  };
  const poolOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    warmupRuns: options.warmupRuns ?? 3,
    logger,
  };
  const servingPool = new WorkerPool({ ...poolOptions, size: options.workers ?? 2 });
  const shadowPool = new WorkerPool({ ...poolOptions, size: options.shadowWorkers ?? 1 });
  const store = new StateStore(options.stateDir);
  await store.init();
  const metrics = new GatewayMetrics();
  const predictionLog =
    options.predictionLog && options.predictionLog.sampleRate > 0
      ? new PredictionLog({
          file: options.predictionLog.file ?? path.join(options.stateDir, 'predictions.jsonl'),
          sampleRate: options.predictionLog.sampleRate,
        })
      : undefined;
  const admission = new Admission(limits);
  const discard = {
    maxBytes: limits.maxDiscardBytes,
    idleTimeoutMs: limits.bodyIdleTimeoutMs,
    rate: new DiscardRate(limits.discardBytesPerSec),
  };
  const parser = new BodyParser({
    maxDepth: limits.maxJsonDepth,
    maxRows: limits.maxRowsPerRequest,
    offThreadBytes: limits.offThreadParseBytes,
    logger,
  });
  const gateway = new Gateway({
    source: options.source,
    lookup: new ModelLookup(options.source, {
      timeoutMs: limits.modelLookupTimeoutMs,
      maxInFlight: limits.maxModelLookups,
      cacheMs: limits.modelLookupCacheMs,
      maxEntries: 10_000,
      retryAfterSec: limits.retryAfterSec,
      logger,
    }),
    store,
    servingHost: new VersionHost(servingPool, options.source, batching, logger.child({ pool: 'serving' })),
    shadowHost: new VersionHost(shadowPool, options.source, batching, logger.child({ pool: 'shadow' })),
    metrics,
    limiter: new ModelRateLimiter(
      (model) => options.rateLimit?.perModel?.[model] ?? options.rateLimit?.default,
    ),
    retryAfterSec: limits.retryAfterSec,
    logger,
    stats: { ...DEFAULT_WINDOW_STATS, ...options.stats },
    maxShadowBacklog: options.maxShadowBacklog ?? 256,
    ...(options.restoreRetryMs !== undefined ? { restoreRetryMs: options.restoreRetryMs } : {}),
    predictionLog,
  });

  const requireAdmin = (req: IncomingMessage): void => {
    if (!token)
      throw new HttpError(
        503,
        'SERVING_ADMIN_DISABLED',
        'the admin API is disabled: no token configured (--token or PROGRADE_GATEWAY_TOKEN)',
      );
    if (!bearerMatches(req, token))
      throw new HttpError(
        401,
        'SERVING_UNAUTHORIZED',
        'admin API needs header Authorization: Bearer <token>',
        {},
        { headers: { 'www-authenticate': 'Bearer' } },
      );
  };

  const bodyLimits = (ticket: Ticket): BodyLimits => ({
    maxBytes: limits.maxBodyBytes,
    idleTimeoutMs: limits.bodyIdleTimeoutMs,
    admit: (bytes) => ticket.growBody(bytes),
  });

  /**
   * Checks media type and declared size before anything else is done for the request. The body's
   * bytes are held against the budget only once it is read, so a registry lookup never holds them.
   */
  const precheckBody = (ctx: Ctx): void => {
    checkJsonContentType(ctx.req);
    checkDeclaredBody(ctx.req, { maxBytes: limits.maxBodyBytes, idleTimeoutMs: limits.bodyIdleTimeoutMs });
  };

  const readJsonBody = async (ctx: Ctx): Promise<unknown> =>
    parseJsonBody(await readBody(ctx.req, bodyLimits(ctx.ticket)), limits.maxJsonDepth);

  const readInferBody = async (ctx: Ctx, kind: 'v2' | 'mlflow'): Promise<GivenRequest> => {
    const given = await parser.parse(kind, await readBody(ctx.req, bodyLimits(ctx.ticket)));
    const rows = Math.max(0, ...given.inputs.map((i) => i.shape[0] ?? 0));
    const refused = ctx.ticket.takeRows(rows);
    if (refused) throw refused;
    return given;
  };

  const inferAndSend = async (
    ctx: Ctx,
    model: string,
    version: string | undefined,
    kind: 'v2' | 'mlflow',
  ): Promise<void> => {
    const { req, res } = ctx;
    precheckBody(ctx);
    const forced = headerValue(req, 'x-prograde-force-variant');
    let force: Variant | undefined;
    if (forced !== undefined) {
      const parsed = ForceVariant.safeParse(forced);
      if (!parsed.success)
        throw new HttpError(
          400,
          'SERVING_REQUEST_INVALID',
          `x-prograde-force-variant must be stable or canary, got ${quoted(forced)}`,
        );
      force = parsed.data;
    }
    // An unknown model is refused before its body is read or parsed.
    await gateway.checkServed(model);
    const given = await readInferBody(ctx, kind);
    const result: InferResult = await gateway.infer({
      model,
      version,
      routingKey: headerValue(req, 'x-routing-key'),
      force,
      parse: (signature) => checkRequest(signature, given),
    });
    const headers = variantHeaders(result.variant, result.version);
    if (kind === 'v2') {
      // Requested outputs were checked against the signature before inference (checkRequest).
      const wanted = given.outputs;
      const outputs = result.outputs
        .filter((o) => !wanted || wanted.includes(o.name))
        .map((o) => ({
          name: o.name,
          datatype: V2_DATATYPE[o.dtype],
          shape: o.dims,
          data: toNumbers(o.data),
        }));
      sendJson(
        res,
        200,
        {
          model_name: model,
          model_version: result.version,
          ...(given.id !== undefined ? { id: given.id } : {}),
          outputs,
        },
        headers,
      );
      return;
    }
    // MLflow scoring: one output → its rows; several → {name: rows}.
    const [only] = result.outputs;
    const predictions =
      result.outputs.length === 1 && only
        ? nest(toNumbers(only.data), only.dims)
        : Object.fromEntries(result.outputs.map((o) => [o.name, nest(toNumbers(o.data), o.dims)]));
    sendJson(res, 200, { predictions }, headers);
  };

  /** `?model=` is already percent-decoded by URLSearchParams; the header is taken literally. */
  const invocationModel = (req: IncomingMessage, url: URL): string => {
    const fromQuery = url.searchParams.get('model');
    if (fromQuery !== null) return checkName(fromQuery, 'model');
    const fromHeader = headerValue(req, 'x-prograde-model');
    if (fromHeader !== undefined) return checkName(fromHeader, 'model');
    const models = gateway.models();
    if (models.length === 1 && models[0]) return models[0];
    if (models.length === 0) throw new HttpError(503, 'SERVING_NO_ROUTING', 'no model is routed yet');
    throw new HttpError(
      400,
      'SERVING_MODEL_REQUIRED',
      `several models are served (${models.join(', ')}); choose one with ?model= or the x-prograde-model header`,
    );
  };

  const ready: Handler = ({ res }) => {
    const isReady = gateway.isReady();
    sendJson(res, isReady ? 200 : 503, { ready: isReady });
  };
  const metadata: Handler = async ({ res, params }) => {
    const model = pathName(params.model ?? '', 'model');
    const version = params.version !== undefined ? pathName(params.version, 'version') : undefined;
    const meta = await gateway.metadata(model, version);
    sendJson(res, 200, {
      name: model,
      versions: meta.versions,
      platform: 'onnxruntime_onnx',
      ...tensorMeta(meta.signature),
    });
  };

  const routes: readonly Route[] = [
    { path: ['v2', 'health', 'live'], methods: { GET: ({ res }) => sendJson(res, 200, { live: true }) } },
    { path: ['v2', 'health', 'ready'], methods: { GET: ready } },
    { path: ['ping'], methods: { GET: ready } },
    { path: ['health'], methods: { GET: ready } },
    {
      path: ['v2'],
      methods: {
        GET: ({ res }) => sendJson(res, 200, { name: 'prograde-gateway', version: '0.1.0', extensions: [] }),
      },
    },
    {
      path: ['metrics'],
      methods: {
        GET: ({ res }) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(metrics.render());
        },
      },
    },
    {
      path: ['v2', 'models', ':model', 'ready'],
      methods: {
        GET: ({ res, params }) => {
          const model = pathName(params.model ?? '', 'model');
          const isReady = gateway.isModelReady(model);
          sendJson(res, isReady ? 200 : 503, { name: model, ready: isReady });
        },
      },
    },
    { path: ['v2', 'models', ':model'], methods: { GET: metadata } },
    { path: ['v2', 'models', ':model', 'versions', ':version'], methods: { GET: metadata } },
    {
      path: ['v2', 'models', ':model', 'infer'],
      methods: {
        POST: (ctx) => inferAndSend(ctx, pathName(ctx.params.model ?? '', 'model'), undefined, 'v2'),
      },
    },
    {
      path: ['v2', 'models', ':model', 'versions', ':version', 'infer'],
      methods: {
        POST: (ctx) =>
          inferAndSend(
            ctx,
            pathName(ctx.params.model ?? '', 'model'),
            pathName(ctx.params.version ?? '', 'version'),
            'v2',
          ),
      },
    },
    {
      path: ['invocations'],
      methods: { POST: (ctx) => inferAndSend(ctx, invocationModel(ctx.req, ctx.url), undefined, 'mlflow') },
    },
    {
      path: ['admin', 'audit'],
      methods: {
        GET: async ({ res, url }) => {
          const model = url.searchParams.get('model');
          sendJson(res, 200, {
            entries: await gateway.audit(model !== null ? checkName(model, 'model') : undefined),
          });
        },
      },
    },
    {
      path: ['admin', 'models'],
      methods: {
        GET: ({ res }) =>
          sendJson(res, 200, {
            models: gateway
              .models()
              .map((m) => ({ model: m, ready: gateway.isModelReady(m), ...gateway.routingView(m) })),
          }),
      },
    },
    {
      path: ['admin', 'models', ':model', 'routing'],
      methods: {
        GET: ({ res, params }) => {
          const model = pathName(params.model ?? '', 'model');
          const view = gateway.routingView(model);
          if (!view)
            throw new HttpError(404, 'SERVING_MODEL_NOT_FOUND', `model '${model}' has no routing`, { model });
          sendJson(res, 200, { model, ready: gateway.isModelReady(model), ...view });
        },
        PUT: async (ctx) => {
          const model = pathName(ctx.params.model ?? '', 'model');
          precheckBody(ctx);
          const parsed = RoutingPut.safeParse(await readJsonBody(ctx));
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            throw new HttpError(
              400,
              'SERVING_ROUTING_INVALID',
              `invalid routing at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'malformed'}`,
            );
          }
          const actor = headerValue(ctx.req, 'x-prograde-actor');
          const result = await gateway.applyRouting(model, parsed.data, actor?.slice(0, 256));
          sendJson(ctx.res, 200, {
            model,
            applied: result.applied,
            ...(gateway.routingView(model) ?? result.state),
          });
        },
      },
    },
    {
      path: ['admin', 'models', ':model', 'stats'],
      methods: {
        GET: ({ res, params, url }) => {
          const model = pathName(params.model ?? '', 'model');
          const q = StatsQuery.safeParse(Object.fromEntries(url.searchParams));
          if (!q.success)
            throw new HttpError(
              400,
              'SERVING_REQUEST_INVALID',
              `invalid stats query: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
            );
          sendJson(res, 200, {
            model,
            ...gateway.statsView(model, {
              sinceMs: q.data.sinceMs ?? 0,
              generation: q.data.generation,
              threshold: q.data.threshold ?? threshold,
            }),
          });
        },
      },
    },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse, ticket: Ticket): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://gateway');
    } catch {
      throw new HttpError(400, 'SERVING_URL_INVALID', 'the request target is not a valid URL path');
    }
    const parts = url.pathname.split('/').filter((p) => p !== '');
    if (parts[0] === 'admin') requireAdmin(req);
    const match = matchRoute(routes, parts);
    if (!match)
      throw new HttpError(
        404,
        'SERVING_ROUTE_NOT_FOUND',
        `no route for ${quoted(req.method ?? '')} ${quoted(url.pathname)}`,
      );
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const handler = match.route.methods[method as keyof Route['methods']];
    const allowed = Object.keys(match.route.methods);
    const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    if (method === 'OPTIONS') {
      res.writeHead(204, { allow });
      res.end();
      return;
    }
    if (!handler)
      throw new HttpError(
        405,
        'SERVING_METHOD_NOT_ALLOWED',
        `method ${quoted(req.method ?? '')} is not allowed on ${quoted(url.pathname)}; allowed: ${allow}`,
        {},
        { headers: { allow } },
      );
    await handler({ req, res, url, params: match.params, ticket });
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, e: unknown): void => {
    let error: HttpError;
    if (e instanceof HttpError) {
      error = e;
      const fields = { status: e.status, code: e.code, method: req.method, url: req.url?.slice(0, 200) };
      // Client errors and 503s (overload, not routed, not ready: "come back later") are expected
      // traffic: one quiet line, no stack. Only server faults are logged loudly.
      if (e.status < 500 || e.status === 503) logger.debug(fields, e.message);
      else logger.warn({ ...fields, err: e }, e.message);
    } else {
      logger.error({ err: e, method: req.method, url: req.url?.slice(0, 200) }, 'unhandled gateway error');
      error = new HttpError(500, 'SERVING_INTERNAL', `internal error: ${publicMessageOf(e)}`);
    }
    metrics.refuse(error.status, error.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e instanceof VariantError) sendError(res, error, variantHeaders(e.variant, e.version));
    else sendError(res, error);
    if (error.reply.close) res.once('finish', () => req.socket.destroy());
    // The client may still be sending the body we refused: take it, so it reads the answer.
    else discardBody(req, discard);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const ticket = admission.ticket();
    res.once('close', () => ticket.release());
    res.on('finish', () => {
      logger.debug(
        {
          method: req.method,
          url: req.url?.slice(0, 200),
          status: res.statusCode,
          ms: performance.now() - started,
          variant: res.getHeader('x-prograde-variant'),
        },
        'request',
      );
    });
    handle(req, res, ticket).catch((e: unknown) => refuse(req, res, e));
  };

  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node checks the two timeouts above; its default (30 s) would let a slow sender
      // hold a connection for up to that much longer.
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    onRequest,
  );
  server.keepAliveTimeout = 5_000;
  // A client that sends `Expect: 100-continue` with an oversized body is refused before it sends it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limits.maxBodyBytes) {
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
  });
  answerClientErrors(server, (code) => logger.debug({ code }, 'malformed HTTP request refused'));

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    { url, source: options.source.description, stateDir: options.stateDir, limits },
    'gateway listening',
  );

  const restored = gateway.restore();
  restored.catch((e: unknown) =>
    logger.error({ err: e }, 'restoring routing failed; the gateway stays unready'),
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    whenReady: () => restored,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          // Requests in flight finish; keep-alive sockets that stay open past the grace period are cut.
          const force = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 10_000);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        });
        await gateway.close();
        await Promise.all([servingPool.close(), shadowPool.close(), parser.close(), predictionLog?.close()]);
      })();
      return closing;
    },
  };
}
