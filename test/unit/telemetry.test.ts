import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { exitClassOf } from '../../src/error-codes';
import { ProgradeError } from '../../src/errors';
import {
  gatewayRequestHook,
  outgoingSpan,
  startTelemetry,
  stopTelemetryForTests,
  tracingConfig,
  useSpanExporterForTests,
} from '../../src/telemetry';
import { RunSeededIdGenerator } from '../../src/telemetry/workflow-interceptors';
import { startSampleGateway, type SampleGateway } from '../support/sample-gateway';

const TOKEN = 'telemetry-test-token';

function configError(env: NodeJS.ProcessEnv): ProgradeError {
  try {
    tracingConfig(env);
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify(env)}`);
}

describe('tracing settings from the environment', () => {
  it('is off without an OTLP endpoint, or when the SDK is disabled', () => {
    expect(tracingConfig({})).toBeUndefined();
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBeUndefined();
    expect(
      tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }),
    ).toBeUndefined();
  });

  it('posts to <endpoint>/v1/traces, or to the traces endpoint as given', () => {
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })?.tracesUrl).toBe(
      'http://127.0.0.1:4318/v1/traces',
    );
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/prefix/' })?.tracesUrl).toBe(
      'https://otel.example/prefix/v1/traces',
    );
    expect(
      tracingConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9999/custom',
      })?.tracesUrl,
    ).toBe('http://127.0.0.1:9999/custom');
  });

  it('reads collector headers and the timeout', () => {
    const config = tracingConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%20def, X-Tenant=t1',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    });
    expect(config?.headers).toEqual({ 'x-api-key': 'abc def', 'x-tenant': 't1' });
    expect(config?.timeoutMs).toBe(2500);
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, /OTEL_EXPORTER_OTLP_ENDPOINT is not a URL/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' }, /must be an http:\/\/ or https:\/\/ URL/],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://127.0.0.1:4317' }, /must be an http:\/\/ or https/],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      /OTLP over HTTP only/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' },
      /name=value pairs/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_HEADERS: 'k=%E0%A4%A' },
      /not URL-encoded/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_TIMEOUT: '-5' },
      /whole number/,
    ],
  ])('refuses %j as invalid input (exit 2)', (env, message) => {
    const e = configError(env);
    expect(e.code).toBe('TELEMETRY_CONFIG_INVALID');
    expect(exitClassOf(e.code)).toBe('invalid-input');
    expect(e.message).toMatch(message);
  });

  it('refuses a bad endpoint when a service starts, before it exports anything', async () => {
    await expect(startTelemetry('prograde-worker', { OTEL_EXPORTER_OTLP_ENDPOINT: 'nope' })).rejects.toThrow(
      /TELEMETRY_CONFIG_INVALID|not a URL/,
    );
  });
});

describe('workflow span ids', () => {
  it('are the same on every replay of a run, differ between runs, and never use the workflow random', () => {
    const random = vi.spyOn(Math, 'random');
    try {
      const a = new RunSeededIdGenerator(() => 'run-a');
      const again = new RunSeededIdGenerator(() => 'run-a');
      const b = new RunSeededIdGenerator(() => 'run-b');
      const ids = (g: RunSeededIdGenerator) => [g.generateTraceId(), g.generateSpanId(), g.generateSpanId()];
      const first = ids(a);
      expect(ids(again)).toEqual(first);
      const other = ids(b);
      expect(other).not.toEqual(first);
      for (const id of [...first, ...other]) expect(id).toMatch(/^[0-9a-f]+$/);
      expect(first[0]).toHaveLength(32);
      expect(first[1]).toHaveLength(16);
      expect(new Set(Array.from({ length: 1000 }, () => a.generateSpanId())).size).toBe(1000);
      expect(random).not.toHaveBeenCalled();
    } finally {
      random.mockRestore();
    }
  });
});

describe('tracing off', () => {
  it('gives the gateway no hook and outgoing calls no span or header', async () => {
    expect(await gatewayRequestHook({})).toBeUndefined();
    expect(outgoingSpan('GET', 'http://127.0.0.1:1/admin/models')).toBeUndefined();
  });
});

const serviceOf = (span: ReadableSpan): unknown => span.resource.attributes['service.name'];

describe('gateway server spans', () => {
  const exporter = new InMemorySpanExporter();
  let gateway: SampleGateway | undefined;

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await stopTelemetryForTests();
    exporter.reset();
  });

  async function tracedGateway(): Promise<SampleGateway> {
    useSpanExporterForTests(exporter);
    gateway = await startSampleGateway('telemetry', 'fraud', { '1': 'good' }, TOKEN);
    return gateway;
  }

  it('continues an incoming traceparent for an inference request, as prograde-gateway', async () => {
    const gw = await tracedGateway();
    await gw.admin.putRouting('fraud', { generation: 1, stable: { version: '1' } }, 'test');
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const res = await fetch(`${gw.gw.url}/v2/models/fraud/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${parentId}-01` },
      body: JSON.stringify({
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 12], data: Array(12).fill(0.5) }],
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await vi.waitFor(() => expect(exporter.getFinishedSpans().length).toBeGreaterThan(0));
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('POST /v2/models/{model}/infer');
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanId).toBe(parentId);
    expect(serviceOf(span as ReadableSpan)).toBe('prograde-gateway');
    expect(span?.attributes['http.response.status_code']).toBe(200);
    expect(span?.attributes['prograde.variant']).toBe('stable');
    expect(span?.attributes['prograde.request_id']).toBe(res.headers.get('x-request-id'));
  });

  it('starts a new trace for a request without, or with a malformed, traceparent', async () => {
    const gw = await tracedGateway();
    for (const traceparent of [undefined, 'garbage', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`]) {
      const res = await fetch(`${gw.gw.url}/v2/models/unknown-model/ready`, {
        headers: traceparent === undefined ? {} : { traceparent },
      });
      await res.text();
    }
    await vi.waitFor(() => expect(exporter.getFinishedSpans()).toHaveLength(3));
    const spans = exporter.getFinishedSpans();
    for (const span of spans) {
      expect(span.parentSpanId).toBeUndefined();
      expect(span.spanContext().traceId).not.toBe('0'.repeat(32));
    }
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(3);
  });

  it("links the admin client's span (the worker's) to the gateway's span for the same call", async () => {
    const gw = await tracedGateway();
    const worker = await startTelemetry('prograde-worker', {});
    expect(worker).toBeDefined();
    await worker?.inSpan('RunActivity:applyRouting', {}, () =>
      gw.admin.putRouting('fraud', { generation: 1, stable: { version: '1' } }, 'test'),
    );
    await expect(
      worker?.inSpan('RunActivity:bad', {}, () =>
        // The same generation with another state: refused (409).
        gw.admin.putRouting('fraud', { generation: 1, stable: { version: '2' } }, 'test'),
      ),
    ).rejects.toThrow();
    await vi.waitFor(() =>
      expect(exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER)).toHaveLength(2),
    );
    const spans = exporter.getFinishedSpans();
    const activity = spans.find((s) => s.name === 'RunActivity:applyRouting');
    const client = spans.find(
      (s) => s.kind === SpanKind.CLIENT && s.parentSpanId === activity?.spanContext().spanId,
    );
    const server = spans.find(
      (s) => s.kind === SpanKind.SERVER && s.parentSpanId === client?.spanContext().spanId,
    );
    expect(client?.name).toBe('PUT /admin/models/{model}/routing');
    expect(serviceOf(client as ReadableSpan)).toBe('prograde-worker');
    expect(client?.attributes['http.response.status_code']).toBe(200);
    expect(server?.name).toBe('PUT /admin/models/{model}/routing');
    expect(serviceOf(server as ReadableSpan)).toBe('prograde-gateway');
    expect(server?.spanContext().traceId).toBe(activity?.spanContext().traceId);
    // The refused PUT: a 4xx on both sides, and the activity span is an error.
    const refused = spans.find((s) => s.name === 'RunActivity:bad');
    expect(refused?.status.code).toBe(SpanStatusCode.ERROR);
    const refusedClient = spans.find(
      (s) => s.kind === SpanKind.CLIENT && s.parentSpanId === refused?.spanContext().spanId,
    );
    expect(refusedClient?.attributes['http.response.status_code']).toBeGreaterThanOrEqual(400);
  });
});

