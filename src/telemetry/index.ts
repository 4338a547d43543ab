/**
 * OpenTelemetry traces across the CLI, the worker (workflows and activities) and the gateway.
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then no
 * OpenTelemetry SDK module is loaded, no interceptor is installed, no header is added, and the
 * gateway's per-request hook is `undefined` (one check of a constant). When on, each process makes
 * spans as its service (`service.name` prograde-cli, prograde-worker or prograde-gateway) and exports
 * them over OTLP/HTTP; the trace context travels in Temporal headers (Temporal's OpenTelemetry
 * interceptors) and in W3C `traceparent` headers to the gateway. See docs/tracing.md.
 *
 * This module is light on purpose: the SDK side is ./sdk, loaded on first use.
 */
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { ProgradeError } from '../errors';
import { tracingConfig, type TelemetryService } from './config';
import type * as SdkModule from './sdk';
import type * as TemporalModule from './temporal';
import type { AnswerHeaderReader, OutgoingSpan, Telemetry } from './sdk';

export { tracingConfig, type TelemetryService, type TracingConfig } from './config';
export type { OutgoingSpan, Telemetry } from './sdk';

type Sdk = typeof SdkModule;
type Temporal = typeof TemporalModule;

let sdk: Sdk | undefined;
const started = new Map<TelemetryService, Telemetry>();
let testExporter: SpanExporter | undefined;

/**
 * Loads a module of this folder on first use. `require` finds it compiled (dist/) and under tsx (a
 * clone); vitest's module runner has no require for TypeScript, so there it is `import()`.
 */
async function lazy<T>(name: 'sdk' | 'temporal'): Promise<T> {
  try {
    return createRequire(__filename)(`./${name}`) as T;
  } catch {
    return (await (name === 'sdk' ? import('./sdk.js') : import('./temporal.js'))) as T;
  }
}

async function loadSdk(): Promise<Sdk> {
  sdk ??= await lazy<Sdk>('sdk');
  return sdk;
}

/** Temporal's OpenTelemetry interceptors for a worker (src/telemetry/temporal.ts), loaded on first use. */
export async function workerTracing(telemetry: Telemetry): Promise<ReturnType<Temporal['workerTracing']>> {
  return (await lazy<Temporal>('temporal')).workerTracing(telemetry);
}

/** The Temporal client interceptor of a traced CLI command (src/telemetry/temporal.ts). */
export async function tracingClientInterceptors(
  telemetry: Telemetry,
): Promise<ReturnType<Temporal['tracingClientInterceptors']>> {
  return (await lazy<Temporal>('temporal')).tracingClientInterceptors(telemetry);
}

/**
 * This process's telemetry as `service`, started on first call; undefined when tracing is off.
 * Throws TELEMETRY_CONFIG_INVALID (exit 2) when the OTEL_* settings are set but wrong.
 */
export async function startTelemetry(
  service: TelemetryService,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Telemetry | undefined> {
  const running = started.get(service);
  if (running) return running;
  const exporter = testExporter;
  const config = exporter ? undefined : tracingConfig(env);
  if (!exporter && !config) return undefined;
  const { createTelemetry } = await loadSdk();
  // Another call may have started it while the SDK loaded.
  const raced = started.get(service);
  if (raced) return raced;
  const telemetry = createTelemetry(
    service,
    exporter ? { testExporter: exporter } : { config: config as NonNullable<typeof config> },
  );
  started.set(service, telemetry);
  return telemetry;
}

/** The telemetry started for `service` in this process, if any. */
export function telemetryOf(service: TelemetryService): Telemetry | undefined {
  return started.get(service);
}

/**
 * A CLIENT span and its `traceparent` for an outgoing HTTP call, or undefined when no telemetry runs
 * in this process (the common case: one Map size check). The span belongs to the service of the
 * active context (an activity's: the worker), else to the first one started that is not the gateway.
 */
export function outgoingSpan(method: string, url: string): OutgoingSpan | undefined {
  if (started.size === 0 || sdk === undefined) return undefined;
  const fallback =
    started.get('prograde-worker') ?? started.get('prograde-cli') ?? started.get('prograde-gateway');
  return fallback ? sdk.startOutgoing(fallback, method, url) : undefined;
}

export type RequestHook = (req: IncomingMessage, res: ServerResponse, requestId: string) => void;

/**
 * The gateway's per-request hook: a SERVER span per request continuing the caller's traceparent, or
 * undefined when tracing is off, so the request path pays one `undefined` check.
 */
export async function gatewayRequestHook(
  env: NodeJS.ProcessEnv = process.env,
  headerOf?: AnswerHeaderReader,
): Promise<RequestHook | undefined> {
  const telemetry = await startTelemetry('prograde-gateway', env);
  if (!telemetry) return undefined;
  return (await loadSdk()).serverSpanHook(telemetry, headerOf);
}

/** The commands that talk to a promotion's workflow: each is a span the workflow's spans continue. */
const TRACED_COMMANDS = new Set(['promote', 'approve', 'reject', 'pause', 'resume', 'abort', 'rollback']);

/**
 * Runs the CLI (`run`) inside a `prograde <command>` span of the prograde-cli service when tracing is
 * on and the command drives a workflow: the Temporal client (src/client/connect.ts) then carries the
 * span's context into the workflow's headers. The spans are exported before this returns. Otherwise
 * it just runs the CLI. Bad OTEL_* settings end a traced command with exit 2 before it does anything.
 */
export async function tracedCli(argv: readonly string[], run: () => Promise<void>): Promise<void> {
  const command = argv[2];
  if (command === undefined || !TRACED_COMMANDS.has(command)) return run();
  let telemetry: Telemetry | undefined;
  try {
    telemetry = await startTelemetry('prograde-cli');
  } catch (e) {
    if (!(e instanceof ProgradeError)) throw e;
    process.stderr.write(`prograde: ${e.message} [${e.code}]\n`);
    process.exitCode = 2;
    return;
  }
  if (!telemetry) return run();
  try {
    await telemetry.inSpan(`prograde ${command}`, { 'prograde.command': command }, async (span) => {
      await run();
      // runCli reports errors itself and leaves the exit code: 1 is a verdict, 2 and 3 are failures.
      const exitCode = Number(process.exitCode ?? 0);
      span.setAttribute('prograde.exit_code', exitCode);
      if (exitCode >= 2) span.setStatus({ code: 2, message: `exit ${exitCode}` });
    });
  } finally {
    await telemetry.shutdown();
    started.delete('prograde-cli');
  }
}

/**
 * Test hook: every service started from now on exports to `exporter` (e.g. the SDK's
 * InMemorySpanExporter) through a SimpleSpanProcessor, whatever the environment says.
 */
export function useSpanExporterForTests(exporter: SpanExporter | undefined): void {
  testExporter = exporter;
}

/** Test hook: shuts every started service down and removes the process-wide OpenTelemetry globals. */
export async function stopTelemetryForTests(): Promise<void> {
  const all = [...started.values()];
  started.clear();
  await Promise.all(all.map((t) => t.shutdown()));
  sdk?.uninstallGlobals();
  testExporter = undefined;
}
