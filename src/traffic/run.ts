// Over 350 lines on purpose: the settings schema, the open-loop request loop and the summary all
// share the per-second timeline and the error tally; apart, each would take the others' types as parameters.
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { type Dataset } from '../dataset/dataset';
import { InvalidInputError, messageOf } from '../errors';
import { ModelName } from '../serving/routing';
import { quantiles } from '../stats/quantile';
import { TRAFFIC_V2_DATATYPES } from './model-input';
import { checkTarget, gatewaySender } from './target';

/**
 * Open-loop traffic generator for a prograde gateway: request i is due at start + i/rps whatever the
 * answers, as real users do not wait for each other. It is bounded three ways so a typo cannot turn it
 * into a flood: a hard ceiling on rps, duration and request count, a cap on requests in flight (a due
 * request is skipped and counted when the gateway is that far behind), and a per-request timeout, so
 * the whole run ends by duration + timeout.
 */

export const TRAFFIC_LIMITS = {
  maxRps: 2000,
  maxDurationMs: 30 * 60_000,
  maxRequests: 500_000,
  maxRequestTimeoutMs: 120_000,
} as const;

export const TrafficSettings = z.strictObject({
  gatewayUrl: z.string(),
  model: ModelName,
  rps: z.number().positive().max(TRAFFIC_LIMITS.maxRps),
  durationMs: z.number().positive().max(TRAFFIC_LIMITS.maxDurationMs),
  /** Stop after this many requests even if time remains; default rps × duration. */
  maxRequests: z.number().int().positive().max(TRAFFIC_LIMITS.maxRequests).optional(),
  /** `v2` = POST /v2/models/{model}/infer; `invocations` = POST /invocations?model= (dataframe_split). */
  protocol: z.enum(['v2', 'invocations']).default('v2'),
  rowsPerRequest: z.number().int().min(1).max(1000).default(1),
  /**
   * Name of the v2 input tensor. The default fits the sample models; for any other model take it from
   * the gateway's metadata with `v2InputOf` (as `prograde traffic` does).
   */
  inputName: z.string().min(1).default('features'),
  /** v2 datatype of that input; the rows are floating-point numbers. */
  datatype: z.enum(TRAFFIC_V2_DATATYPES).default('FP32'),
  /** Sent round-robin as x-routing-key, so each key sticks to one variant. */
  routingKeys: z.array(z.string().min(1)).min(1).optional(),
  allowRemote: z.boolean().default(false),
  maxInFlight: z.number().int().min(1).max(4096).default(256),
  requestTimeoutMs: z.number().int().positive().max(TRAFFIC_LIMITS.maxRequestTimeoutMs).default(10_000),
});
export type TrafficSettings = z.input<typeof TrafficSettings>;

export type Outcome = 'ok' | 'error' | 'aborted';

export interface TrafficResponse {
  readonly index: number;
  /** Milliseconds after the run started when the request was sent. */
  readonly sentAtMs: number;
  readonly latencyMs: number;
  /** HTTP status, or undefined when no answer came (connection refused, timeout, abort). */
  readonly status: number | undefined;
  readonly outcome: Outcome;
  /** From x-prograde-variant; undefined when the gateway did not choose one (e.g. a 400). */
  readonly variant: string | undefined;
  readonly version: string | undefined;
  readonly routingKey: string | undefined;
  /** Error message of the body (non-2xx) or of the failed connection. */
  readonly error?: string;
}

export interface RunTrafficOptions extends TrafficSettings {
  readonly dataset: Dataset;
  readonly signal?: AbortSignal;
  /** Called for every answered or failed request; a throw stops the run and rejects runTraffic. */
  readonly onResponse?: (response: TrafficResponse) => void;
  /** Where PROGRADE_GATEWAY_CA_BUNDLE is read for an https gateway; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface OutcomeCounts {
  ok: number;
  error: number;
}

export interface TimelineSecond {
  /** Seconds since the start, by send time. */
  readonly second: number;
  /** Per variant (`none` when the gateway named none). */
  readonly variants: Readonly<Record<string, OutcomeCounts>>;
}

