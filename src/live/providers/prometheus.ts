// Over 350 lines on purpose: the four queries, the zod shapes of their answers and the window built from them are one protocol.
import { z } from 'zod';
import { ProgradeError } from '../../errors';
import {
  NO_SHADOW_COMPARISON,
  type Histogram,
  type StatsSnapshot,
  type VariantWindow,
} from '../../promotion/stats-snapshot';
import type { MetricsProvider } from './types';
import type { PrometheusQueries } from '../../spec/metrics-provider';

/**
 * The Prometheus metrics provider: four PromQL instant queries per look (requests, errors, latency
 * buckets, score buckets), each answering one series per variant, turned into the StatsSnapshot the
 * judges read, with latencies and scores as histograms (docs/metrics-providers.md).
 *
 * The default queries read the gateway's own series (src/serving/metrics.ts). They select the routing
 * generation by its label, so the counters need no increase(): the value of a generation's counter is
 * its whole window, exact (no extrapolation), and summed over replicas it equals the sum of their own
 * statistics. Templates for servers without a generation label use increase(...[{{window}}]) instead.
 */

type Role = 'stable' | 'canary' | 'shadow';
const ROLES: readonly Role[] = ['stable', 'canary', 'shadow'];

/** The gateway's series; `{{selector}}` adds the spec's extra label matchers. */
const MATCH = 'model="{{model}}",generation="{{generation}}"{{selector}}';
type QueryName = 'requests' | 'errors' | 'latency' | 'scores';
export const DEFAULT_QUERIES: Readonly<Record<QueryName, string>> = {
  requests: `sum by (variant, version) (prograde_gateway_requests_total{${MATCH}})`,
  errors: `sum by (variant, version) (prograde_gateway_errors_total{${MATCH}})`,
  latency: `sum by (variant, version, le) (prograde_gateway_request_duration_ms_bucket{${MATCH}})`,
  scores: `sum by (variant, version, le) (prograde_gateway_score_bucket{${MATCH}})`,
};

const Sample = z.tuple([z.number(), z.string()]);
const QueryAnswer = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.object({
      resultType: z.string(),
      result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: Sample.optional() })),
    }),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string().optional() }),
]);

export interface PrometheusProviderOptions {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090. */
  readonly url: string;
  /** Extra label matchers, filled into `{{selector}}` as `,name="value"…`. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly queries?: PrometheusQueries;
  readonly timeoutMs: number;
  /** Bearer token for Prometheus (behind an authenticating proxy). */
  readonly token?: string;
  readonly now?: () => number;
}

/** `none` as the latency or scores query: the server exports no such metric; the check is left out. */
function isNone(template: string): boolean {
  return template.trim() === 'none';
}

/** A PromQL string literal's content: backslash and double quote escaped. */
function promString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Fills `{{name}}` placeholders (the spec has already refused unknown ones). */
export function fillTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (_, name: string) => vars[name] ?? '');
}

export class PrometheusProvider implements MetricsProvider {
  readonly kind = 'prometheus';
  private readonly base: string;
  private readonly queries: Readonly<Record<QueryName, string>>;
  private readonly selector: string;
  private readonly now: () => number;

  constructor(private readonly options: PrometheusProviderOptions) {
    this.base = options.url.replace(/\/+$/, '');
    const given = options.queries ?? {};
    this.queries = {
      requests: given.requests ?? DEFAULT_QUERIES.requests,
      errors: given.errors ?? DEFAULT_QUERIES.errors,
      latency: given.latency ?? DEFAULT_QUERIES.latency,
      scores: given.scores ?? DEFAULT_QUERIES.scores,
    };
    this.selector = Object.entries(options.labels ?? {})
      .map(([k, v]) => `,${k}="${promString(v)}"`)
      .join('');
    this.now = options.now ?? Date.now;
  }

