import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDataset } from '../../src/samples/datasets';
import { NAN_CUTOFF, sampleModel } from '../../src/samples/models';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { writeModelVersion } from '../../src/serving/model-directory';
import { startGateway, type GatewayHandle, type GatewayOptions } from '../../src/serving/server';

const TOKEN = 'admin-test-token';
const ROW = Array.from(sampleDataset({ rows: 1, seed: 5 }).features.subarray(0, 12));

let dir: string;
let options: GatewayOptions;
let gw: GatewayHandle;

async function admin(
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${gw.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function score(row: number[], headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}/v2/models/credit/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: row }] }),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-admin-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'credit', '2', sampleModel('good', { seed: 2 }));
  await writeModelVersion(models, 'credit', '3', sampleModel('nan'));
  await writeModelVersion(models, 'credit', '4', sampleModel('wrong-signature'));
  await writeModelVersion(models, 'credit', '5', sampleModel('corrupt'));
  await writeModelVersion(models, 'credit', '6', sampleModel('opset-too-new'));
  options = {
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    logger: pino({ level: 'silent' }),
  };
  gw = await startGateway(options);
  await gw.whenReady();
});

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway admin – authentication', () => {
  it('answers 401 without the bearer token', async () => {
    const res = await fetch(`${gw.url}/admin/models/credit/routing`, {
      method: 'PUT',
      body: JSON.stringify({ generation: 1, stable: { version: '1' } }),
    });
    expect(res.status).toBe(401);
    const wrong = await fetch(`${gw.url}/admin/audit`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('is not ready-blocking: a gateway with no routed model is ready', async () => {
    expect((await fetch(`${gw.url}/v2/health/ready`)).status).toBe(200);
  });
});

describe('gateway admin – desired-state routing', () => {
  it('applies a first generation, then treats the same PUT as a no-op', async () => {
    const body = { generation: 1, stable: { version: '1' }, retain: [] };
    const first = await admin('PUT', '/admin/models/credit/routing', body, { 'x-prograde-actor': 'ci-bot' });
    expect(first.status).toBe(200);
    expect(await json(first)).toMatchObject({
      applied: true,
      generation: 1,
      spec: { stable: { version: '1' } },
      versions: { '1': { status: 'ready', role: 'stable' } },
    });
    const again = await admin('PUT', '/admin/models/credit/routing', body);
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ applied: false, generation: 1 });
    expect((await score(ROW)).headers.get('x-prograde-version')).toBe('1');
  });

  it('refuses the same generation with a different body, and an older generation, with 409 and the current state', async () => {
    const changed = await admin('PUT', '/admin/models/credit/routing', {
      generation: 1,
      stable: { version: '2' },
    });
    expect(changed.status).toBe(409);
    expect(await json(changed)).toMatchObject({
      code: 'SERVING_ROUTING_CONFLICT',
      current: { generation: 1, spec: { stable: { version: '1' } } },
    });
    expect(
      (
        await admin('PUT', '/admin/models/credit/routing', {
          generation: 3,
          stable: { version: '1' },
          canary: { version: '2', weight: 10 },
        })
      ).status,
    ).toBe(200);
    const stale = await admin('PUT', '/admin/models/credit/routing', {
      generation: 2,
      stable: { version: '2' },
    });
    expect(stale.status).toBe(409);
    expect((await json<{ error: string }>(stale)).error).toBe(
      'generation 2 is older than the applied generation 3',
    );
  });

  it('rejects a malformed body with 400 naming the field', async () => {
    const res = await admin('PUT', '/admin/models/credit/routing', {
      generation: 9,
      stable: { version: '1' },
      canary: { version: '2', weight: 140 },
    });
    expect(res.status).toBe(400);
    expect((await json<{ error: string }>(res)).error).toMatch(/^invalid routing at canary\.weight/);
  });

  it('loads, warms up and switches to a new version, unloading what is no longer referenced or retained', async () => {
    const res = await admin('PUT', '/admin/models/credit/routing', {
      generation: 4,
      stable: { version: '2' },
      retain: ['1'],
    });
    expect(res.status).toBe(200);
    const view = await json<{ versions: Record<string, { status: string; role: string; sha256?: string }> }>(
      res,
    );
    expect(Object.keys(view.versions).sort()).toEqual(['1', '2']);
    expect(view.versions['1']).toMatchObject({ status: 'ready', role: 'retained' });
    expect(view.versions['2']?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await score(ROW)).headers.get('x-prograde-version')).toBe('2');
  });

  it('refuses a version that cannot load with 422 and keeps the current routing', async () => {
    for (const [version, pattern] of [
      ['5', /onnxruntime could not load credit@5/],
      ['6', /onnxruntime could not load credit@6/],
      ['77', /no model file for credit version 77/],
    ] as const) {
      const res = await admin('PUT', '/admin/models/credit/routing', {
        generation: 5,
        stable: { version: '2' },
        canary: { version, weight: 5 },
      });
      expect(res.status).toBe(422);
      expect((await json<{ error: string }>(res)).error).toMatch(pattern);
    }
    const current = await json<{ generation: number; versions: Record<string, unknown> }>(
      await admin('GET', '/admin/models/credit/routing'),
    );
    expect(current.generation).toBe(4);
    expect(Object.keys(current.versions).sort()).toEqual(['1', '2']);
  });

  it('refuses a canary whose inputs differ from the stable version’s with 422', async () => {
    const res = await admin('PUT', '/admin/models/credit/routing', {
      generation: 5,
      stable: { version: '2' },
      canary: { version: '4', weight: 5 },
    });
    expect(res.status).toBe(422);
    expect(await json(res)).toMatchObject({ code: 'SERVING_SIGNATURE_MISMATCH' });
  });

  it('lists routed models with their state', async () => {
    const { models } = await json<{ models: { model: string; generation: number }[] }>(
      await admin('GET', '/admin/models'),
    );
    expect(models).toEqual([expect.objectContaining({ model: 'credit', generation: 4 })]);
  });

  it('writes one audit entry per applied change, with the actor', async () => {
    const res = await admin('GET', '/admin/audit?model=credit');
    const { entries } = await json<{ entries: { generation: number; actor?: string; state: unknown }[] }>(
      res,
    );
    expect(entries.map((e) => e.generation)).toEqual([1, 3, 4]);
    expect(entries[0]).toMatchObject({ actor: 'ci-bot', state: { stable: { version: '1' } } });
    const lines = readFileSync(path.join(dir, 'state', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(lines).toHaveLength(3);
  });
});

