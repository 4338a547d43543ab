import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDataset } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { writeModelVersion } from '../../src/serving/model-directory';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

const TOKEN = 'routing-test-token';
const ds = sampleDataset({ rows: 1, seed: 3 });
const ROW = Array.from(ds.features.subarray(0, 12));

let dir: string;
let gw: GatewayHandle;
let generation = 0;

async function route(body: Record<string, unknown>): Promise<void> {
  generation += 1;
  const res = await fetch(`${gw.url}/admin/models/credit/routing`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ generation, ...body }),
  });
  expect(res.status).toBe(200);
}

/** Sends `n` requests, `concurrency` at a time, and returns the variant header of each. */
async function variants(
  n: number,
  headersFor: (i: number) => Record<string, string> = () => ({}),
  concurrency = 8,
): Promise<string[]> {
  const out: string[] = new Array<string>(n);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${gw.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headersFor(i) },
        body: JSON.stringify({ inputs: [ROW] }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      out[i] = `${res.headers.get('x-prograde-variant')}@${res.headers.get('x-prograde-version')}`;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-routing-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'credit', '2', sampleModel('good', { seed: 2 }));
  gw = await startGateway({
    source: new DirectoryModelSource(models),
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

describe('gateway – weighted canary', () => {
  it('sends about `weight` percent of 2000 unkeyed requests to the canary', async () => {
    await route({ stable: { version: '1' }, canary: { version: '2', weight: 25 } });
    const seen = await variants(2000);
    const canary = seen.filter((v) => v === 'canary@2').length;
    expect(seen.filter((v) => v === 'stable@1').length + canary).toBe(2000);
    // Binomial(2000, 0.25): sd ≈ 19.4; ±5 sd keeps false failures below one in a million.
    expect(Math.abs(canary - 500)).toBeLessThan(97);
  });

  it('keeps a routing key on one variant, and spreads keys by weight', async () => {
    await route({ stable: { version: '1' }, canary: { version: '2', weight: 30 } });
    const keys = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const first = await variants(keys.length, (i) => ({ 'x-routing-key': keys[i] as string }));
    const again = await variants(keys.length, (i) => ({ 'x-routing-key': keys[i] as string }));
    expect(again).toEqual(first);
    const canary = first.filter((v) => v.startsWith('canary')).length;
    // Binomial(400, 0.3): sd ≈ 9.2.
    expect(Math.abs(canary - 120)).toBeLessThan(46);
  });

  it('moves keys only from stable to canary when the weight grows', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `account-${i}`);
    await route({ stable: { version: '1' }, canary: { version: '2', weight: 10 } });
    const before = await variants(keys.length, (i) => ({ 'x-routing-key': keys[i] as string }));
    await route({ stable: { version: '1' }, canary: { version: '2', weight: 50 } });
    const after = await variants(keys.length, (i) => ({ 'x-routing-key': keys[i] as string }));
    before.forEach((v, i) => {
      if (v.startsWith('canary')) expect(after[i]).toBe(v);
    });
    expect(after.filter((v) => v.startsWith('canary')).length).toBeGreaterThan(
      before.filter((v) => v.startsWith('canary')).length,
    );
  });

  it('obeys x-prograde-force-variant', async () => {
    await route({ stable: { version: '1' }, canary: { version: '2', weight: 1 } });
    expect(
      new Set(
        await variants(20, () => ({
          'x-prograde-force-variant': 'canary',
          authorization: `Bearer ${TOKEN}`,
        })),
      ),
    ).toEqual(new Set(['canary@2']));
    await route({ stable: { version: '1' }, canary: { version: '2', weight: 99 } });
    expect(
      new Set(
        await variants(20, () => ({
          'x-prograde-force-variant': 'stable',
          authorization: `Bearer ${TOKEN}`,
        })),
      ),
    ).toEqual(new Set(['stable@1']));
  });

  it('refuses to force a canary that is not configured', async () => {
    await route({ stable: { version: '1' } });
    const res = await fetch(`${gw.url}/invocations`, {
      method: 'POST',
      headers: { 'x-prograde-force-variant': 'canary', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ inputs: [ROW] }),
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toBe(
      "canary forced by header but model 'credit' has no canary",
    );
  });
});
