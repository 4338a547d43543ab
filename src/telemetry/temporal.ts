/**
 * Temporal's OpenTelemetry interceptors, wired for prograde: the client's (the trace context rides
 * in the workflow's headers), the activities' (an activity span per attempt, child of the workflow's
 * StartActivity span) and the workflow's (src/telemetry/workflow-interceptors.ts, bundled into the
 * workflow code, whose spans leave the sandbox through the `exporter` sink). Loaded only when tracing
 * is on.
 */
import type { ClientInterceptors } from '@temporalio/client';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import { join } from 'node:path';
import type { Telemetry } from './sdk';

/** tsx resolves TypeScript sources through `require.resolve`; plain Node (vitest's) needs the file name. */
function sourcePath(relative: string): string {
  try {
    return require.resolve(relative);
  } catch {
    return join(__dirname, `${relative}.ts`);
  }
}

/** The workflow interceptor module: bundled with the workflows when tracing is on. */
export const TRACING_WORKFLOW_MODULE = sourcePath('./workflow-interceptors');

/** The client interceptor that starts each workflow call in a span and puts its context in the headers. */
export async function tracingClientInterceptors(telemetry: Telemetry): Promise<ClientInterceptors> {
  const { OpenTelemetryWorkflowClientInterceptor } =
    await import('@temporalio/interceptors-opentelemetry/lib/client/index.js');
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: telemetry.tracer })] };
}

export interface WorkerTracing {
  readonly interceptors: WorkerInterceptors;
  readonly sinks: InjectedSinks<OpenTelemetrySinks>;
}

/** Activity interceptors, the workflow interceptor module, and the sink workflow spans come out by. */
export async function workerTracing(telemetry: Telemetry): Promise<WorkerTracing> {
  const otel = await import('@temporalio/interceptors-opentelemetry/lib/worker/index.js');
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx, { tracer: telemetry.tracer }),
          outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
        // Inside the activity's span: the gateway calls it makes are the worker's spans.
        () => ({ inbound: { execute: (input, next) => telemetry.asService(() => next(input)) } }),
      ],
      workflowModules: [TRACING_WORKFLOW_MODULE],
    },
    sinks: { exporter: otel.makeWorkflowExporter(telemetry.processor, telemetry.resource) },
  };
}
