import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelCache } from '../../src/mlflow/cache';
import { MlflowClient } from '../../src/mlflow/client';
import { registerOnnxModel } from '../../src/mlflow/register';
import { sampleModel } from '../../src/samples/models';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';
import { stack } from '../support/stack';
import { uniqueName } from './mlflow-fixtures';

const TOKEN = 'mlflow-source-token';
let dir: string;
let gw: GatewayHandle;
let model: string;
let versions: string[];

async function put(body: unknown): Promise<Response> {
  return fetch(`${gw.url}/admin/models/${model}/routing`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-mlflow-'));
  const client = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
  model = uniqueName('gateway-credit');
  versions = [];
  for (const seed of [1, 2])
    versions.push(
      (await registerOnnxModel(client, { name: model, onnxBytes: sampleModel('good', { seed }) })).version,
    );
  gw = await startGateway({
    source: new MlflowModelSource(client, new ModelCache(client, path.join(dir, 'cache'))),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    // Forcing a variant is off by default, and then only for an admin token.
    access: { allowForceVariant: true },
    logger: pino({ level: 'silent' }),
  });
  await gw.whenReady();
});

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway – MLflow model source', () => {
  it('serves registered versions fetched from the MLflow registry', async () => {
    const res = await put({
      generation: 1,
      stable: { version: versions[0] },
      canary: { version: versions[1], weight: 50 },
    });
    expect(res.status).toBe(200);
    const view = (await res.json()) as { versions: Record<string, { status: string; sha256: string }> };
    expect(view.versions[versions[1] as string]).toMatchObject({
      status: 'ready',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    const scored = await fetch(`${gw.url}/invocations?model=${model}`, {
      method: 'POST',
      headers: { 'x-prograde-force-variant': 'canary', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ inputs: [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] }),
    });
    expect(scored.status).toBe(200);
    expect(scored.headers.get('x-prograde-version')).toBe(versions[1]);
  });

  it('tells an unregistered model (404) from a registered one without routing (503)', async () => {
    const body = JSON.stringify({ inputs: [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] });
    expect(
      (await fetch(`${gw.url}/invocations?model=${uniqueName('nobody')}`, { method: 'POST', body })).status,
    ).toBe(404);
    const other = uniqueName('gateway-unrouted');
    await registerOnnxModel(new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 }), {
      name: other,
      onnxBytes: sampleModel('good'),
    });
    expect((await fetch(`${gw.url}/invocations?model=${other}`, { method: 'POST', body })).status).toBe(503);
  });

  it('refuses a version the registry does not have with 422', async () => {
    const res = await put({
      generation: 2,
      stable: { version: versions[0] },
      canary: { version: '999', weight: 5 },
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/MLflow has no version 999/);
  });
});