export interface TrafficSummary {
  readonly target: string;
  readonly model: string;
  readonly protocol: 'v2' | 'invocations';
  /** Requests the schedule allowed (min of rps × duration and maxRequests). */
  readonly planned: number;
  readonly sent: number;
  /** Due requests not sent because maxInFlight were still waiting. */
  readonly skipped: number;
  readonly ok: number;
  /** Non-2xx answers and failed connections; requests we aborted ourselves are not errors. */
  readonly errors: number;
  readonly aborted: number;
  /** By HTTP status; `network` when no answer came, `aborted` when the run was stopped. */
  readonly byStatus: Readonly<Record<string, number>>;
  /** The most frequent error messages (at most TOP_ERRORS), most frequent first. */
  readonly topErrors: readonly ErrorCount[];
  readonly byVariant: Readonly<Record<string, OutcomeCounts & { requests: number }>>;
  readonly byVersion: Readonly<Record<string, number>>;
  /** Over answered requests; undefined when none answered. */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number } | undefined;
  readonly timeline: readonly TimelineSecond[];
  readonly elapsedMs: number;
  /** True when the signal (or an onResponse throw) ended the run early. */
  readonly stoppedEarly: boolean;
}

export interface ErrorCount {
  /** HTTP status, or `network`. */
  readonly status: string;
  readonly message: string;
  readonly count: number;
}

export const TOP_ERRORS = 3;
/** Long enough for the gateway's messages; bounded because a remote answer could be anything. */
const MAX_ERROR_MESSAGE = 300;

const ErrorBody = z.object({ error: z.string() }).loose();

