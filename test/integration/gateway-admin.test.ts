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

/**
 * Every test routes a model of its own (`freshModel`) and applies the generations it needs itself,
 * so each one passes alone (`-t`), in any order, and beside the others on one gateway. Tests that
 * restart a gateway start their own, with their own state folder.
 */

const TOKEN = 'admin-test-token';
const ROW = Array.from(sampleDataset({ rows: 1, seed: 5 }).features.subarray(0, 12));

let dir: string;
let models: string;
let options: GatewayOptions;
let gw: GatewayHandle;
let versions: [string, Uint8Array][];
let modelCount = 0;

/** A model only this test routes, with versions 1–2 good, 3 NaN, 4 wrong signature, 5 corrupt, 6 opset too new. */
async function freshModel(): Promise<string> {
  const model = `credit-${++modelCount}`;
  for (const [version, bytes] of versions) await writeModelVersion(models, model, version, bytes);
  return model;
}

/** A gateway of the test's own, on a state folder no other test uses. */
function ownGateway(extra: Partial<GatewayOptions> = {}): GatewayOptions {
  return { ...options, stateDir: mkdtempSync(path.join(dir, 'state-')), ...extra };
}

async function admin(
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
  on: GatewayHandle = gw,
): Promise<Response> {
  return fetch(`${on.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

function put(model: string, body: unknown, on: GatewayHandle = gw, headers: Record<string, string> = {}) {
  return admin('PUT', `/admin/models/${model}/routing`, body, headers, on);
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Forcing a variant needs the switch (on in `options`) and an admin token. */
function forced(variant: 'stable' | 'canary'): Record<string, string> {
  return { 'x-prograde-force-variant': variant, authorization: `Bearer ${TOKEN}` };
}

async function score(
  model: string,
  row: number[],
  headers: Record<string, string> = {},
  on: GatewayHandle = gw,
): Promise<Response> {
  return fetch(`${on.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: row }] }),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-admin-'));
  models = path.join(dir, 'models');
  versions = [
    ['1', sampleModel('good', { seed: 1 })],
    ['2', sampleModel('good', { seed: 2 })],
    ['3', sampleModel('nan')],
    ['4', sampleModel('wrong-signature')],
    ['5', sampleModel('corrupt')],
    ['6', sampleModel('opset-too-new')],
  ];
  options = {
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    access: { allowForceVariant: true },
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
    const empty = await startGateway(ownGateway());
    try {
      await empty.whenReady();
      expect((await fetch(`${empty.url}/v2/health/ready`)).status).toBe(200);
    } finally {
      await empty.close();
    }
  });
});

