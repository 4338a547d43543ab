/**
 * The serving gateway: prograde's default deployment target.
 *
 * Data plane (open, or Authorization: Bearer <inference key> once inference keys are configured):
 *   GET  /v2/health/live · /v2/health/ready (also /ping, /health) · /v2   (always open)
 *   GET  /v2/models/{m}[/versions/{v}] · /v2/models/{m}/ready
 *   POST /v2/models/{m}[/versions/{v}]/infer   Open Inference Protocol v2
 *   POST /invocations[?model=m]                MLflow scoring (inputs | instances | dataframe_split | dataframe_records)
 *   GET  /metrics                              Prometheus text (protected on request)
 * Admin (Authorization: Bearer <admin token>; the token's name is the actor in the audit log):
 *   PUT/GET /admin/models/{m}/routing · GET /admin/models/{m}/stats?sinceMs&generation&threshold
 *   GET /admin/audit?model= · GET /admin/models
 *
 * Modules: this file wires the gateway and handles each request (request id, caller, admission,
 * refusals, lifecycle); listener.ts runs the HTTP(S) server; routes live in api-routes.ts (dispatch
 * in route-table.ts), codecs in codecs/; access.ts decides who may do what, with credentials from
 * access-files.ts; the `Gateway` (gateway.ts) composes the data plane, the control plane, the stats
 * store and boot/restore.
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
 * - Every answer carries `x-request-id` (the caller's, when it is a safe id, else a new UUID); the
 *   same id is in the log lines and the prediction log of the request.
 * - Refused access (401, 403, a disabled admin API) is logged with the peer address, rate-limited.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Caller } from './access';
import { Admission } from './admission';
import { apiRoutes, variantHeaders } from './api-routes';
import type { BatchingOptions } from './batcher';
import { BodyParser } from './body-parser';
import { Gateway, VariantError } from './gateway';
import { GatewayResponse, answerHeader, sendError } from './answers';
import { HttpError, DiscardRate, discardBody, publicMessageOf } from './http-util';
import { resolveLimits } from './limits';
import { listen } from './listener';
import { LogThrottle } from './log-throttle';
import { GatewayMetrics } from './metrics';
import { ModelLookup } from './model-lookup';
import { PredictionLog } from './prediction-log';
import { ModelRateLimiter } from './rate-limit';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';
import { compileRoutes, dispatch } from './route-table';
import { openSecurity, type RequestSeen } from './security';
import { StateStore } from './state-store';
import { gatewayRequestHook } from '../telemetry';
import { VersionHost } from './version-host';
import { DEFAULT_WINDOW_STATS } from './window-stats';
import { DEFAULT_INLINE } from './worker/inline-runner';
import { WorkerPool } from './worker/worker-pool';
import type { GatewayOptions } from './gateway-options';

export type { GatewayOptions } from './gateway-options';

export interface GatewayHandle {
  readonly url: string;
  readonly port: number;
  /** Resolves once persisted routing is restored and its models are loaded. */
  whenReady(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the serving gateway: HTTP API, worker threads, restored routing. */
export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const logger = options.logger ?? pino({ name: 'prograde-gateway' });
  const faultLog = new LogThrottle((suppressed) =>
    logger.warn({ suppressed }, 'repeated server faults: lines held back in the last interval'),
  );
  const limits = resolveLimits(options.limits, options.maxBodyBytes);
  const metrics = new GatewayMetrics();
  // OpenTelemetry server spans (src/telemetry) when OTEL_EXPORTER_OTLP_ENDPOINT is set; else undefined.
  const traceRequest = await gatewayRequestHook(process.env, answerHeader);
  // Credentials and certificates first: a bad file stops the start before any thread is spawned.
  const security = await openSecurity(
    { ...options, token: options.token ?? process.env.PROGRADE_GATEWAY_TOKEN },
    logger,
    metrics,
  );
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
  // Known once the port is: the default names the port actually bound.
  let replicaId = options.replicaId;
  const replica = (): string | undefined => replicaId;
  const store = new StateStore(options.stateDir, replica);
  await store.init();
  const predictionLog =
    options.predictionLog && options.predictionLog.sampleRate > 0
      ? new PredictionLog({
          file: options.predictionLog.file ?? path.join(options.stateDir, 'predictions.jsonl'),
          sampleRate: options.predictionLog.sampleRate,
          replica,
          onDrop: () => metrics.dropPrediction(),
          onTrouble: (event) =>
            event.kind === 'failed'
              ? logger.error(
                  { err: event.error },
                  'prediction log write failed: sampled records are dropped until the file can be written again',
                )
              : logger.warn({ dropped: event.dropped }, 'prediction log writes again'),
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
    servingHost: new VersionHost(servingPool, options.source, batching, logger.child({ pool: 'serving' }), {
      ...DEFAULT_INLINE,
      ...options.inline,
    }),
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
    replica,
  });

  const routes = apiRoutes({
    gateway,
    metrics,
    limits,
    parser,
    access: security.access,
    logger,
    agreementThreshold: options.agreementThreshold ?? 0.5,
  });
  const refuse = (req: IncomingMessage, res: ServerResponse, e: unknown, seen: RequestSeen): void => {
    let error: HttpError;
    const reqId = seen.requestId;
    if (e instanceof HttpError) {
      error = e;
      const fields = {
        status: e.status,
        code: e.code,
        method: req.method,
        url: req.url?.slice(0, 200),
        reqId,
      };
      // Client errors and 503s (overload, not routed, not ready: "come back later") are expected
      // traffic: one quiet line, no stack. Only server faults are logged loudly.
      if (e.status < 500 || e.status === 503) logger.debug(fields, e.message);
      else if (faultLog.allow(e.code)) logger.warn({ ...fields, err: e }, e.message);
      security.noteRefusal(req, e, seen);
    } else {
      logger.error(
        { err: e, method: req.method, url: req.url?.slice(0, 200), reqId },
        'unhandled gateway error',
      );
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

  // While close() drains, answers say `Connection: close`: a keep-alive client (or a load balancer)
  // then opens its next connection to another replica instead of reusing one that is going away, and
  // the socket closes right after the answer instead of idling until the keep-alive timeout. Answers
  // read the flag when their headers are written (GatewayResponse, http-util.ts).
  const lifecycle = { draining: false };

  /** Gives the request its id, echoed on every answer (errors included) and in every log line. */
  const stampRequestId = (req: IncomingMessage, res: ServerResponse): string => {
    const requestId = requestIdOf(req);
    if (res instanceof GatewayResponse) {
      res.requestId = requestId;
      res.policy = lifecycle;
    } else {
      res.setHeader(REQUEST_ID_HEADER, requestId);
      if (lifecycle.draining) res.setHeader('connection', 'close');
    }
    return requestId;
  };

  const logDebug = logger.isLevelEnabled('debug');
  const compiledRoutes = compileRoutes(routes);
  const authorize = (caller: Caller, parts: readonly string[]): void =>
    security.access.authorize(caller, parts);
  // The hot path: everything below runs for every request, so it creates as few closures and
  // listeners as it can (one 'close' listener, one rejection handler only when the handler is
  // asynchronous); each costs allocation and, run through tsx, a `__name` property definition.
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = logDebug ? performance.now() : 0;
    const requestId = stampRequestId(req, res);
    traceRequest?.(req, res, requestId);
    const ticket = admission.ticket();
    // 'close' is emitted once per response, so `on` does what `once` would without its wrapper.
    res.on('close', () => {
      ticket.release();
    });
    // One listener less per request when nobody reads debug lines (the level is fixed at start).
    if (logDebug)
      res.on('finish', () => {
        logger.debug(
          {
            method: req.method,
            url: req.url?.slice(0, 200),
            status: res.statusCode,
            ms: performance.now() - started,
            variant: answerHeader(res, 'x-prograde-variant'),
            reqId: requestId,
          },
          'request',
        );
      });
    const caller = security.access.identify(req);
    let pending: Promise<void> | void;
    try {
      pending = dispatch(compiledRoutes, { req, res, ticket, requestId, caller }, authorize);
    } catch (e) {
      refuse(req, res, e, { requestId, caller });
      return;
    }
    pending?.catch((e: unknown) => refuse(req, res, e, { requestId, caller }));
  };

  const stopWorkers = async (): Promise<void> => {
    await Promise.all([servingPool.close(), shadowPool.close(), parser.close(), predictionLog?.close()]);
  };
  const listening = await listen({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    limits,
    tls: security.tls,
    metrics,
    logger,
    onRequest,
    beforeRefusal: stampRequestId,
  }).catch(async (e: unknown) => {
    security.close();
    await stopWorkers();
    throw e;
  });
  const { server, url, port } = listening;
  replicaId ??= `${hostname()}:${port}`;
  security.onTlsReload(listening.setTls);
  logger.info(
    { url, replica: replicaId, source: options.source.description, stateDir: options.stateDir, limits },
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
        lifecycle.draining = true;
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
        security.close();
        await gateway.close();
        await stopWorkers();
      })();
      return closing;
    },
  };
}
