import type { Logger } from 'pino';
import { z } from 'zod';
import type { AccessControl } from './access';
import type { BodyParser } from './body-parser';
import { encodeInvocations, invocationModel } from './codecs/invocations';
import { encodeV2Infer, encodeV2Metadata } from './codecs/oip-v2';
import type { Gateway } from './gateway';
import { RoutingPut, type ChangeAuthor } from './desired-state';
import {
  HttpError,
  bufferedBody,
  checkDeclaredBody,
  checkJsonContentType,
  headerValue,
  quoted,
  readBody,
  type BodyLimits,
} from './http-util';
import { sendJson, sendText } from './answers';
import { parseJsonBody } from './json-body';
import type { GatewayLimits } from './limits';
import type { GatewayMetrics } from './metrics';
import { checkName, pathName } from './names';
import { checkerFor, type GivenRequest } from './request-tensors';
import type { Ctx, Handler, Route } from './route-table';
import type { Variant } from './routing';

/**
 * The gateway's HTTP API as a route table: each handler turns a request into a call on the
 * `Gateway` and its answer into JSON through a codec. Admission of the body (media type, size,
 * rows) happens here, before the gateway sees the request.
 */

export interface ApiDeps {
  readonly gateway: Gateway;
  readonly metrics: GatewayMetrics;
  readonly limits: GatewayLimits;
  readonly parser: BodyParser;
  /** Decides whether a caller may force a variant. */
  readonly access: AccessControl;
  readonly logger: Logger;
  /** Score threshold for shadow agreement when the stats query does not give one. */
  readonly agreementThreshold: number;
}

const StatsQuery = z.object({
  sinceMs: z.coerce.number().int().min(0).optional(),
  generation: z.coerce.number().int().min(1).optional(),
  threshold: z.coerce.number().min(0).max(1).optional(),
});

const ForceVariant = z.enum(['stable', 'canary']);

/**
 * The actor an applied change is audited under: the name of the admin token that authenticated the
 * request, never a header, since a header is whatever the caller typed. The caller's own label
 * (`x-prograde-actor`, where the workflow names its run) is kept apart as a `note`, so no header
 * can ever read as an identity in the log.
 */
export function auditActor(ctx: Pick<Ctx, 'req' | 'caller'>): ChangeAuthor {
  if (ctx.caller.kind !== 'admin') return {};
  const claimed = headerValue(ctx.req, 'x-prograde-actor');
  // Control characters out (they would forge lines in a text view of the log), length bounded.
  const note = claimed
    ?.replace(/[\u0000-\u001f\u007f]/g, ' ')
    .trim()
    .slice(0, 200);
  return { actor: ctx.caller.actor, ...(note ? { note } : {}) };
}

export function variantHeaders(variant: Variant, version: string): Record<string, string> {
  return { 'x-prograde-variant': variant, 'x-prograde-version': version };
}