describe('gateway admin – desired-state routing', () => {
  it('applies a first generation, then treats the same PUT as a no-op', async () => {
    const model = await freshModel();
    const body = { generation: 1, stable: { version: '1' }, retain: [] };
    const first = await put(model, body, gw, { 'x-prograde-actor': 'ci-bot' });
    expect(first.status).toBe(200);
    expect(await json(first)).toMatchObject({
      applied: true,
      generation: 1,
      spec: { stable: { version: '1' } },
      versions: { '1': { status: 'ready', role: 'stable' } },
    });
    const again = await put(model, body);
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ applied: false, generation: 1 });
    expect((await score(model, ROW)).headers.get('x-prograde-version')).toBe('1');
  });

  it('refuses the same generation with a different body, and an older generation, with 409 and the current state', async () => {
    const model = await freshModel();
    expect((await put(model, { generation: 1, stable: { version: '1' } })).status).toBe(200);
    const changed = await put(model, { generation: 1, stable: { version: '2' } });
    expect(changed.status).toBe(409);
    expect(await json(changed)).toMatchObject({
      code: 'SERVING_ROUTING_CONFLICT',
      current: { generation: 1, spec: { stable: { version: '1' } } },
    });
    expect(
      (await put(model, { generation: 3, stable: { version: '1' }, canary: { version: '2', weight: 10 } }))
        .status,
    ).toBe(200);
    const stale = await put(model, { generation: 2, stable: { version: '2' } });
    expect(stale.status).toBe(409);
    expect((await json<{ error: string }>(stale)).error).toBe(
      'generation 2 is older than the applied generation 3',
    );
  });

  it('rejects a malformed body with 400 naming the field', async () => {
    const res = await put(await freshModel(), {
      generation: 9,
      stable: { version: '1' },
      canary: { version: '2', weight: 140 },
    });
    expect(res.status).toBe(400);
    expect((await json<{ error: string }>(res)).error).toMatch(/^invalid routing at canary\.weight/);
  });

  it('loads, warms up and switches to a new version, unloading what is no longer referenced or retained', async () => {
    const model = await freshModel();
    expect(
      (await put(model, { generation: 3, stable: { version: '1' }, canary: { version: '3', weight: 10 } }))
        .status,
    ).toBe(200);
    const res = await put(model, { generation: 4, stable: { version: '2' }, retain: ['1'] });
    expect(res.status).toBe(200);
    const view = await json<{ versions: Record<string, { status: string; role: string; sha256?: string }> }>(
      res,
    );
    // Version 3, the canary of generation 3, is neither routed nor retained any more.
    expect(Object.keys(view.versions).sort()).toEqual(['1', '2']);
    expect(view.versions['1']).toMatchObject({ status: 'ready', role: 'retained' });
    expect(view.versions['2']?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await score(model, ROW)).headers.get('x-prograde-version')).toBe('2');
  });

  it('refuses a version that cannot load with 422 and keeps the current routing', async () => {
    const model = await freshModel();
    expect((await put(model, { generation: 4, stable: { version: '2' }, retain: ['1'] })).status).toBe(200);
    for (const [version, pattern] of [
      ['5', new RegExp(`onnxruntime could not load ${model}@5`)],
      ['6', new RegExp(`onnxruntime could not load ${model}@6`)],
      ['77', new RegExp(`no model file for ${model} version 77`)],
    ] as const) {
      const res = await put(model, {
        generation: 5,
        stable: { version: '2' },
        canary: { version, weight: 5 },
      });
      expect(res.status).toBe(422);
      expect((await json<{ error: string }>(res)).error).toMatch(pattern);
    }
    const current = await json<{ generation: number; versions: Record<string, unknown> }>(
      await admin('GET', `/admin/models/${model}/routing`),
    );
    expect(current.generation).toBe(4);
    expect(Object.keys(current.versions).sort()).toEqual(['1', '2']);
  });

  it('refuses a canary whose inputs differ from the stable version’s with 422', async () => {
    const model = await freshModel();
    expect((await put(model, { generation: 4, stable: { version: '2' } })).status).toBe(200);
    const res = await put(model, {
      generation: 5,
      stable: { version: '2' },
      canary: { version: '4', weight: 5 },
    });
    expect(res.status).toBe(422);
    expect(await json(res)).toMatchObject({ code: 'SERVING_SIGNATURE_MISMATCH' });
  });

  it('lists routed models with their state', async () => {
    const model = await freshModel();
    expect((await put(model, { generation: 4, stable: { version: '2' } })).status).toBe(200);
    const { models: listed } = await json<{ models: { model: string; generation: number }[] }>(
      await admin('GET', '/admin/models'),
    );
    expect(listed.filter((m) => m.model === model)).toEqual([
      expect.objectContaining({ model, generation: 4, ready: true }),
    ]);
  });

  it('writes one audit entry per applied change, with the actor', async () => {
    const own = ownGateway();
    const alone = await startGateway(own);
    try {
      await alone.whenReady();
      const model = await freshModel();
      const apply = (body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
        put(model, body, alone, headers);
      expect(
        (await apply({ generation: 1, stable: { version: '1' } }, { 'x-prograde-actor': 'ci-bot' })).status,
      ).toBe(200);
      // A no-op repeat and a refused change are not applied, so they are not audited.
      expect((await apply({ generation: 1, stable: { version: '1' } })).status).toBe(200);
      expect((await apply({ generation: 1, stable: { version: '2' } })).status).toBe(409);
      expect(
        (await apply({ generation: 3, stable: { version: '1' }, canary: { version: '2', weight: 10 } }))
          .status,
      ).toBe(200);
      expect((await apply({ generation: 4, stable: { version: '2' }, retain: ['1'] })).status).toBe(200);
      const res = await admin('GET', `/admin/audit?model=${model}`, undefined, {}, alone);
      const { entries } = await json<{ entries: { generation: number; actor?: string; state: unknown }[] }>(
        res,
      );
      expect(entries.map((e) => e.generation)).toEqual([1, 3, 4]);
      // The actor is the token's ("admin" for --token); the header is kept apart as a note.
      expect(entries[0]).toMatchObject({
        actor: 'admin',
        note: 'ci-bot',
        state: { stable: { version: '1' } },
      });
      expect(entries[1]).toMatchObject({ actor: 'admin' });
      const lines = readFileSync(path.join(own.stateDir, 'audit.jsonl'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(3);
    } finally {
      await alone.close();
    }
  });
});

describe('gateway admin – stats', () => {
  /** Routes stable 2 and canary 3 (NaN past a cutoff), then sends 4 canary requests (1 NaN) and 2 stable. */
  async function trafficOnGeneration6(model: string): Promise<void> {
    expect(
      (await put(model, { generation: 6, stable: { version: '2' }, canary: { version: '3', weight: 50 } }))
        .status,
    ).toBe(200);
    const poisoned = [NAN_CUTOFF + 1, ...ROW.slice(1)];
    const nan = await score(model, poisoned, forced('canary'));
    expect(nan.status).toBe(502);
    expect(nan.headers.get('x-prograde-variant')).toBe('canary');
    expect((await json<{ error: string }>(nan)).error).toBe('model returned non-finite output');
    for (let i = 0; i < 3; i++) expect((await score(model, ROW, forced('canary'))).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await score(model, ROW, forced('stable'))).status).toBe(200);
  }

  it('counts non-finite predictions as errors of their variant and answers them with 502', async () => {
    const model = await freshModel();
    await trafficOnGeneration6(model);
    const stats = await json<{
      generation: number;
      variants: Record<
        string,
        { version: string; requests: number; errors: number; latencyMs: number[]; scores: number[] }
      >;
    }>(await admin('GET', `/admin/models/${model}/stats?sinceMs=0`));
    expect(stats.generation).toBe(6);
    expect(stats.variants.canary).toMatchObject({ version: '3', requests: 4, errors: 1 });
    expect(stats.variants.canary?.latencyMs).toHaveLength(4);
    expect(stats.variants.stable).toMatchObject({ version: '2', requests: 2, errors: 0 });
    expect(stats.variants.stable?.scores).toHaveLength(2);
  });

  it('starts every generation with empty stats, keeping the previous one queryable', async () => {
    const model = await freshModel();
    await trafficOnGeneration6(model);
    expect((await put(model, { generation: 7, stable: { version: '2' } })).status).toBe(200);
    const fresh = await json<{ variants: Record<string, unknown> }>(
      await admin('GET', `/admin/models/${model}/stats`),
    );
    expect(fresh.variants).toEqual({});
    const previous = await json<{ variants: Record<string, { requests: number }> }>(
      await admin('GET', `/admin/models/${model}/stats?generation=6`),
    );
    expect(previous.variants.canary?.requests).toBe(4);
    expect((await admin('GET', `/admin/models/${model}/stats?generation=99`)).status).toBe(409);
  });
});