  async stats(model: string, query: { sinceMs?: number; generation?: number }): Promise<StatsSnapshot> {
    const nowMs = this.now();
    const sinceMs = query.sinceMs ?? nowMs;
    const vars = {
      model: promString(model),
      generation: query.generation === undefined ? '' : String(query.generation),
      // increase()'s range for templates without a generation label: the step so far, whole seconds.
      window: `${Math.max(1, Math.ceil((nowMs - sinceMs) / 1000))}s`,
      selector: this.selector,
    };
    const at = nowMs / 1000;
    const unmeasured = (['latency', 'scores'] as const).filter((k) => isNone(this.queries[k]));
    const [requests, errors, latency, scores] = await Promise.all(
      (['requests', 'errors', 'latency', 'scores'] as const).map((k) =>
        isNone(this.queries[k])
          ? Promise.resolve([])
          : this.instant(k, fillTemplate(this.queries[k], vars), at),
      ),
    );
    const req = countsByRole('requests', requests ?? []);
    const err = countsByRole('errors', errors ?? []);
    const lat = histogramsByRole('latency', latency ?? []);
    const sc = histogramsByRole('scores', scores ?? []);
    const variants: Partial<Record<Role, VariantWindow>> = {};
    for (const role of ROLES) {
      const r = req.get(role);
      if (!r) continue;
      const l = lat.get(role);
      const s = sc.get(role);
      variants[role] = {
        version: r.version,
        requests: r.value,
        // increase() of two counters scraped at slightly different moments can put errors above requests.
        errors: Math.min(err.get(role)?.value ?? 0, r.value),
        latencyMs: [],
        scores: [],
        ...(l ? { latencyHistogram: l } : {}),
        ...(s ? { scoreHistogram: s } : {}),
        ...(unmeasured.length > 0 ? { unmeasured } : {}),
      };
    }
    return {
      model,
      generation: query.generation ?? 0,
      variants,
      shadowComparison: NO_SHADOW_COMPARISON,
      windowStartMs: sinceMs,
      windowEndMs: nowMs,
    };
  }

