/**
 * The OpenTelemetry SDK side of src/telemetry: loaded (by index.ts) only once tracing is on, so a
 * process without OTEL_EXPORTER_OTLP_ENDPOINT never loads the SDK, the exporter or the propagator.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator, setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource, envDetectorSync, type IResource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../errors';
import { AsyncLocalContextManager } from './context-manager';
import type { TelemetryService, TracingConfig } from './config';

export interface Telemetry {
  readonly service: TelemetryService;
  readonly tracer: Tracer;
  readonly resource: IResource;
  /** Where workflow spans (handed over by the worker's sink) go too. */
  readonly processor: SpanProcessor;
  /** Runs `fn` in a new active span of this service; the span ends (with `fn`'s outcome) when it settles. */
  inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T>;
  /** Runs `fn` with this service as the one outgoing HTTP spans are made by (the worker's activities). */
  asService<T>(fn: () => T): T;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Which service's tracer makes an outgoing call's span, when several run in one process (tests). */
const SERVICE_KEY = createContextKey('prograde.telemetry.service');

let globalsInstalled = false;
let contextManager: AsyncLocalContextManager | undefined;

/** One context manager and the W3C propagator for the process: Temporal's interceptors use the globals. */
function installGlobals(): void {
  if (globalsInstalled) return;
  globalsInstalled = true;
  contextManager = new AsyncLocalContextManager();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  let lastWarning = 0;
  setGlobalErrorHandler((error) => {
    // An unreachable collector must not go unnoticed, nor flood the log: one line a minute at most.
    const now = Date.now();
    if (now - lastWarning < 60_000) return;
    lastWarning = now;
    const text = messageOf(error);
    process.stderr.write(`prograde: OpenTelemetry export failed: ${text.slice(0, 300)}\n`);
  });
}

/** Undoes installGlobals (tests that start and stop tracing in one process). */
export function uninstallGlobals(): void {
  if (!globalsInstalled) return;
  globalsInstalled = false;
  context.disable();
  propagation.disable();
  trace.disable();
  contextManager = undefined;
}

function packageVersion(): string {
  for (const up of ['..', join('..', '..')]) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'prograde' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: src/telemetry in a clone, dist/telemetry in a package
    }
  }
  return 'unknown';
}

