/**
 * Workflow interceptors for OpenTelemetry, bundled into the workflow code only when tracing is on
 * (src/worker.ts; the traced prebuilt bundle of infra/build-release.mjs). Runs in Temporal's
 * deterministic sandbox: no Node built-ins, no I/O.
 *
 * They are Temporal's own (@temporalio/interceptors-opentelemetry) with two changes that keep a
 * traced worker replaying exactly what an untraced one recorded, and the reverse:
 *
 * - **Span ids do not draw on the workflow's random numbers.** Upstream's tracer makes ids with
 *   `Math.random`, which in the sandbox is the workflow's seeded generator, the one `uuid4()` uses.
 *   A traced worker would then draw different ids in the workflow (the rollout lock's request id,
 *   src/workflows/turn.ts) than the untraced run recorded, and a replay would wait for an answer
 *   that never matches. Here ids come from a generator of their own, seeded from the run id: as
 *   deterministic across replays, and invisible to the workflow.
 * - **Queries and update validators make no span.** They are not replayed, so a span made there
 *   would shift every later id after a cache eviction; the client's query span remains.
 */
// First: it gives the sandbox the `performance` global the OpenTelemetry SDK reads when it loads.
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { SpanExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/span-exporter';
import type { Tracer } from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  workflowInfo,
  type Next,
  type QueryInput,
  type UpdateInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

/** cyrb128: four 32-bit words from a string, to seed the generator below. */
function seedOf(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** Span and trace ids from sfc32 seeded by the run id: the same on every replay of the run. */
export class RunSeededIdGenerator implements IdGenerator {
  private runId: string | undefined;
  private s: [number, number, number, number] = [0, 0, 0, 0];

  constructor(private readonly runIdOf: () => string = () => workflowInfo().runId) {}

  private next32(): number {
    const runId = this.runIdOf();
    if (runId !== this.runId) {
      this.runId = runId;
      this.s = seedOf(`prograde-otel:${runId}`);
    }
    let [a, b, c, d] = this.s;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.s = [a, b, c, d];
    return t >>> 0;
  }

  private hex(words: number): string {
    for (;;) {
      let id = '';
      for (let i = 0; i < words; i++) id += this.next32().toString(16).padStart(8, '0');
      if (!/^0+$/.test(id)) return id; // all zeros is the invalid id
    }
  }

  generateTraceId(): string {
    return this.hex(4);
  }

  generateSpanId(): string {
    return this.hex(2);
  }
}

let tracer: Tracer | undefined;

/** This workflow's tracer (module state is per workflow run in the sandbox); spans leave through the sink. */
function runTracer(): Tracer {
  tracer ??= new BasicTracerProvider({
    idGenerator: new RunSeededIdGenerator(),
    spanProcessors: [new SimpleSpanProcessor(new SpanExporter())],
  }).getTracer('@temporalio/interceptor-workflow');
  return tracer;
}

class InboundInterceptor extends OpenTelemetryInboundInterceptor {
  protected override readonly tracer = runTracer();

  override handleQuery(
    input: QueryInput,
    next: Next<WorkflowInboundCallsInterceptor, 'handleQuery'>,
  ): Promise<unknown> {
    return next(input);
  }

  override validateUpdate(
    input: UpdateInput,
    next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>,
  ): void {
    next(input);
  }
}

class OutboundInterceptor extends OpenTelemetryOutboundInterceptor {
  protected override readonly tracer = runTracer();
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new InboundInterceptor()],
  outbound: [new OutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