export async function runTraffic(options: RunTrafficOptions): Promise<TrafficSummary> {
  const { dataset, signal, onResponse, env, ...raw } = options;
  const parsed = TrafficSettings.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidInputError(
      `invalid traffic options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const s = parsed.data;
  const base = checkTarget(s.gatewayUrl, s.allowRemote);
  const gateway = gatewaySender(base, env);
  if (dataset.rows === 0) throw new InvalidInputError('traffic needs at least one data row');
  const width = dataset.featureNames.length;
  const url = requestUrl(base, s.model, s.protocol);
  const planned = Math.min(
    Math.ceil((s.rps * s.durationMs) / 1000),
    s.maxRequests ?? TRAFFIC_LIMITS.maxRequests,
  );

  // One controller stops everything: the caller's signal, or a throwing onResponse.
  const stop = new AbortController();
  let callbackError: Error | undefined;
  const onOuterAbort = (): void => stop.abort();
  signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (signal?.aborted) stop.abort();

  const responses: TrafficResponse[] = [];
  const inFlight = new Set<Promise<void>>();
  let skipped = 0;
  let sent = 0;
  const start = performance.now();

  const bodyFor = (index: number): string => {
    const rows: number[][] = [];
    for (let k = 0; k < s.rowsPerRequest; k++) {
      const r = (index * s.rowsPerRequest + k) % dataset.rows;
      rows.push(Array.from(dataset.features.subarray(r * width, (r + 1) * width)));
    }
    return JSON.stringify(
      s.protocol === 'v2'
        ? { inputs: [{ name: s.inputName, shape: [rows.length, width], datatype: s.datatype, data: rows }] }
        : { dataframe_split: { columns: dataset.featureNames, data: rows } },
    );
  };

  const send = async (index: number): Promise<void> => {
    const routingKey = s.routingKeys?.[index % s.routingKeys.length];
    const sentAt = performance.now();
    const requestSignal = AbortSignal.any([stop.signal, AbortSignal.timeout(s.requestTimeoutMs)]);
    let response: TrafficResponse;
    try {
      const res = await gateway.fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(routingKey !== undefined ? { 'x-routing-key': routingKey } : {}),
        },
        body: bodyFor(index),
        signal: requestSignal,
      });
      const text = await res.text();
      const ok = res.status >= 200 && res.status < 300;
      response = {
        index,
        sentAtMs: sentAt - start,
        latencyMs: performance.now() - sentAt,
        status: res.status,
        outcome: ok ? 'ok' : 'error',
        variant: res.headers.get('x-prograde-variant') ?? undefined,
        version: res.headers.get('x-prograde-version') ?? undefined,
        routingKey,
        ...(ok ? {} : { error: errorText(text, res.status) }),
      };
    } catch (e) {
      response = {
        index,
        sentAtMs: sentAt - start,
        latencyMs: performance.now() - sentAt,
        status: undefined,
        outcome: stop.signal.aborted ? 'aborted' : 'error',
        variant: undefined,
        version: undefined,
        routingKey,
        error: gateway.describe(e),
      };
    }
    responses.push(response);
    if (onResponse && callbackError === undefined) {
      try {
        onResponse(response);
      } catch (e) {
        callbackError = e instanceof Error ? e : new Error(messageOf(e));
        stop.abort();
      }
    }
  };

  try {
    for (let i = 0; i < planned && !stop.signal.aborted; i++) {
      const dueAt = start + (i * 1000) / s.rps;
      if (dueAt - start >= s.durationMs) break;
      const wait = dueAt - performance.now();
      if (wait > 1) await delay(wait, stop.signal);
      // Catching up after a stall sends back to back; yield now and then so answers are still read.
      else if (i % 32 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (stop.signal.aborted) break;
      if (inFlight.size >= s.maxInFlight) {
        skipped += 1;
        continue;
      }
      sent += 1;
      const p = send(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    // Every request ends by its own timeout, so this wait is bounded too.
    await Promise.all(inFlight);
  } finally {
    signal?.removeEventListener('abort', onOuterAbort);
  }
  if (callbackError !== undefined) throw callbackError;

  return summarize({
    target: base.origin,
    model: s.model,
    protocol: s.protocol,
    planned,
    sent,
    skipped,
    responses,
    elapsedMs: performance.now() - start,
    stoppedEarly: stop.signal.aborted,
  });
}

function requestUrl(base: URL, model: string, protocol: 'v2' | 'invocations'): string {
  const root = base.href.replace(/\/+$/, '');
  return protocol === 'v2'
    ? `${root}/v2/models/${encodeURIComponent(model)}/infer`
    : `${root}/invocations?model=${encodeURIComponent(model)}`;
}

function errorText(text: string, status: number): string {
  try {
    const body = ErrorBody.safeParse(JSON.parse(text));
    if (body.success) return body.data.error;
  } catch {
    // not JSON: fall through to the status
  }
  return `HTTP ${status}`;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

interface Collected {
  readonly target: string;
  readonly model: string;
  readonly protocol: 'v2' | 'invocations';
  readonly planned: number;
  readonly sent: number;
  readonly skipped: number;
  readonly responses: readonly TrafficResponse[];
  readonly elapsedMs: number;
  readonly stoppedEarly: boolean;
}

function summarize(c: Collected): TrafficSummary {
  const byStatus: Record<string, number> = {};
  const byVariant: Record<string, OutcomeCounts & { requests: number }> = {};
  const byVersion: Record<string, number> = {};
  const seconds = new Map<number, Record<string, OutcomeCounts>>();
  const latencies: number[] = [];
  const errorCounts = new Map<string, ErrorCount>();
  let ok = 0;
  let errors = 0;
  let aborted = 0;
  for (const r of c.responses) {
    const statusKey =
      r.status !== undefined ? String(r.status) : r.outcome === 'aborted' ? 'aborted' : 'network';
    byStatus[statusKey] = (byStatus[statusKey] ?? 0) + 1;
    if (r.outcome === 'aborted') {
      aborted += 1;
      continue;
    }
    if (r.outcome === 'ok') ok += 1;
    else {
      errors += 1;
      const message = (r.error ?? '').slice(0, MAX_ERROR_MESSAGE);
      const key = `${statusKey} ${message}`;
      const seen = errorCounts.get(key);
      // Distinct messages are bounded too: past that many, new ones are counted in `errors` only.
      if (seen !== undefined || errorCounts.size < 1000)
        errorCounts.set(key, { status: statusKey, message, count: (seen?.count ?? 0) + 1 });
    }
    if (r.status !== undefined) latencies.push(r.latencyMs);
    const variant = r.variant ?? 'none';
    const v = (byVariant[variant] ??= { requests: 0, ok: 0, error: 0 });
    v.requests += 1;
    v[r.outcome] += 1;
    if (r.version !== undefined) byVersion[r.version] = (byVersion[r.version] ?? 0) + 1;
    const second = Math.floor(r.sentAtMs / 1000);
    const row = seconds.get(second) ?? {};
    const cell = (row[variant] ??= { ok: 0, error: 0 });
    cell[r.outcome] += 1;
    seconds.set(second, row);
  }
  const last = Math.max(-1, ...seconds.keys());
  const timeline: TimelineSecond[] = [];
  for (let second = 0; second <= last; second++)
    timeline.push({ second, variants: seconds.get(second) ?? {} });
  let latencyMs: TrafficSummary['latencyMs'];
  if (latencies.length > 0) {
    const [p50, p95, p99] = quantiles(latencies, [0.5, 0.95, 0.99]) as [number, number, number];
    latencyMs = { p50, p95, p99 };
  }
  return {
    target: c.target,
    model: c.model,
    protocol: c.protocol,
    planned: c.planned,
    sent: c.sent,
    skipped: c.skipped,
    ok,
    errors,
    aborted,
    byStatus,
    topErrors: [...errorCounts.values()].sort((a, b) => b.count - a.count).slice(0, TOP_ERRORS),
    byVariant,
    byVersion,
    latencyMs,
    timeline,
    elapsedMs: c.elapsedMs,
    stoppedEarly: c.stoppedEarly,
  };
}
