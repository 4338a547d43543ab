import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleModel } from '../../src/samples/models';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { writeModelVersion } from '../../src/serving/model-directory';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

let dir: string;
let gw: GatewayHandle;
let client: GatewayAdminClient;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-client-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good'));
  await writeModelVersion(models, 'credit', '2', sampleModel('nan'));
  await writeModelVersion(models, 'credit', '3', sampleModel('corrupt'));
  gw = await startGateway({
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token: 'client-token',
    access: { allowForceVariant: true },
    logger: pino({ level: 'silent' }),
  });
  await gw.whenReady();
  client = new GatewayAdminClient({ baseUrl: gw.url, token: 'client-token' });
});

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway admin client', () => {
  it('applies routing idempotently and reads it back', async () => {
    expect(await client.getRouting('credit')).toBeUndefined();
    const desired = { generation: 1, stable: { version: '1' }, canary: { version: '2', weight: 50 } };
    expect(await client.putRouting('credit', desired, 'workflow:credit@2')).toMatchObject({
      applied: true,
      generation: 1,
    });
    expect(await client.putRouting('credit', desired)).toMatchObject({ applied: false });
    expect(await client.getRouting('credit')).toMatchObject({
      generation: 1,
      ready: true,
      versions: { '1': { status: 'ready' }, '2': { status: 'ready' } },
    });
    expect(await client.audit('credit')).toEqual([
      // The token's actor ("admin" for the single token), with the client's label as a note.
      expect.objectContaining({ generation: 1, actor: 'admin', note: 'workflow:credit@2' }),
    ]);
  });

  it('turns a stale generation into a terminal conflict and a broken version into a terminal rejection', async () => {
    await expect(
      client.putRouting('credit', { generation: 1, stable: { version: '2' } }),
    ).rejects.toMatchObject({ code: 'GATEWAY_ROUTING_CONFLICT', retry: 'terminal' });
    await expect(
      client.putRouting('credit', { generation: 2, stable: { version: '3' } }),
    ).rejects.toMatchObject({ code: 'GATEWAY_VERSION_REJECTED', retry: 'terminal' });
  });

  it('reads window stats with only finite scores', async () => {
    const poisoned = [5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const res = await fetch(`${gw.url}/invocations`, {
      method: 'POST',
      headers: { 'x-prograde-force-variant': 'canary', authorization: 'Bearer client-token' },
      body: JSON.stringify({ inputs: [poisoned, new Array<number>(12).fill(0)] }),
    });
    expect(res.status).toBe(502);
    const stats = await client.stats('credit', { sinceMs: 0 });
    expect(stats.variants.canary).toMatchObject({ version: '2', requests: 1, errors: 1 });
    expect(stats.variants.canary?.scores).toHaveLength(1);
  });

  it('reports a wrong token and an unreachable gateway with their retry class', async () => {
    await expect(new GatewayAdminClient({ baseUrl: gw.url, token: 'wrong' }).audit()).rejects.toMatchObject({
      code: 'GATEWAY_UNAUTHORIZED',
      retry: 'terminal',
    });
    await expect(
      new GatewayAdminClient({ baseUrl: 'http://127.0.0.1:9', token: 'x', timeoutMs: 2000 }).audit(),
    ).rejects.toMatchObject({ code: 'GATEWAY_UNREACHABLE', retry: 'retryable' });
  });
});
