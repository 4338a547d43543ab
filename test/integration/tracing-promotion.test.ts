import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';
import { createLogger } from '../../src/logging';
import type { PromotionState } from '../../src/promotion/state';
import type { GatewayHandle } from '../../src/serving/server';
import { startTelemetry, stopTelemetryForTests, useSpanExporterForTests } from '../../src/telemetry';
import { TRACING_WORKFLOW_MODULE } from '../../src/telemetry/temporal';
import { PAYLOAD_CONVERTER_PATH, createPromotionWorker } from '../../src/worker';
import { prograde, specFile } from '../support/cli';
import { createHarness, sampleSpec, uniqueModel, workflowBundle, type Harness } from '../support/harness';
import {
  backgroundTraffic,
  cleanRows,
  liveSpec,
  servedChampion,
  startTestGateway,
  stopWorkerAndGateway,
} from '../support/live';
import { stack } from '../support/stack';

/**
 * Issue 12 §5: one trace from `prograde promote` to the gateway. The CLI runs as CI runs it (its own
 * process) and exports its spans over OTLP/HTTP to a receiver in this test; the worker (with
 * Temporal's OpenTelemetry interceptors and the traced workflow bundle) and the gateway run here and
 * export to the SDK's InMemorySpanExporter through the telemetry module's test hook.
 */

interface OtlpSpan {
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string | undefined;
  readonly kind: number;
}
interface Received {
  readonly service: string;
  readonly span: OtlpSpan;
}

/** OTLP/JSON ids are hex; a base64 one (the protobuf JSON mapping) is converted. */
const hexId = (id: string | undefined): string | undefined =>
  id === undefined || id === '' || /^[0-9a-f]+$/.test(id)
    ? id || undefined
    : Buffer.from(id, 'base64').toString('hex');