export function apiRoutes(deps: ApiDeps): readonly Route[] {
  const { gateway, metrics, limits, parser } = deps;

  const bodyLimits = (ctx: Ctx): BodyLimits => ({
    maxBytes: limits.maxBodyBytes,
    idleTimeoutMs: limits.bodyIdleTimeoutMs,
    admit: (bytes) => ctx.ticket.growBody(bytes),
  });
  /** The declared-size check needs no ticket (bytes are held once read): one object for all requests. */
  const declaredLimits: BodyLimits = {
    maxBytes: limits.maxBodyBytes,
    idleTimeoutMs: limits.bodyIdleTimeoutMs,
  };

  /**
   * Checks media type and declared size before anything else is done for the request. The body's
   * bytes are held against the budget only once it is read, so a registry lookup never holds them.
   */
  const precheckBody = (ctx: Ctx): void => {
    checkJsonContentType(ctx.req);
    checkDeclaredBody(ctx.req, declaredLimits);
  };

  const readJsonBody = async (ctx: Ctx): Promise<unknown> =>
    parseJsonBody(await readBody(ctx.req, bodyLimits(ctx)), limits.maxJsonDepth);

  /**
   * The inference body, parsed. A body already buffered (the usual small one) is read and parsed
   * without a promise; a body still arriving goes through `readBody`, a big one to the parse thread.
   */
  const readInferBody = async (ctx: Ctx, kind: 'v2' | 'mlflow'): Promise<GivenRequest> => {
    const bytes =
      bufferedBody(ctx.req, limits.maxBodyBytes, ctx.ticket) ?? (await readBody(ctx.req, bodyLimits(ctx)));
    const given = parser.parsesHere(bytes) ? parser.parseHere(kind, bytes) : await parser.parse(kind, bytes);
    let rows = 0;
    for (const input of given.inputs) rows = Math.max(rows, input.shape[0] ?? 0);
    const refused = ctx.ticket.takeRows(rows);
    if (refused) throw refused;
    return given;
  };

  /** The variant the caller forces, refused (403) unless forcing is on and the caller is an admin. */
  const forcedVariant = (ctx: Ctx): Variant | undefined => {
    const forced = headerValue(ctx.req, 'x-prograde-force-variant');
    if (forced === undefined) return undefined;
    deps.access.checkForceVariant(ctx.caller);
    const parsed = ForceVariant.safeParse(forced);
    if (!parsed.success)
      throw new HttpError(
        400,
        'SERVING_REQUEST_INVALID',
        `x-prograde-force-variant must be stable or canary, got ${quoted(forced)}`,
      );
    return parsed.data;
  };

  const inferAndSend = async (
    ctx: Ctx,
    model: string,
    version: string | undefined,
    kind: 'v2' | 'mlflow',
  ): Promise<void> => {
    // Before anything else: a refused force never reaches routing, nor costs a body read.
    const force = forcedVariant(ctx);
    precheckBody(ctx);
    // An unknown model is refused before its body is read or parsed. This await also lets Node's
    // parser take in the rest of the packet, so a small body is buffered by the time it is read.
    await gateway.checkServed(model);
    const given = await readInferBody(ctx, kind);
    const result = await gateway.infer({
      model,
      version,
      routingKey: headerValue(ctx.req, 'x-routing-key'),
      force,
      requestId: ctx.requestId,
      parse: checkerFor(given),
    });
    const body =
      kind === 'v2'
        ? encodeV2Infer(model, result.version, given, result.outputs)
        : encodeInvocations(result.outputs);
    sendJson(ctx.res, 200, body, variantHeaders(result.variant, result.version));
  };

  const ready: Handler = ({ res }) => {
    const isReady = gateway.isReady();
    const { replica } = gateway;
    sendJson(res, isReady ? 200 : 503, { ready: isReady, ...(replica !== undefined ? { replica } : {}) });
  };
  const metadata: Handler = async ({ res, params }) => {
    const model = pathName(params.model ?? '', 'model');
    const version = params.version !== undefined ? pathName(params.version, 'version') : undefined;
    const meta = await gateway.metadata(model, version);
    sendJson(res, 200, encodeV2Metadata(model, meta.versions, meta.signature));
  };

  const putRouting: Handler = async (ctx) => {
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
    const author = auditActor(ctx);
    deps.logger.info(
      { model, generation: parsed.data.generation, ...author, reqId: ctx.requestId },
      'routing PUT',
    );
    const result = await gateway.applyRouting(model, parsed.data, author);
    sendJson(ctx.res, 200, {
      model,
      applied: result.applied,
      ...(gateway.routingView(model) ?? result.state),
    });
  };

  const stats: Handler = ({ res, params, url }) => {
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
        threshold: q.data.threshold ?? deps.agreementThreshold,
      }),
    });
  };

  return [
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
          sendText(res, 200, metrics.render(), { 'content-type': 'text/plain; version=0.0.4' });
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
      methods: {
        POST: (ctx) =>
          inferAndSend(
            ctx,
            invocationModel(
              ctx.query('model'),
              headerValue(ctx.req, 'x-prograde-model'),
              gateway.modelList(),
              checkName,
            ),
            undefined,
            'mlflow',
          ),
      },
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
        PUT: putRouting,
      },
    },
    { path: ['admin', 'models', ':model', 'stats'], methods: { GET: stats } },
  ];
}