describe('gateway admin – restart', () => {
  it('restores routing from the state dir and serves it after a restart', async () => {
    const own = ownGateway();
    const model = await freshModel();
    let restarted: GatewayHandle | undefined;
    const first = await startGateway(own);
    try {
      await first.whenReady();
      const g8 = { generation: 8, stable: { version: '1' }, canary: { version: '2', weight: 20 } };
      expect((await put(model, g8, first)).status).toBe(200);
      await first.close();
      restarted = await startGateway(own);
      await restarted.whenReady();
      expect((await fetch(`${restarted.url}/v2/health/ready`)).status).toBe(200);
      const view = await json<{
        generation: number;
        spec: unknown;
        versions: Record<string, { status: string }>;
      }>(await admin('GET', `/admin/models/${model}/routing`, undefined, {}, restarted));
      expect(view).toMatchObject({
        generation: 8,
        spec: { stable: { version: '1' }, canary: { version: '2', weight: 20 } },
        versions: { '1': { status: 'ready' }, '2': { status: 'ready' } },
      });
      const res = await score(model, ROW, forced('canary'), restarted);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-prograde-version')).toBe('2');
      expect((await put(model, g8, restarted)).status).toBe(200);
      expect((await put(model, { generation: 7, stable: { version: '1' } }, restarted)).status).toBe(409);
    } finally {
      await first.close();
      await restarted?.close();
    }
  });

  it('answers 503, never "no routing", for routing and stats while it is still restoring', async () => {
    const own = ownGateway();
    const model = await freshModel();
    const first = await startGateway(own);
    let restarted: GatewayHandle | undefined;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    try {
      await first.whenReady();
      expect((await put(model, { generation: 3, stable: { version: '1' } }, first)).status).toBe(200);
      await first.close();
      // The restart's model loads wait until the test lets them go, so the restore is still running.
      const source = own.source;
      restarted = await startGateway({
        ...own,
        source: {
          description: source.description,
          hasModel: (m) => source.hasModel(m),
          load: async (m, v) => {
            await held;
            return source.load(m, v);
          },
        },
      });
      for (const p of [`/admin/models/${model}/routing`, `/admin/models/${model}/stats`]) {
        const res = await admin('GET', p, undefined, {}, restarted);
        expect(res.status, p).toBe(503);
        expect(await json(res), p).toMatchObject({ code: 'SERVING_NOT_READY' });
      }
      release();
      await restarted.whenReady();
      expect((await admin('GET', `/admin/models/${model}/routing`, undefined, {}, restarted)).status).toBe(
        200,
      );
      expect((await admin('GET', `/admin/models/${model}/stats`, undefined, {}, restarted)).status).toBe(200);
    } finally {
      release();
      await first.close();
      await restarted?.close();
    }
  });

  it('stays unready while a restored version cannot load, and retries until it can', async () => {
    const retrying = ownGateway({ restoreRetryMs: 50 });
    const model = await freshModel();
    let restarted: GatewayHandle | undefined;
    const first = await startGateway(retrying);
    try {
      await first.whenReady();
      expect((await put(model, { generation: 1, stable: { version: '2' } }, first)).status).toBe(200);
      await first.close();
      const file = path.join(models, model, '2', 'model.onnx');
      renameSync(file, `${file}.away`);
      restarted = await startGateway(retrying);
      await restarted.whenReady();
      expect((await fetch(`${restarted.url}/v2/health/ready`)).status).toBe(503);
      // Between two retries the version reads "failed to load"; during one, "still loading".
      let error = '';
      for (let i = 0; i < 200 && !error.includes('failed to load'); i++) {
        const unready = await score(model, ROW, {}, restarted);
        expect(unready.status).toBe(503);
        error = (await json<{ error: string }>(unready)).error;
      }
      expect(error).toMatch(new RegExp(`^model '${model}' version 2 failed to load: no model file`));
      renameSync(`${file}.away`, file);
      while ((await fetch(`${restarted.url}/v2/health/ready`)).status !== 200)
        await new Promise((r) => setTimeout(r, 25));
      expect((await score(model, ROW, {}, restarted)).status).toBe(200);
    } finally {
      await first.close();
      await restarted?.close();
    }
  });
});