async function otlpReceiver(): Promise<{ server: Server; url: string; spans: Received[]; posts: string[] }> {
  const spans: Received[] = [];
  const posts: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push(`${req.method} ${req.url}`);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: {
          resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
          scopeSpans?: { spans?: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const service =
          rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({
              service,
              span: {
                ...s,
                traceId: hexId(s.traceId) ?? '',
                spanId: hexId(s.spanId) ?? '',
                parentSpanId: hexId(s.parentSpanId),
              },
            });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, posts };
}

const serviceOf = (s: ReadableSpan): unknown => s.resource.attributes['service.name'];

describe('traces from the CLI through the workflow and activities to the gateway', () => {
  const exporter = new InMemorySpanExporter();
  let h: Harness;
  let gateway: GatewayHandle;
  let worker: Worker;
  let running: Promise<void>;
  let connection: NativeConnection;

  beforeAll(async () => {
    useSpanExporterForTests(exporter);
    h = await createHarness();
    const tracing = await startTelemetry('prograde-worker', {});
    const [bundle] = await Promise.all([
      bundleWorkflowCode({
        workflowsPath: join(__dirname, '..', '..', 'src', 'workflows', 'index.ts'),
        payloadConverterPath: PAYLOAD_CONVERTER_PATH,
        workflowInterceptorModules: [TRACING_WORKFLOW_MODULE],
        logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop },
      }),
      // The untraced bundle too, for the replay below (built once per process).
      workflowBundle(),
    ]);
    connection = await NativeConnection.connect({ address: stack.temporalAddress() });
    const logger = createLogger('test');
    logger.level = 'warn';
    worker = await createPromotionWorker({
      connection,
      namespace: stack.temporalNamespace(),
      taskQueue: h.taskQueue,
      mlflow: h.mlflow,
      workDir: join(h.dir, 'worker'),
      logger,
      workflowBundle: bundle,
      ...(tracing ? { tracing } : {}),
    });
    running = worker.run();
    gateway = await startTestGateway(h, mkdtempSync(join(h.dir, 'gateway-')));
  }, 240_000);

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection?.close();
    await stopWorkerAndGateway(h, gateway);
    await stopTelemetryForTests();
  });

  it('links the CLI span, the workflow, its activities and the gateway calls in one trace', async () => {
    const receiver = await otlpReceiver();
    try {
      const { model } = await servedChampion(h, gateway, 'traced');
      const candidate = await h.register(model, 'good', undefined, 5);
      const traffic = backgroundTraffic(gateway, model, cleanRows(2000, 31), 40);
      const spec = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '3s' });
      const r = await prograde(
        h,
        ['promote', '--spec', specFile(h, spec), '--version', candidate, '--wait', '--json'],
        { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
      );
      await traffic.stop();
      expect(r.status, r.stderr).toBe(0);
      const final = JSON.parse(r.stdout) as PromotionState;
      expect(final.outcome, final.reason).toBe('promoted');

      // The CLI process exported its spans over OTLP/HTTP before it exited.
      expect(receiver.posts.every((p) => p === 'POST /v1/traces')).toBe(true);
      const cli = receiver.spans.find((s) => s.span.name === 'prograde promote');
      expect(cli?.service).toBe('prograde-cli');
      expect(cli?.span.parentSpanId).toBeUndefined();
      const traceId = cli?.span.traceId ?? '';
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      const start = receiver.spans.find(
        (s) => s.span.name === 'StartWorkflow:promoteModel' && s.span.parentSpanId === cli?.span.spanId,
      );
      expect(start?.span.traceId).toBe(traceId);

      // The worker's and the gateway's spans, here; the workflow span ends with the workflow.
      const inTrace = (): ReadableSpan[] =>
        exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      const deadline = Date.now() + 60_000;
      while (!inTrace().some((s) => s.name === 'RunWorkflow:promoteModel') && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 250));
      const spans = inTrace();
      const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
      const parentOf = (s: ReadableSpan | undefined): ReadableSpan | undefined =>
        s?.parentSpanId === undefined ? undefined : byId.get(s.parentSpanId);

      const workflow = spans.find((s) => s.name === 'RunWorkflow:promoteModel');
      expect(workflow?.parentSpanId).toBe(start?.span.spanId);
      expect(serviceOf(workflow as ReadableSpan)).toBe('prograde-worker');

      // Every activity ran in a span of the worker, under the workflow's StartActivity span.
      const activities = spans.filter((s) => s.name.startsWith('RunActivity:'));
      expect(new Set(activities.map((s) => s.name)).size).toBeGreaterThanOrEqual(4);
      for (const a of activities) {
        const scheduled = parentOf(a);
        expect(scheduled?.name, a.name).toBe(a.name.replace('RunActivity:', 'StartActivity:'));
        expect(parentOf(scheduled)?.name).toBe('RunWorkflow:promoteModel');
        expect(serviceOf(a)).toBe('prograde-worker');
      }

      // applyRouting's PUT: the admin client's span, and the gateway's server span under it.
      const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
      const put = servers.find((s) => s.name === 'PUT /admin/models/{model}/routing');
      const putClient = parentOf(put);
      expect(putClient?.kind).toBe(SpanKind.CLIENT);
      expect(serviceOf(putClient as ReadableSpan)).toBe('prograde-worker');
      expect(parentOf(putClient)?.name).toBe('RunActivity:applyRouting');
      expect(serviceOf(put as ReadableSpan)).toBe('prograde-gateway');
      expect(put?.attributes['http.response.status_code']).toBe(200);
      // The canary watch reads the gateway's statistics in the same trace.
      const stats = servers.find((s) => s.name === 'GET /admin/models/{model}/stats');
      expect(parentOf(parentOf(stats))?.name).toBe('RunActivity:watchCanary');
      // Inference requests from the traffic generator carry no traceparent: their own traces.
      expect(
        exporter
          .getFinishedSpans()
          .some((s) => s.name === 'POST /v2/models/{model}/infer' && s.spanContext().traceId !== traceId),
      ).toBe(true);

      const count = (service: string) => spans.filter((s) => serviceOf(s) === service).length;
      console.log(
        `[tracing] trace ${traceId}: ${receiver.spans.filter((s) => s.span.traceId === traceId).length} CLI spans over OTLP/HTTP (${receiver.posts.length} POSTs), ` +
          `${count('prograde-worker')} worker and ${count('prograde-gateway')} gateway spans, ${activities.length} activity runs`,
      );

      // Its history, recorded by a traced worker, replays with and without the interceptors.
      const history = await h.client.workflow.getHandle(final.workflowId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'replay-untraced');
    } finally {
      receiver.server.close();
    }
  }, 240_000);

  it('a `prograde worker` process that bundles at start exports the workflow and activity spans over OTLP/HTTP', async () => {
    // This test's worker is the process below: the in-process one stops polling the task queue.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    const receiver = await otlpReceiver();
    const child = spawn(process.execPath, ['bin/prograde.js', 'worker'], {
      cwd: repoRoot,
      detached: true,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: stack.temporalAddress(),
        TEMPORAL_NAMESPACE: stack.temporalNamespace(),
        PROGRADE_TASK_QUEUE: h.taskQueue,
        MLFLOW_TRACKING_URI: stack.mlflowUri(),
        PROGRADE_WORK_DIR: mkdtempSync(join(h.dir, 'work-')),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      },
    });
    let log = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer): void => {
          log += d.toString();
          if (log.includes('worker started')) resolve();
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exited.then((code) => reject(new Error(`worker exited ${code}:\n${log}`)));
      });
      const model = uniqueModel('traced-worker');
      const v = await h.register(model, 'good');
      const r = await prograde(
        h,
        ['promote', '--spec', specFile(h, sampleSpec(model)), '--version', v, '--wait', '--json'],
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        },
      );
      expect(r.status, r.stderr).toBe(0);
      // SIGTERM: the worker drains, then exports what it still holds before it exits.
      process.kill(-(child.pid as number), 'SIGTERM');
      expect(await exited).toBe(0);

      const cli = receiver.spans.find((s) => s.span.name === 'prograde promote');
      const start = receiver.spans.find(
        (s) => s.span.name === 'StartWorkflow:promoteModel' && s.span.parentSpanId === cli?.span.spanId,
      );
      const inTrace = receiver.spans.filter(
        (s) => s.span.traceId === cli?.span.traceId && s.service === 'prograde-worker',
      );
      const workflow = inTrace.find((s) => s.span.name === 'RunWorkflow:promoteModel');
      expect(workflow?.span.parentSpanId).toBe(start?.span.spanId);
      const activities = inTrace.filter((s) => s.span.name.startsWith('RunActivity:'));
      expect(new Set(activities.map((s) => s.span.name)).size).toBeGreaterThanOrEqual(4);
      const ids = new Set(inTrace.map((s) => s.span.spanId));
      for (const a of activities) expect(ids.has(a.span.parentSpanId ?? '')).toBe(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null)
        process.kill(-(child.pid as number), 'SIGKILL');
      receiver.server.close();
    }
  }, 300_000);

  it('refuses a bad OTLP endpoint with exit 2 before it starts anything', async () => {
    const model = uniqueModel('traced-bad');
    const v = await h.register(model, 'good');
    const r = await prograde(
      h,
      ['promote', '--spec', specFile(h, liveSpec(model, gateway.url)), '--version', v],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318',
      },
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be an http:\/\/ or https:\/\/ URL.*\[TELEMETRY_CONFIG_INVALID\]/,
    );
    await expect(h.client.workflow.getHandle(`promote/${model}/${v}`).describe()).rejects.toThrow();
  }, 60_000);
});

describe('bad OpenTelemetry settings stop a worker or a gateway at start', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h?.close());

  it.each([
    [
      ['worker'],
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://127.0.0.1:4318' },
      /must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      ['gateway', '--models-dir', '{dir}', '--state-dir', '{dir}/state', '--port', '0'],
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_HEADERS: 'no-pair' },
      /OTEL_EXPORTER_OTLP_HEADERS must be a comma-separated list/,
    ],
  ])(
    'prograde %j with %j: exit 2',
    async (args, env, message) => {
      const dir = mkdtempSync(join(h.dir, 'bad-otel-'));
      const r = await prograde(
        h,
        args.map((a) => a.replace('{dir}', dir)),
        env,
      );
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('[TELEMETRY_CONFIG_INVALID]');
    },
    60_000,
  );
});

function noop(): void {}
