import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDataset } from '../../src/samples/datasets';
import { NAN_CUTOFF, sampleModel } from '../../src/samples/models';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { writeModelVersion } from '../../src/serving/model-directory';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

const TOKEN = 'shadow-test-token';
const BIG = 400;
const ds = sampleDataset({ rows: BIG, seed: 11 });

let dir: string;
let gw: GatewayHandle;
let generation = 0;

interface VariantStats {
  version: string;
  requests: number;
  errors: number;
  scores: number[];
}
interface Stats {
  variants: Partial<Record<'stable' | 'canary' | 'shadow', VariantStats>>;
  shadowComparison: {
    pairs: number;
    observedPairs: number;
    agreements: number;
    meanAbsDiff: number | null;
    maxAbsDiff: number | null;
    nanCount: number;
  };
}

async function route(body: Record<string, unknown>): Promise<void> {
  generation += 1;
  const res = await fetch(`${gw.url}/admin/models/credit/routing`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ generation, ...body }),
  });
  expect(res.status).toBe(200);
}

async function stats(query = ''): Promise<Stats> {
  const res = await fetch(`${gw.url}/admin/models/credit/stats?sinceMs=0${query}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return (await res.json()) as Stats;
}

/** Polls until `done(stats)`; bounded by the test timeout, not by a wall-clock expectation. */
async function eventually(done: (s: Stats) => boolean): Promise<Stats> {
  for (;;) {
    const s = await stats();
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function score(data: number[][]): Promise<Response> {
  return fetch(`${gw.url}/v2/models/credit/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [{ name: 'features', shape: [data.length, 12], datatype: 'FP32', data }],
    }),
  });
}

const rows = (n: number): number[][] =>
  Array.from({ length: n }, (_, r) => Array.from(ds.features.subarray(r * 12, (r + 1) * 12)));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-shadow-'));
  const models = path.join(dir, 'models');
  // Unjittered `good`: the same weights as `slow`, so the two agree on every row.
  await writeModelVersion(models, 'credit', '1', sampleModel('good'));
  await writeModelVersion(models, 'credit', '2', sampleModel('slow'));
  await writeModelVersion(models, 'credit', '3', sampleModel('good', { seed: 2 }));
  await writeModelVersion(models, 'credit', '4', sampleModel('nan'));
  gw = await startGateway({
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    logger: pino({ level: 'silent' }),
    // Big requests run alone, so the slow shadow has one long run per request.
    batching: { maxBatchSize: 64, maxWaitMs: 1 },
    stats: { samplesPerBucket: 10_000 },
  });
  await gw.whenReady();
});

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway – shadow mirroring', () => {
  it('answers callers from stable without waiting for a slow shadow', async () => {
    await route({ stable: { version: '1' }, shadow: { version: '2', sampleRate: 100 } });
    const n = 12;
    const responses = await Promise.all(Array.from({ length: n }, () => score(rows(BIG))));
    // Read the shadow's progress the moment the last caller has its answer.
    const atLastResponse = await stats();
    expect(responses.map((r) => r.status)).toEqual(new Array<number>(n).fill(200));
    expect(new Set(responses.map((r) => r.headers.get('x-prograde-variant')))).toEqual(new Set(['stable']));
    expect(atLastResponse.variants.stable?.requests).toBe(n);
    // That callers never wait for the shadow is proven with a shadow that never answers in
    // test/unit/serving-data-plane.test.ts; here, how far a slow shadow got by now depends on the
    // machine's load, so only its eventual completion is asserted.
    // …and the shadow does finish all of them afterwards.
    const finished = await eventually((s) => s.variants.shadow?.requests === n);
    expect(finished.variants.shadow).toMatchObject({ version: '2', errors: 0 });
    // `slow` computes the same scores as `good`, so every row agrees.
    expect(finished.shadowComparison).toMatchObject({
      pairs: n * BIG,
      observedPairs: n * BIG,
      agreements: n * BIG,
      nanCount: 0,
    });
  });

  it('compares shadow and caller scores row by row', async () => {
    await route({ stable: { version: '1' }, shadow: { version: '3', sampleRate: 100 } });
    for (let i = 0; i < 5; i++) expect((await score(rows(20))).status).toBe(200);
    const s = await eventually((x) => x.variants.shadow?.requests === 5);
    expect(s.shadowComparison.pairs).toBe(100);
    // Two jitters of the same weights: nearly all rows land on the same side of 0.5, but not identically.
    expect(s.shadowComparison.agreements).toBeGreaterThan(90);
    expect(s.shadowComparison.meanAbsDiff).toBeGreaterThan(0);
    expect(s.shadowComparison.maxAbsDiff).toBeLessThan(0.2);
  });

  it('never lets shadow errors reach the caller, but counts them', async () => {
    await route({ stable: { version: '1' }, shadow: { version: '4', sampleRate: 100 } });
    const poisoned = rows(4).map((r, i) => (i === 0 ? [NAN_CUTOFF + 1, ...r.slice(1)] : r));
    for (let i = 0; i < 3; i++) expect((await score(poisoned)).status).toBe(200);
    const s = await eventually((x) => x.variants.shadow?.requests === 3);
    expect(s.variants.shadow?.errors).toBe(3);
    expect(s.variants.stable?.errors).toBe(0);
    expect(s.shadowComparison).toMatchObject({ pairs: 12, nanCount: 3, agreements: 9 });
  });

  it('mirrors about sampleRate percent of requests', async () => {
    await route({ stable: { version: '1' }, shadow: { version: '3', sampleRate: 0 } });
    for (let i = 0; i < 20; i++) expect((await score(rows(1))).status).toBe(200);
    const s = await stats();
    expect(s.variants.stable?.requests).toBe(20);
    expect(s.variants.shadow).toBeUndefined();
  });
});
