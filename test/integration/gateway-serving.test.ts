import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../../src/onnx/session';
import { sampleDataset } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { writeModelVersion } from '../../src/serving/model-directory';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

const TOKEN = 'serving-test-token';
const ds = sampleDataset({ rows: 40, seed: 7 });
const rows = (from: number, n: number): number[][] =>
  Array.from({ length: n }, (_, r) => Array.from(ds.features.subarray((from + r) * 12, (from + r + 1) * 12)));

let dir: string;
let gw: GatewayHandle;
let expected: Float32Array;

async function admin(method: string, p: string, body?: unknown): Promise<Response> {
  return fetch(`${gw.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function post(p: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-serving-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'limited', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'unrouted', '1', sampleModel('good', { seed: 1 }));
  const oracle = await openSession(sampleModel('good', { seed: 1 }));
  expected = await oracle.score(ds.features.slice(0, 40 * 12), 40, 12);
  await oracle.release();
  gw = await startGateway({
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    logger: pino({ level: 'silent' }),
    maxBodyBytes: 64 * 1024,
    rateLimit: { perModel: { limited: { requestsPerSecond: 0.001, burst: 3 } } },
  });
  await gw.whenReady();
  for (const model of ['credit', 'limited']) {
    const res = await admin('PUT', `/admin/models/${model}/routing`, {
      generation: 1,
      stable: { version: '1' },
    });
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway – Open Inference Protocol v2', () => {
  it('reports live and ready once routed models are loaded', async () => {
    expect((await fetch(`${gw.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${gw.url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${gw.url}/v2/models/credit/ready`)).status).toBe(200);
  });

  it('describes a model: versions, inputs and outputs', async () => {
    const res = await fetch(`${gw.url}/v2/models/credit`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name: 'credit',
      versions: ['1'],
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 12] }],
      outputs: [{ name: 'probability', datatype: 'FP32', shape: [-1, 1] }],
    });
  });

  it('scores rows like a direct onnxruntime session and labels the variant', async () => {
    const res = await post('/v2/models/credit/infer', {
      id: 'r1',
      inputs: [{ name: 'features', shape: [5, 12], datatype: 'FP32', data: rows(0, 5).flat() }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-prograde-variant')).toBe('stable');
    expect(res.headers.get('x-prograde-version')).toBe('1');
    const body = (await res.json()) as {
      model_name: string;
      model_version: string;
      id: string;
      outputs: { name: string; shape: number[]; data: number[] }[];
    };
    expect(body).toMatchObject({ model_name: 'credit', model_version: '1', id: 'r1' });
    expect(body.outputs[0]?.name).toBe('probability');
    expect(body.outputs[0]?.shape).toEqual([5, 1]);
    body.outputs[0]?.data.forEach((p, i) => expect(p).toBeCloseTo(expected[i] as number, 6));
  });

  it('accepts nested data and an explicit version in the path', async () => {
    const res = await post('/v2/models/credit/versions/1/infer', {
      inputs: [{ name: 'features', shape: [2, 12], datatype: 'FP32', data: rows(3, 2) }],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: { data: number[] }[] };
    expect(body.outputs[0]?.data[1]).toBeCloseTo(expected[4] as number, 6);
  });

  it('splits concurrent requests back correctly after micro-batching them', async () => {
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        post('/v2/models/credit/infer', {
          inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: rows(i, 1).flat() }],
        }),
      ),
    );
    const scores = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { outputs: { data: number[] }[] }).outputs[0]?.data[0]),
    );
    scores.forEach((s, i) => expect(s).toBeCloseTo(expected[i] as number, 6));
  });
});

describe('gateway – MLflow scoring /invocations', () => {
  const cases: [string, unknown][] = [
    ['inputs', { inputs: rows(0, 3) }],
    ['named inputs', { inputs: { features: rows(0, 3) } }],
    ['instances', { instances: rows(0, 3) }],
    ['dataframe_split', { dataframe_split: { columns: ds.featureNames, data: rows(0, 3) } }],
    [
      'dataframe_records',
      { dataframe_records: rows(0, 3).map((r) => Object.fromEntries(r.map((v, i) => [`f${i}`, v]))) },
    ],
  ];
  it.each(cases)('answers %s with one prediction per row', async (_format, body) => {
    const res = await post('/invocations?model=credit', body);
    expect(res.status).toBe(200);
    const { predictions } = (await res.json()) as { predictions: number[][] };
    expect(predictions).toHaveLength(3);
    predictions.forEach((p, i) => expect(p[0]).toBeCloseTo(expected[i] as number, 6));
  });

  it('needs a model choice when several models are served', async () => {
    const res = await post('/invocations', { inputs: rows(0, 1) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/several models/);
  });

  it('selects the model by header', async () => {
    const res = await post('/invocations', { inputs: rows(0, 1) }, { 'x-prograde-model': 'credit' });
    expect(res.status).toBe(200);
  });

  it('refuses a body with two formats', async () => {
    const res = await post('/invocations?model=credit', { inputs: rows(0, 1), instances: rows(0, 1) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/exactly one of/);
  });
});

describe('gateway – refusals', () => {
  it('400 names the tensor and the expected vs given datatype', async () => {
    const res = await post('/v2/models/credit/infer', {
      inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP64', data: rows(0, 1).flat() }],
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe(
      "input 'features': expected datatype FP32, got FP64",
    );
  });

  it('400 names the tensor and the expected vs given shape', async () => {
    const res = await post('/v2/models/credit/infer', {
      inputs: [{ name: 'features', shape: [1, 11], datatype: 'FP32', data: rows(0, 1)[0]?.slice(0, 11) }],
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe(
      "input 'features': expected shape [-1,12], got [1,11]",
    );
  });

  it('400 for an input the model does not take', async () => {
    const res = await post('/v2/models/credit/infer', {
      inputs: [{ name: 'x', shape: [1, 12], datatype: 'FP32', data: rows(0, 1).flat() }],
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /unknown input 'x'; the model takes 'features'/,
    );
  });

  it('400 for a request that is not JSON', async () => {
    const res = await fetch(`${gw.url}/v2/models/credit/infer`, { method: 'POST', body: '{nope' });
    expect(res.status).toBe(400);
  });

  it('404 for an unknown model', async () => {
    const res = await post('/v2/models/nosuch/infer', {
      inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: rows(0, 1).flat() }],
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe("unknown model 'nosuch'");
  });

  it('503 for a known model without routing', async () => {
    const res = await post('/v2/models/unrouted/infer', {
      inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: rows(0, 1).flat() }],
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toBe("model 'unrouted' has no routing yet");
  });

  it('413 for a body over the configured limit', async () => {
    const big = Array.from({ length: 800 }, () => rows(0, 1)[0] as number[]);
    const res = await post('/v2/models/credit/infer', {
      inputs: [{ name: 'features', shape: [800, 12], datatype: 'FP32', data: big }],
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe(
      'request body exceeds the limit of 65536 bytes',
    );
  });

  it('429 once the model’s token bucket is empty', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post('/invocations?model=limited', { inputs: rows(0, 1) });
      statuses.push(res.status);
      if (res.status === 429)
        expect(((await res.json()) as { error: string }).error).toMatch(/rate limit of model 'limited'/);
      else await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('exposes Prometheus counters per model, variant and version', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(
      /prograde_gateway_requests_total\{model="credit",variant="stable",version="1",generation="\d+"\} \d+/,
    );
    expect(text).toMatch(
      /prograde_gateway_request_duration_ms_bucket\{model="credit",variant="stable",version="1",generation="\d+",le="\+Inf"\} \d+/,
    );
    expect(text).toMatch(/prograde_gateway_rejected_total\{model="limited",status="429"\} 2/);
  });
});
