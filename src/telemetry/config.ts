import { ProgradeError } from '../errors';

/**
 * OpenTelemetry settings from the environment, checked before anything is started. Tracing is on
 * only when an OTLP endpoint is given (OTEL_EXPORTER_OTLP_ENDPOINT, or the traces-only
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_SDK_DISABLED is not `true`; otherwise this returns
 * undefined and no OpenTelemetry SDK module is ever loaded. A value that is set but wrong is
 * TELEMETRY_CONFIG_INVALID (exit 2), never a silently dropped trace.
 */
export interface TracingConfig {
  /** Where spans are POSTed (OTLP/HTTP, JSON): the traces endpoint, or the base endpoint + /v1/traces. */
  readonly tracesUrl: string;
  /** Extra request headers for the collector (OTEL_EXPORTER_OTLP_HEADERS, _TRACES_HEADERS), e.g. an API key. */
  readonly headers: Readonly<Record<string, string>>;
  /** Export timeout per request (OTEL_EXPORTER_OTLP_TIMEOUT, _TRACES_TIMEOUT), ms; default 10 s. */
  readonly timeoutMs: number;
}

export type TelemetryService = 'prograde-cli' | 'prograde-worker' | 'prograde-gateway';

const ENDPOINT = 'OTEL_EXPORTER_OTLP_ENDPOINT';
const TRACES_ENDPOINT = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';

function invalid(variable: string, why: string): ProgradeError {
  return new ProgradeError('TELEMETRY_CONFIG_INVALID', `${variable} ${why}`, 'terminal', { variable });
}

function set(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function endpointUrl(variable: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(variable, `is not a URL: '${raw.slice(0, 200)}' (e.g. http://127.0.0.1:4318)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(
      variable,
      `must be an http:// or https:// URL (OTLP/HTTP), not ${url.protocol} (gRPC collectors listen on 4317; use their HTTP port, usually 4318)`,
    );
  }
  if (url.hash !== '') throw invalid(variable, 'must not carry a #fragment');
  return url;
}

/** `key=value,key2=value2` with URL-encoded values, as the OpenTelemetry specification defines it. */
function headerList(variable: string, raw: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? '' : part.slice(0, eq).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      throw invalid(variable, 'must be a comma-separated list of name=value pairs (values URL-encoded)');
    }
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw invalid(variable, `has a value for '${key}' that is not URL-encoded`);
    }
    if (/[\r\n\0]/.test(value)) throw invalid(variable, `has a control character in the value of '${key}'`);
    headers[key.toLowerCase()] = value;
  }
  return headers;
}

function timeout(variable: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 600_000) {
    throw invalid(variable, `must be a whole number of milliseconds between 1 and 600000, not '${raw}'`);
  }
  return Number(raw);
}

export function tracingConfig(env: NodeJS.ProcessEnv = process.env): TracingConfig | undefined {
  const base = set(env, ENDPOINT);
  const traces = set(env, TRACES_ENDPOINT);
  if (base === undefined && traces === undefined) return undefined;
  const disabled = set(env, 'OTEL_SDK_DISABLED');
  if (disabled !== undefined && disabled.toLowerCase() === 'true') return undefined;
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    const protocol = set(env, name);
    if (protocol !== undefined && protocol !== 'http/json' && protocol !== 'http/protobuf') {
      throw invalid(name, `is '${protocol}': prograde exports OTLP over HTTP only (http/json)`);
    }
  }
  let tracesUrl: string;
  if (traces !== undefined) {
    tracesUrl = endpointUrl(TRACES_ENDPOINT, traces).href;
  } else {
    // The specification: the base endpoint plus the signal's path, whatever path the base has.
    const url = endpointUrl(ENDPOINT, base as string);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
    tracesUrl = url.href;
  }
  const headers: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    const raw = set(env, name);
    if (raw !== undefined) Object.assign(headers, headerList(name, raw));
  }
  let timeoutMs = 10_000;
  for (const name of ['OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT']) {
    const raw = set(env, name);
    if (raw !== undefined) timeoutMs = timeout(name, raw);
  }
  return { tracesUrl, headers, timeoutMs };
}
