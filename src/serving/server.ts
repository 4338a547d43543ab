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
 *   that emits NaN must fail its analysis rather than pass silently.
 * - Client errors (400, 404, 413, 429) are not variant errors; they never reach a model.
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
import { ProgradeError, messageOf } from '../errors';
import type { BatchingOptions } from './batcher';
import { RoutingPut } from './desired-state';
import { Gateway, VariantError, type InferResult } from './gateway';
import { HttpError, headerValue, readJson, sendError, sendJson } from './http-util';
import { GatewayMetrics } from './metrics';
import type { ModelSource } from './model-source';
import { PredictionLog } from './prediction-log';
import { ModelRateLimiter, type RateLimit } from './rate-limit';
import { checkInvocation, checkV2, parseV2 } from './request-tensors';
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
  /** Largest request body accepted, bytes (default 8 MiB). */
  readonly maxBodyBytes?: number;
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

function segment(value: string, what: string): string {
  const decoded = decodeURIComponent(value);
  if (!NAME_PATTERN.test(decoded))
    throw new HttpError(
      400,
      'SERVING_NAME_INVALID',
      `${what} '${decoded}' has characters outside [A-Za-z0-9._-]`,
    );
  return decoded;
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

/** Starts the serving gateway: HTTP API, worker threads, restored routing. */
export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const logger = options.logger ?? pino({ name: 'prograde-gateway' });
  const token = options.token ?? process.env.PROGRADE_GATEWAY_TOKEN;
  const maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;
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
  const gateway = new Gateway({
    source: options.source,
    store,
    servingHost: new VersionHost(servingPool, options.source, batching, logger.child({ pool: 'serving' })),
    shadowHost: new VersionHost(shadowPool, options.source, batching, logger.child({ pool: 'shadow' })),
    metrics,
    limiter: new ModelRateLimiter(
      (model) => options.rateLimit?.perModel?.[model] ?? options.rateLimit?.default,
    ),
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
      );
  };

  const inferAndSend = async (
    req: IncomingMessage,
    res: ServerResponse,
    model: string,
    version: string | undefined,
    kind: 'v2' | 'mlflow',
  ): Promise<void> => {
    const body = await readJson(req, maxBodyBytes);
    const forced = headerValue(req, 'x-prograde-force-variant');
    let force: Variant | undefined;
    if (forced !== undefined) {
      const parsed = ForceVariant.safeParse(forced);
      if (!parsed.success)
        throw new HttpError(
          400,
          'SERVING_REQUEST_INVALID',
          `x-prograde-force-variant must be stable or canary, got '${forced}'`,
        );
      force = parsed.data;
    }
    const v2 = kind === 'v2' ? parseV2(body) : undefined;
    const result: InferResult = await gateway.infer({
      model,
      version,
      routingKey: headerValue(req, 'x-routing-key'),
      force,
      parse: (signature) => (v2 ? checkV2(signature, v2) : checkInvocation(signature, body)),
    });
    const headers = variantHeaders(result.variant, result.version);
    if (v2) {
      const wanted = v2.outputs?.map((o) => o.name);
      const unknown = wanted?.find((n) => !result.outputs.some((o) => o.name === n));
      if (unknown !== undefined)
        throw new HttpError(
          400,
          'SERVING_REQUEST_INVALID',
          `unknown output '${unknown}'; the model returns ${result.outputs.map((o) => `'${o.name}'`).join(', ')}`,
        );
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
          ...(v2.id !== undefined ? { id: v2.id } : {}),
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

  const invocationModel = (req: IncomingMessage, url: URL): string => {
    const named = url.searchParams.get('model') ?? headerValue(req, 'x-prograde-model');
    if (named) return segment(named, 'model');
    const models = gateway.models();
    if (models.length === 1 && models[0]) return models[0];
    if (models.length === 0) throw new HttpError(503, 'SERVING_NO_ROUTING', 'no model is routed yet');
    throw new HttpError(
      400,
      'SERVING_MODEL_REQUIRED',
      `several models are served (${models.join(', ')}); choose one with ?model= or the x-prograde-model header`,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const method = req.method ?? 'GET';
    const at = (...want: string[]): boolean =>
      parts.length === want.length && want.every((w, i) => w === '*' || w === parts[i]);
    const part = (i: number, what: string): string => segment(parts[i] ?? '', what);

    if (method === 'GET' && at('v2', 'health', 'live')) return sendJson(res, 200, { live: true });
    if (method === 'GET' && (at('v2', 'health', 'ready') || at('ping') || at('health'))) {
      const ready = gateway.isReady();
      return sendJson(res, ready ? 200 : 503, { ready });
    }
    if (method === 'GET' && at('v2'))
      return sendJson(res, 200, { name: 'prograde-gateway', version: '0.1.0', extensions: [] });
    if (method === 'GET' && at('metrics')) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics.render());
      return;
    }
    if (parts[0] === 'v2' && parts[1] === 'models' && parts.length >= 3) {
      const model = part(2, 'model');
      if (method === 'GET' && at('v2', 'models', '*', 'ready')) {
        const ready = gateway.isModelReady(model);
        return sendJson(res, ready ? 200 : 503, { name: model, ready });
      }
      if (method === 'GET' && (at('v2', 'models', '*') || at('v2', 'models', '*', 'versions', '*'))) {
        const meta = await gateway.metadata(model, parts[4] !== undefined ? part(4, 'version') : undefined);
        return sendJson(res, 200, {
          name: model,
          versions: meta.versions,
          platform: 'onnxruntime_onnx',
          ...tensorMeta(meta.signature),
        });
      }
      if (method === 'POST' && at('v2', 'models', '*', 'infer'))
        return inferAndSend(req, res, model, undefined, 'v2');
      if (method === 'POST' && at('v2', 'models', '*', 'versions', '*', 'infer'))
        return inferAndSend(req, res, model, part(4, 'version'), 'v2');
    }
    if (method === 'POST' && at('invocations'))
      return inferAndSend(req, res, invocationModel(req, url), undefined, 'mlflow');

    if (parts[0] === 'admin') {
      requireAdmin(req);
      if (at('admin', 'audit') && method === 'GET') {
        const model = url.searchParams.get('model');
        return sendJson(res, 200, { entries: await gateway.audit(model ?? undefined) });
      }
      if (at('admin', 'models') && method === 'GET')
        return sendJson(res, 200, {
          models: gateway
            .models()
            .map((m) => ({ model: m, ready: gateway.isModelReady(m), ...gateway.routingView(m) })),
        });
      if (at('admin', 'models', '*', 'routing')) {
        const model = part(2, 'model');
        if (method === 'GET') {
          const view = gateway.routingView(model);
          if (!view)
            throw new HttpError(404, 'SERVING_MODEL_NOT_FOUND', `model '${model}' has no routing`, { model });
          return sendJson(res, 200, { model, ready: gateway.isModelReady(model), ...view });
        }
        if (method === 'PUT') {
          const parsed = RoutingPut.safeParse(await readJson(req, maxBodyBytes));
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            throw new HttpError(
              400,
              'SERVING_ROUTING_INVALID',
              `invalid routing at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'malformed'}`,
            );
          }
          const result = await gateway.applyRouting(model, parsed.data, headerValue(req, 'x-prograde-actor'));
          return sendJson(res, 200, {
            model,
            applied: result.applied,
            ...(gateway.routingView(model) ?? result.state),
          });
        }
      }
      if (at('admin', 'models', '*', 'stats') && method === 'GET') {
        const model = part(2, 'model');
        const q = StatsQuery.safeParse(Object.fromEntries(url.searchParams));
        if (!q.success)
          throw new HttpError(
            400,
            'SERVING_REQUEST_INVALID',
            `invalid stats query: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          );
        return sendJson(res, 200, {
          model,
          ...gateway.statsView(model, {
            sinceMs: q.data.sinceMs ?? 0,
            generation: q.data.generation,
            threshold: q.data.threshold ?? threshold,
          }),
        });
      }
    }
    throw new HttpError(404, 'SERVING_ROUTE_NOT_FOUND', `no route for ${method} ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    res.on('finish', () => {
      logger.debug(
        {
          method: req.method,
          url: req.url,
          status: res.statusCode,
          ms: performance.now() - started,
          variant: res.getHeader('x-prograde-variant'),
        },
        'request',
      );
    });
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof VariantError) return sendError(res, e, variantHeaders(e.variant, e.version));
      if (e instanceof HttpError) return sendError(res, e);
      logger.error({ err: e, url: req.url }, 'unhandled gateway error');
      const code = e instanceof ProgradeError ? e.code : 'SERVING_INTERNAL';
      sendJson(res, 500, { error: messageOf(e), code });
    });
  });
  server.keepAliveTimeout = 5_000;

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
  logger.info({ url, source: options.source.description, stateDir: options.stateDir }, 'gateway listening');

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
        await Promise.all([servingPool.close(), shadowPool.close(), predictionLog?.close()]);
      })();
      return closing;
    },
  };
}