  /** One instant query (POST, so a long selector never hits a URL limit); the vector's samples. */
  private async instant(what: string, promql: string, at: number): Promise<Series[]> {
    const url = `${this.base}/api/v1/query`;
    const details = { url, query: what, promql };
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        body: new URLSearchParams({ query: promql, time: at.toFixed(3) }).toString(),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      throw new ProgradeError(
        'PROMETHEUS_UNREACHABLE',
        timedOut
          ? `Prometheus at ${this.base} did not answer the ${what} query within ${this.options.timeoutMs} ms`
          : `Prometheus at ${this.base} could not be reached for the ${what} query: ${causeOf(e)}`,
        'retryable',
        details,
        { cause: e },
      );
    }
    let text: string;
    try {
      text = await readCapped(res, MAX_ANSWER_BYTES);
    } catch (e) {
      if (e instanceof AnswerTooLarge)
        throw new ProgradeError(
          'PROMETHEUS_BAD_RESPONSE',
          `the ${what} query's answer is larger than ${MAX_ANSWER_BYTES / 1e6} MB: aggregate it with sum by (variant, …); query: ${promql}`,
          'terminal',
          details,
        );
      throw new ProgradeError(
        'PROMETHEUS_UNREACHABLE',
        `Prometheus at ${this.base} broke off its answer to the ${what} query: ${causeOf(e)}`,
        'retryable',
        details,
        { cause: e },
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const parsed = QueryAnswer.safeParse(body);
    if (res.status >= 500 || res.status === 429) {
      throw new ProgradeError(
        'PROMETHEUS_UNREACHABLE',
        `Prometheus at ${this.base} answered ${res.status} to the ${what} query${parsed.success && parsed.data.status === 'error' ? `: ${parsed.data.error ?? ''}` : ''}`,
        'retryable',
        { ...details, status: res.status },
      );
    }
    if (!parsed.success) {
      throw new ProgradeError(
        'PROMETHEUS_BAD_RESPONSE',
        `${this.base}/api/v1/query answered HTTP ${res.status} with something that is not Prometheus's query API (is the url the Prometheus server?): ${text.slice(0, 200)}`,
        'terminal',
        { ...details, status: res.status },
      );
    }
    const answer = parsed.data;
    if (answer.status === 'error' || res.status >= 400) {
      const why = answer.status === 'error' ? `${answer.errorType ?? 'error'}: ${answer.error ?? ''}` : '';
      throw new ProgradeError(
        'PROMETHEUS_QUERY_FAILED',
        `Prometheus at ${this.base} refused the ${what} query (HTTP ${res.status}) ${why}; query: ${promql}`,
        'terminal',
        { ...details, status: res.status },
      );
    }
    if (answer.data.resultType !== 'vector') {
      throw new ProgradeError(
        'PROMETHEUS_BAD_RESPONSE',
        `the ${what} query must return an instant vector, one series per variant; it returned a ${answer.data.resultType}: ${promql}`,
        'terminal',
        details,
      );
    }
    return answer.data.result.map((r) => {
      const value = Number(r.value?.[1]);
      if (!r.value || Number.isNaN(value) || value < 0)
        throw new ProgradeError(
          'PROMETHEUS_BAD_RESPONSE',
          `the ${what} query returned ${r.value?.[1] ?? 'no value'} for ${JSON.stringify(r.metric)}: counts must be numbers ≥ 0`,
          'terminal',
          details,
        );
      return { labels: r.metric, value };
    });
  }
}

/** An answer of four per-variant queries is a few kB; anything this large is not what was asked. */
const MAX_ANSWER_BYTES = 8_000_000;

class AnswerTooLarge extends Error {}

/** The body as text, refusing (and cancelling) one beyond `max` bytes instead of buffering it all. */
async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    throw new AnswerTooLarge();
  }
  if (!res.body) return '';
  const reader = res.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new AnswerTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function causeOf(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

function roleOf(what: string, s: Series): Role | undefined {
  const v = s.labels['variant'];
  if (v === undefined)
    throw new ProgradeError(
      'PROMETHEUS_BAD_RESPONSE',
      `the ${what} query returned a series without a variant label (${JSON.stringify(s.labels)}): aggregate with sum by (variant, …)`,
      'terminal',
      { query: what },
    );
  return (ROLES as readonly string[]).includes(v) ? (v as Role) : undefined;
}

/** Per variant: the count summed over versions, and the version with the most (a step serves one). */
function countsByRole(
  what: string,
  series: readonly Series[],
): Map<Role, { value: number; version: string }> {
  const out = new Map<Role, { value: number; version: string; top: number }>();
  for (const s of series) {
    const role = roleOf(what, s);
    if (!role) continue;
    if (!Number.isFinite(s.value))
      throw new ProgradeError(
        'PROMETHEUS_BAD_RESPONSE',
        `the ${what} query returned ${s.value}`,
        'terminal',
        {
          query: what,
        },
      );
    const n = Math.round(s.value);
    const cur = out.get(role);
    const version = s.labels['version'] ?? '';
    if (!cur) out.set(role, { value: n, version, top: n });
    else {
      cur.value += n;
      if (n > cur.top) Object.assign(cur, { version, top: n });
    }
  }
  return new Map([...out].map(([r, { value, version }]) => [r, { value, version }]));
}

/** Per variant: cumulative `le` buckets (summed over versions) turned into a non-cumulative histogram. */
function histogramsByRole(what: string, series: readonly Series[]): Map<Role, Histogram> {
  const cumulative = new Map<Role, Map<number, number>>();
  for (const s of series) {
    const role = roleOf(what, s);
    if (!role) continue;
    const leText = s.labels['le'];
    const le = leText === '+Inf' ? Infinity : Number(leText);
    if (leText === undefined || Number.isNaN(le))
      throw new ProgradeError(
        'PROMETHEUS_BAD_RESPONSE',
        `the ${what} query returned a series without a numeric le label (${JSON.stringify(s.labels)}): keep le in sum by (variant, le)`,
        'terminal',
        { query: what },
      );
    const m = cumulative.get(role) ?? new Map<number, number>();
    m.set(le, (m.get(le) ?? 0) + (Number.isFinite(s.value) ? s.value : 0));
    cumulative.set(role, m);
  }
  const out = new Map<Role, Histogram>();
  for (const [role, m] of cumulative) {
    const les = [...m.keys()].sort((a, b) => a - b);
    const bounds = les.filter(Number.isFinite);
    const counts: number[] = [];
    let previous = 0;
    for (const b of bounds) {
      const c = m.get(b) ?? 0;
      // Cumulative counts never fall; increase() over series scraped at different moments may.
      counts.push(Math.max(0, Math.round(c - previous)));
      previous = Math.max(previous, c);
    }
    counts.push(m.has(Infinity) ? Math.max(0, Math.round((m.get(Infinity) ?? 0) - previous)) : 0);
    out.set(role, { bounds, counts });
  }
  return out;
}