/** A loopback OTLP/HTTP receiver: records every POST's path, headers and JSON body. */
async function otlpReceiver(): Promise<{
  server: Server;
  url: string;
  received: { path: string; headers: IncomingMessage['headers']; body: unknown }[];
}> {
  const received: { path: string; headers: IncomingMessage['headers']; body: unknown }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

interface OtlpBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { name: string; traceId: string; parentSpanId?: string; kind: number }[] }[];
  }[];
}

describe('OTLP/HTTP export', () => {
  afterEach(() => stopTelemetryForTests());

  it('posts the spans of a service to <endpoint>/v1/traces with its resource and the configured headers', async () => {
    const receiver = await otlpReceiver();
    try {
      const telemetry = await startTelemetry('prograde-cli', {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=secret1',
      });
      expect(telemetry).toBeDefined();
      await telemetry?.inSpan('prograde promote', { 'prograde.command': 'promote' }, async () => {
        for (let i = 0; i < 3; i++) await telemetry.inSpan(`step ${i}`, {}, () => Promise.resolve());
      });
      await telemetry?.shutdown();
      expect(receiver.received.length).toBeGreaterThan(0);
      expect(receiver.received.every((r) => r.path === '/v1/traces')).toBe(true);
      expect(receiver.received[0]?.headers['x-collector-key']).toBe('secret1');
      const bodies = receiver.received.map((r) => r.body as OtlpBody);
      const spans = bodies.flatMap((b) =>
        b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
      );
      expect(spans.map((s) => s.name).sort()).toEqual(['prograde promote', 'step 0', 'step 1', 'step 2']);
      const root = spans.find((s) => s.name === 'prograde promote');
      for (const s of spans.filter((s) => s.name.startsWith('step'))) {
        expect(s.traceId).toBe(root?.traceId);
        expect(s.parentSpanId).toBeDefined();
      }
      const service = bodies[0]?.resourceSpans[0]?.resource.attributes.find((a) => a.key === 'service.name');
      expect(service?.value.stringValue).toBe('prograde-cli');
    } finally {
      receiver.server.close();
    }
  });
});