/** A test's exporter outlives every provider: shutting a provider down must not stop it. */
function keptOpen(exporter: SpanExporter): SpanExporter {
  return {
    export: (spans, done) => exporter.export(spans, done),
    shutdown: () => Promise.resolve(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

export function createTelemetry(
  service: TelemetryService,
  target: { readonly config: TracingConfig } | { readonly testExporter: SpanExporter },
): Telemetry {
  installGlobals();
  const resource = Resource.default()
    .merge(envDetectorSync.detect())
    .merge(
      new Resource({
        'service.name': service,
        'service.version': packageVersion(),
        'process.pid': process.pid,
      }),
    );
  const processor: SpanProcessor =
    'testExporter' in target
      ? new SimpleSpanProcessor(keptOpen(target.testExporter))
      : new BatchSpanProcessor(
          new OTLPTraceExporter({
            url: target.config.tracesUrl,
            headers: { ...target.config.headers },
            timeoutMillis: target.config.timeoutMs,
          }),
          // Spans leave within a second: a gateway or worker stopped by a signal loses at most that.
          { scheduledDelayMillis: 1_000, maxQueueSize: 4_096, maxExportBatchSize: 512 },
        );
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  const tracer = provider.getTracer('prograde', packageVersion());
  let closed: Promise<void> | undefined;
  const shutdown = (): Promise<void> => (closed ??= provider.shutdown().catch(() => undefined));
  // A process that ends by running out of work (the CLI, a drained worker) exports what is left.
  process.once('beforeExit', () => void shutdown());
  const telemetry: Telemetry = {
    service,
    tracer,
    resource,
    processor,
    inSpan: (name, attributes, fn) =>
      tracer.startActiveSpan(
        name,
        { attributes },
        context.active().setValue(SERVICE_KEY, telemetry),
        async (span) => {
          try {
            return await fn(span);
          } catch (e) {
            const exitCode = (e as { exitCode?: unknown } | null)?.exitCode;
            if (typeof exitCode === 'number') {
              // The CLI ends with a chosen exit code: 1 is a verdict (rejected), not a fault.
              span.setAttribute('prograde.exit_code', exitCode);
              if (exitCode >= 2) span.setStatus({ code: SpanStatusCode.ERROR, message: `exit ${exitCode}` });
            } else {
              span.recordException(e instanceof Error ? e : messageOf(e));
              span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(e) });
            }
            throw e;
          } finally {
            span.end();
          }
        },
      ),
    asService: (fn) => context.with(context.active().setValue(SERVICE_KEY, telemetry), fn),
    flush: () => provider.forceFlush().catch(() => undefined),
    shutdown,
  };
  return telemetry;
}

/** The service whose tracer makes an outgoing span: the context's, else `fallback`. */
function serviceInContext(fallback: Telemetry): Telemetry {
  return (context.active().getValue(SERVICE_KEY) as Telemetry | undefined) ?? fallback;
}

/**
 * A low-cardinality span name for a gateway path: model names and versions become placeholders, the
 * query string is dropped (`/admin/models/fraud/stats?sinceMs=1` → `/admin/models/{model}/stats`).
 */
export function routeOf(path: string): string {
  const bare = path.split('?', 1)[0] ?? '';
  return bare
    .slice(0, 512)
    .replace(/\/models\/[^/]+/, '/models/{model}')
    .replace(/\/versions\/[^/]+/, '/versions/{version}');
}

export interface OutgoingSpan {
  /** traceparent (and tracestate) for the request. */
  readonly headers: Readonly<Record<string, string>>;
  end(status: number | undefined, error?: unknown): void;
}

/** A CLIENT span for one HTTP call, child of the active span, whose context travels as traceparent. */
export function startOutgoing(fallback: Telemetry, method: string, url: string): OutgoingSpan {
  const telemetry = serviceInContext(fallback);
  const parent = context.active();
  let target: URL | undefined;
  try {
    target = new URL(url);
  } catch {
    target = undefined;
  }
  const span = telemetry.tracer.startSpan(
    `${method} ${routeOf(target?.pathname ?? url)}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': method,
        ...(target
          ? {
              'url.full': `${target.origin}${target.pathname}`,
              'server.address': target.hostname,
              'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
            }
          : {}),
      },
    },
    parent,
  );
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), headers);
  return {
    headers,
    end: (status, error) => {
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      if (error !== undefined) {
        span.recordException(error instanceof Error ? error : messageOf(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
      } else if (status !== undefined && status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${status}` });
      }
      span.end();
    },
  };
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * Reads a header of an answer once it is sent. The gateway writes its headers in one `writeHead`
 * (src/serving/answers.ts), which `getHeader` does not see, and passes its own reader.
 */
export type AnswerHeaderReader = (res: ServerResponse, name: string) => unknown;

/**
 * The gateway's SERVER span of one request: it continues the caller's traceparent (a malformed one
 * starts a new trace, as W3C Trace Context says) and ends when the answer is sent or the connection
 * closes, with the status code and the request id.
 */
export function serverSpanHook(
  telemetry: Telemetry,
  headerOf: AnswerHeaderReader = (res, name) => res.getHeader(name),
): (req: IncomingMessage, res: ServerResponse, requestId: string) => void {
  return (req, res, requestId) => {
    const parent: Context = propagation.extract(ROOT_CONTEXT, req.headers, headerGetter);
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const method = (req.method ?? 'GET').slice(0, 16);
    const span = telemetry.tracer.startSpan(
      `${method} ${routeOf(path)}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.path': path.slice(0, 512),
          'http.route': routeOf(path),
          'prograde.request_id': requestId,
          ...(req.socket.remoteAddress ? { 'client.address': req.socket.remoteAddress } : {}),
        },
      },
      parent,
    );
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      const variant = headerOf(res, 'x-prograde-variant');
      if (typeof variant === 'string') span.setAttribute('prograde.variant', variant);
      if (!res.writableFinished)
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the answer' });
      else if (res.statusCode >= 500)
        span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${res.statusCode}` });
      span.end();
    });
  };
}