describe('gateway admin – stats', () => {
  it('counts non-finite predictions as errors of their variant and answers them with 502', async () => {
    expect(
      (
        await admin('PUT', '/admin/models/credit/routing', {
          generation: 6,
          stable: { version: '2' },
          canary: { version: '3', weight: 50 },
        })
      ).status,
    ).toBe(200);
    const poisoned = [NAN_CUTOFF + 1, ...ROW.slice(1)];
    const nan = await score(poisoned, { 'x-prograde-force-variant': 'canary' });
    expect(nan.status).toBe(502);
    expect(nan.headers.get('x-prograde-variant')).toBe('canary');
    expect((await json<{ error: string }>(nan)).error).toBe('model returned non-finite output');
    for (let i = 0; i < 3; i++)
      expect((await score(ROW, { 'x-prograde-force-variant': 'canary' })).status).toBe(200);
    for (let i = 0; i < 2; i++)
      expect((await score(ROW, { 'x-prograde-force-variant': 'stable' })).status).toBe(200);

    const stats = await json<{
      generation: number;
      variants: Record<
        string,
        { version: string; requests: number; errors: number; latencyMs: number[]; scores: number[] }
      >;
    }>(await admin('GET', '/admin/models/credit/stats?sinceMs=0'));
    expect(stats.generation).toBe(6);
    expect(stats.variants.canary).toMatchObject({ version: '3', requests: 4, errors: 1 });
    expect(stats.variants.canary?.latencyMs).toHaveLength(4);
    expect(stats.variants.stable).toMatchObject({ version: '2', requests: 2, errors: 0 });
    expect(stats.variants.stable?.scores).toHaveLength(2);
  });

  it('starts every generation with empty stats, keeping the previous one queryable', async () => {
    expect(
      (await admin('PUT', '/admin/models/credit/routing', { generation: 7, stable: { version: '2' } }))
        .status,
    ).toBe(200);
    const fresh = await json<{ variants: Record<string, unknown> }>(
      await admin('GET', '/admin/models/credit/stats'),
    );
    expect(fresh.variants).toEqual({});
    const previous = await json<{ variants: Record<string, { requests: number }> }>(
      await admin('GET', '/admin/models/credit/stats?generation=6'),
    );
    expect(previous.variants.canary?.requests).toBe(4);
    expect((await admin('GET', '/admin/models/credit/stats?generation=99')).status).toBe(409);
  });
});

describe('gateway admin – restart', () => {
  it('restores routing from the state dir and serves it after a restart', async () => {
    expect(
      (
        await admin('PUT', '/admin/models/credit/routing', {
          generation: 8,
          stable: { version: '1' },
          canary: { version: '2', weight: 20 },
        })
      ).status,
    ).toBe(200);
    await gw.close();
    gw = await startGateway(options);
    await gw.whenReady();
    expect((await fetch(`${gw.url}/v2/health/ready`)).status).toBe(200);
    const view = await json<{
      generation: number;
      spec: unknown;
      versions: Record<string, { status: string }>;
    }>(await admin('GET', '/admin/models/credit/routing'));
    expect(view).toMatchObject({
      generation: 8,
      spec: { stable: { version: '1' }, canary: { version: '2', weight: 20 } },
      versions: { '1': { status: 'ready' }, '2': { status: 'ready' } },
    });
    const res = await score(ROW, { 'x-prograde-force-variant': 'canary' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-prograde-version')).toBe('2');
    expect(
      (
        await admin('PUT', '/admin/models/credit/routing', {
          generation: 8,
          stable: { version: '1' },
          canary: { version: '2', weight: 20 },
        })
      ).status,
    ).toBe(200);
    expect(
      (await admin('PUT', '/admin/models/credit/routing', { generation: 7, stable: { version: '1' } }))
        .status,
    ).toBe(409);
  });

  it('stays unready while a restored version cannot load, and retries until it can', async () => {
    const stateDir = path.join(dir, 'state-retry');
    const retrying: GatewayOptions = { ...options, stateDir, restoreRetryMs: 50 };
    await gw.close();
    gw = await startGateway(retrying);
    await gw.whenReady();
    expect(
      (await admin('PUT', '/admin/models/credit/routing', { generation: 1, stable: { version: '2' } }))
        .status,
    ).toBe(200);
    await gw.close();
    const file = path.join(dir, 'models', 'credit', '2', 'model.onnx');
    renameSync(file, `${file}.away`);
    gw = await startGateway(retrying);
    await gw.whenReady();
    expect((await fetch(`${gw.url}/v2/health/ready`)).status).toBe(503);
    const unready = await score(ROW);
    expect(unready.status).toBe(503);
    expect((await json<{ error: string }>(unready)).error).toMatch(
      /^model 'credit' version 2 failed to load: no model file/,
    );
    renameSync(`${file}.away`, file);
    while ((await fetch(`${gw.url}/v2/health/ready`)).status !== 200)
      await new Promise((r) => setTimeout(r, 25));
    expect((await score(ROW)).status).toBe(200);
  });
});
