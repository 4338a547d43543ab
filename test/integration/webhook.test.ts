import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startMlflowServer, type MlflowServer } from '../../src/devstack/mlflow-server';
import { toolPaths } from '../../src/devstack/tools';
import { createLogger } from '../../src/logging';
import { MlflowClient } from '../../src/mlflow/client';
import { loadSpecRegistry, signDelivery, startWebhookServer, type WebhookServer } from '../../src/webhook';
import { sampleSpec } from '../support/specs';
import { stack } from '../support/stack';

const SECRET = `test-secret-${randomUUID()}`;

interface Captured {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Runs Python with the pinned venv's mlflow client against `trackingUri` (the way a data scientist sets an alias). */
function python(code: string, trackingUri: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      toolPaths().python,
      ['-c', code],
      {
        env: { ...process.env, MLFLOW_TRACKING_URI: trackingUri, MLFLOW_DISABLE_TELEMETRY: 'true' },
        timeout: 120_000,
      },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * The real MLflow server's delivery: a webhook created through MLflow's REST API, an alias set from
 * MLflow's Python client, and the promotion it starts counted in Temporal. The shared test MLflow
 * delivers only to public https URLs, so this file starts its own with loopback http allowed.
 */
describe('prograde webhook with a real MLflow server', () => {
  let dir: string;
  let mlflow: MlflowServer;
  let connection: Connection;
  let client: Client;
  let hook: WebhookServer;
  const deliveries: Captured[] = [];
  const model = `webhook-${randomUUID().slice(0, 8)}`;
  const taskQueue = `webhook-${randomUUID().slice(0, 8)}`; // no worker: the promotion only has to start
  const workflowId = `promote/${model}/1`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prograde-webhook-'));
    mkdirSync(join(dir, 'mlflow'));
    mkdirSync(join(dir, 'specs'));
    const saved = { ...process.env };
    process.env.MLFLOW_WEBHOOK_ALLOWED_SCHEMES = 'http,https';
    process.env.MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS = 'true';
    try {
      mlflow = await startMlflowServer({ dataDir: join(dir, 'mlflow'), timeoutMs: 170_000 });
    } finally {
      process.env = saved;
    }
    writeFileSync(join(dir, 'specs', 'promotion.yaml'), stringify(sampleSpec(model)));
    writeFileSync(join(dir, 'specs', 'holdout.csv'), 'is_fraud\n'); // never read: no worker runs here
    connection = await Connection.connect({ address: stack.temporalAddress() });
    client = new Client({ connection, namespace: stack.temporalNamespace() });
    hook = await startWebhookServer({
      specs: await loadSpecRegistry(join(dir, 'specs')),
      mlflow: new MlflowClient({ baseUrl: mlflow.url, timeoutMs: 30_000 }),
      client,
      taskQueue,
      secret: SECRET,
      logger: createLogger('webhook-test'),
      host: '127.0.0.1',
      port: 0,
    });
    hook.server.prependListener('request', (req) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) }));
    });
    const res = await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'prograde',
        url: hook.url,
        // The REST API takes the proto enum names (lower case is a 500 in MLflow 3.17).
        events: [{ entity: 'MODEL_VERSION_ALIAS', action: 'CREATED' }],
        secret: SECRET,
      }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }, 240_000);

  afterAll(async () => {
    await client?.workflow
      .getHandle(workflowId)
      .terminate('test over')
      .catch(() => undefined);
    await hook?.close();
    await connection?.close();
    await mlflow?.process.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runsOf(id: string): Promise<number> {
    let n = 0;
    for await (const _ of client.workflow.list({ query: `WorkflowId = '${id}'` })) n++;
    return n;
  }

  const setAlias = (version: string): Promise<string> =>
    python(
      `import mlflow; c = mlflow.MlflowClient(); c.set_registered_model_alias(${JSON.stringify(model)}, "challenger", "${version}")`,
      mlflow.url,
    );

  it('setting the candidate alias from Python starts promote/<model>/<version> once; redelivery and a second alias set start nothing more', async () => {
    await python(
      [
        'import mlflow',
        'c = mlflow.MlflowClient()',
        `c.create_registered_model(${JSON.stringify(model)})`,
        `c.create_model_version(${JSON.stringify(model)}, "s3://prograde-webhook-test/model")`,
      ].join('\n'),
      mlflow.url,
    );
    await setAlias('1');
    await until('the promotion to start', async () => ((await runsOf(workflowId)) === 1 ? true : undefined));
    const first = await until('the delivery', () => Promise.resolve(deliveries[0]));
    expect(first.headers['x-mlflow-signature']).toMatch(/^v1,/);
    const described = await client.workflow.getHandle(workflowId).describe();
    expect(described.status.name).toBe('RUNNING');
    expect(described.taskQueue).toBe(taskQueue);

    // The same alias set again: MLflow sends a new delivery (new id); the open run is attached to.
    await setAlias('1');
    await until('the second delivery', () => Promise.resolve(deliveries.length >= 2 ? true : undefined));
    expect(deliveries[1]?.headers['x-mlflow-delivery-id']).not.toBe(first.headers['x-mlflow-delivery-id']);

    // A verbatim replay of the first delivery (what MLflow's retry sends, or an attacker who saw it).
    const replay = await fetch(hook.url, {
      method: 'POST',
      headers: pick(first.headers),
      body: first.body,
    });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ duplicate: true });
    expect(await runsOf(workflowId)).toBe(1);
  }, 240_000);

  it('a bad signature is 401 and starts nothing', async () => {
    const body = aliasBody('other-model', '3');
    const r = await post(body, { signature: signDelivery('wrong-secret', randomUUID(), now(), body) });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: 'WEBHOOK_UNAUTHORIZED' });
  });

  it('a stale timestamp is 401 even with a valid signature', async () => {
    const body = aliasBody(model, '7');
    const r = await post(body, { timestamp: String(Math.floor(Date.now() / 1000) - 3600) });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { message: string }).message).toMatch(/timestamp/);
    expect(await runsOf(`promote/${model}/7`)).toBe(0);
  });

  it('a model with no registered spec is 404 with a clear body', async () => {
    const r = await post(aliasBody('no-such-model', '1'));
    expect(r.status).toBe(404);
    const body = (await r.json()) as { error: string; message: string };
    expect(body.error).toBe('WEBHOOK_UNKNOWN_MODEL');
    expect(body.message).toContain("no promotion spec is registered for model 'no-such-model'");
  });

  it('an oversized body is 413, a malformed payload 400, other events and aliases are ignored', async () => {
    expect((await post('x'.repeat(70_000))).status).toBe(413);
    expect((await post('{"entity": 1}')).status).toBe(400);
    const other = await post(aliasBody(model, '1', 'champion'));
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ ignored: true });
    const tag = JSON.stringify({ entity: 'model_version_tag', action: 'set', timestamp: 'x', data: {} });
    expect(await (await post(tag)).json()).toMatchObject({ ignored: true });
  });

  function aliasBody(name: string, version: string, alias = 'challenger'): string {
    return JSON.stringify({
      entity: 'model_version_alias',
      action: 'created',
      timestamp: new Date().toISOString(),
      data: { name, alias, version },
    });
  }

  function post(body: string, o: { signature?: string; timestamp?: string } = {}): Promise<Response> {
    const id = randomUUID();
    const ts = o.timestamp ?? now();
    return fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-mlflow-delivery-id': id,
        'x-mlflow-timestamp': ts,
        'x-mlflow-signature': o.signature ?? signDelivery(SECRET, id, ts, body),
      },
      body,
    });
  }
});

function now(): string {
  return String(Math.floor(Date.now() / 1000));
}

function pick(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = { 'content-type': 'application/json' };
  for (const k of ['x-mlflow-signature', 'x-mlflow-delivery-id', 'x-mlflow-timestamp']) {
    const v = h[k];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}
