import { z } from 'zod';
import { ProgradeError, messageOf } from '../errors';
import {
  TlsTransport,
  certificateProblem,
  describeCertificateProblem,
  type TlsTrust,
} from '../mlflow/tls-fetch';
import { RoutingSpec, type RoutingPut } from '../routing/schema';
import { AppliedRouting } from './desired-state';
import { StatsSnapshot } from '../promotion/stats-snapshot';
import { outgoingSpan } from '../telemetry';

/**
 * Typed client of the gateway's admin API, for the promotion activities. Every answer is parsed
 * with zod; every failure is a ProgradeError whose retry class says whether trying again can help
 * (a conflict or a rejected version cannot, an unreachable gateway can).
 */

const VersionState = z.object({
  role: z.string(),
  status: z.enum(['loading', 'ready', 'failed']),
  sha256: z.string().optional(),
  error: z.string().optional(),
  loadedAt: z.string().optional(),
});

export const RoutingView = AppliedRouting.extend({
  model: z.string(),
  ready: z.boolean().optional(),
  applied: z.boolean().optional(),
  versions: z.record(z.string(), VersionState),
});
export type RoutingView = z.infer<typeof RoutingView>;

// Defined with the promotion vocabulary so the pure judges need not import this HTTP client.
export { StatsSnapshot };

export const AuditEntryView = z.object({
  at: z.string(),
  model: z.string(),
  generation: z.number().int(),
  state: RoutingSpec,
  actor: z.string().optional(),
  note: z.string().optional(),
  /** The gateway replica that applied the change (its --replica-id); absent from older gateways. */
  replica: z.string().optional(),
});
export type AuditEntryView = z.infer<typeof AuditEntryView>;

/**
 * What the activities and the CLI do with a serving target: one gateway (`GatewayAdminClient`), or
 * every replica of a replicated target at once (`ReplicaSetAdmin`, src/config/replica-set.ts).
 */
export interface GatewayAdmin {
  putRouting(model: string, desired: RoutingPut, actor?: string): Promise<RoutingView>;
  getRouting(model: string): Promise<RoutingView | undefined>;
  stats(
    model: string,
    query?: { sinceMs?: number; generation?: number; threshold?: number },
  ): Promise<StatsSnapshot>;
  audit(model?: string): Promise<AuditEntryView[]>;
}

const ErrorBody = z.object({ error: z.string(), code: z.string().optional() }).loose();

export interface GatewayAdminClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  readonly timeoutMs?: number;
  /** Trust for an https gateway with a private CA (PROGRADE_GATEWAY_CA_BUNDLE, read by `gatewayFor`). */
  readonly tls?: { readonly trust: TlsTrust; readonly caPath?: string };
}

export const GATEWAY_CA_VAR = 'PROGRADE_GATEWAY_CA_BUNDLE';

export class GatewayAdminClient implements GatewayAdmin {
  private readonly baseUrl: string;
  private readonly transport: TlsTransport | undefined;

  constructor(private readonly options: GatewayAdminClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.transport =
      options.tls && this.baseUrl.startsWith('https:') ? new TlsTransport(options.tls.trust) : undefined;
  }

  private async call<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    init: { body?: unknown; actor?: string | undefined } = {},
  ): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    // With tracing on (src/telemetry): a client span, and its traceparent for the gateway's span.
    const span = outgoingSpan(method, url);
    let res: Response | undefined;
    let text: string;
    try {
      const request = {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          'content-type': 'application/json',
          ...(init.actor !== undefined ? { 'x-prograde-actor': init.actor } : {}),
          ...span?.headers,
        },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 120_000),
      };
      res = await (this.transport ? this.transport.fetch(url, request) : fetch(url, request));
      // Read inside the try: a connection cut mid-body is as unreachable as one refused.
      text = await res.text();
      span?.end(res.status);
    } catch (e) {
      span?.end(res?.status, e);
      const tls = certificateProblem(e);
      if (tls) {
        const why = describeCertificateProblem(tls.problem, tls.detail, new URL(url).host, {
          ca: GATEWAY_CA_VAR,
          caPath: this.options.tls?.caPath,
        });
        throw new ProgradeError(
          'GATEWAY_TLS_FAILED',
          `gateway ${method} ${url} failed: ${why}`,
          'terminal',
          { url, tlsProblem: tls.problem, tlsDetail: tls.detail },
          { cause: e },
        );
      }
      throw new ProgradeError(
        'GATEWAY_UNREACHABLE',
        `gateway ${method} ${url} failed: ${messageOf(e)}`,
        'retryable',
        { url },
        { cause: e },
      );
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new ProgradeError(
        'GATEWAY_BAD_RESPONSE',
        `gateway ${method} ${url} answered ${res.status} with non-JSON`,
        res.status >= 500 ? 'retryable' : 'terminal',
        { url, status: res.status },
      );
    }
    if (!res.ok) throw errorFor(res.status, method, url, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ProgradeError(
        'GATEWAY_BAD_RESPONSE',
        `gateway ${method} ${url} answered an unexpected body: ${parsed.error.message}`,
        'terminal',
        { url },
      );
    }
    return parsed.data;
  }

  /** Desired-state PUT; `applied: false` means this exact state was already in place. */
  putRouting(model: string, desired: RoutingPut, actor?: string): Promise<RoutingView> {
    return this.call('PUT', `/admin/models/${encodeURIComponent(model)}/routing`, RoutingView, {
      body: desired,
      actor,
    });
  }

  /** Current routing, or undefined when the model has none yet. */
  async getRouting(model: string): Promise<RoutingView | undefined> {
    try {
      return await this.call('GET', `/admin/models/${encodeURIComponent(model)}/routing`, RoutingView);
    } catch (e) {
      if (e instanceof ProgradeError && e.code === 'GATEWAY_MODEL_NOT_FOUND') return undefined;
      throw e;
    }
  }

  stats(
    model: string,
    query: { sinceMs?: number; generation?: number; threshold?: number } = {},
  ): Promise<StatsSnapshot> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    return this.call(
      'GET',
      `/admin/models/${encodeURIComponent(model)}/stats?${params.toString()}`,
      StatsSnapshot,
    );
  }

  async audit(model?: string): Promise<AuditEntryView[]> {
    const q = model !== undefined ? `?model=${encodeURIComponent(model)}` : '';
    return (await this.call('GET', `/admin/audit${q}`, z.object({ entries: z.array(AuditEntryView) })))
      .entries;
  }
}

function errorFor(status: number, method: string, url: string, json: unknown): ProgradeError {
  const body = ErrorBody.safeParse(json);
  const message = body.success ? body.data.error : `HTTP ${status}`;
  const details = { url, status, serverCode: body.success ? body.data.code : undefined, response: json };
  const text = `gateway ${method} ${url}: ${message}`;
  if (status === 401) return new ProgradeError('GATEWAY_UNAUTHORIZED', text, 'terminal', details);
  if (status === 404) return new ProgradeError('GATEWAY_MODEL_NOT_FOUND', text, 'terminal', details);
  if (status === 409) return new ProgradeError('GATEWAY_ROUTING_CONFLICT', text, 'terminal', details);
  if (status === 422) return new ProgradeError('GATEWAY_VERSION_REJECTED', text, 'terminal', details);
  if (status >= 500 || status === 429)
    return new ProgradeError('GATEWAY_UNAVAILABLE', text, 'retryable', details);
  return new ProgradeError('GATEWAY_REQUEST_INVALID', text, 'terminal', details);
}
