/**
 * Temporal's OpenTelemetry interceptors, wired for prograde: the client's (the trace context rides
 * in the workflow's headers), the activities' (an activity span per attempt, child of the workflow's
 * StartActivity span) and the workflow's (src/telemetry/workflow-interceptors.ts, bundled into the
 * workflow code, whose spans leave the sandbox through the `exporter` sink). Loaded (by index.ts)
 * only when tracing is on.
 */
import type { ClientInterceptors } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
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
export function tracingClientInterceptors(telemetry: Telemetry): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: telemetry.tracer })] };
}

export interface WorkerTracing {
  readonly interceptors: WorkerInterceptors;
  readonly sinks: InjectedSinks<OpenTelemetrySinks>;
}

/** Activity interceptors, the workflow interceptor module, and the sink workflow spans come out by. */
export function workerTracing(telemetry: Telemetry): WorkerTracing {
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: telemetry.tracer }),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
        // Inside the activity's span: the gateway calls it makes are the worker's spans.
        () => ({ inbound: { execute: (input, next) => telemetry.asService(() => next(input)) } }),
      ],
      workflowModules: [TRACING_WORKFLOW_MODULE],
    },
    sinks: { exporter: makeWorkflowExporter(telemetry.processor, telemetry.resource) },
  };
}
