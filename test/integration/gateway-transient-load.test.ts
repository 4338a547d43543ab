import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import { sampleModel } from '../../src/samples/models';
import { writeModelVersion } from '../../src/serving/model-directory';
import { DirectoryModelSource, type ModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

/**
 * Found by the chaos suite (F3/F4): a version that cannot be loaded because the registry is down or
 * the disk is full was answered 422, which the worker takes as a verdict and never retries, so a
 * promotion (or its rollback) ended for good on a passing outage. Such a failure is a 503 now.
 */
const TOKEN = 'transient-load-token';

/** The directory source, except that versions 2 and 3 fail the way `failure` says. */
class FlakySource implements ModelSource {
  failure: Error | undefined;
  readonly description = 'flaky test source';
  constructor(private readonly inner: DirectoryModelSource) {}
  load(model: string, version: string) {
    if (version !== '1' && this.failure) return Promise.reject(this.failure);
    return this.inner.load(model, version);
  }
  hasModel(model: string) {
    return this.inner.hasModel(model);
  }
}

describe('gateway: a version load that fails because of the environment', () => {
  let dir: string;
  let source: FlakySource;
  let gw: GatewayHandle;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'prograde-transient-'));
    const models = path.join(dir, 'models');
    await writeModelVersion(models, 'm', '1', sampleModel('good', { seed: 1 }));
    await writeModelVersion(models, 'm', '2', sampleModel('good', { seed: 2 }));
    await writeModelVersion(models, 'm', '3', sampleModel('good', { seed: 3 }));
    source = new FlakySource(new DirectoryModelSource(models));
    gw = await startGateway({
      source,
      stateDir: path.join(dir, 'state'),
      token: TOKEN,
      logger: pino({ level: 'silent' }),
    });
    await gw.whenReady();
  });
  afterAll(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (body: unknown): Promise<Response> =>
    fetch(`${gw.url}/admin/models/m/routing`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers 503 with Retry-After for a full disk or an unreachable registry, and applies the same PUT once it is back', async () => {
    expect((await put({ generation: 1, stable: { version: '1' } })).status).toBe(200);
    const canary = { generation: 2, stable: { version: '1' }, canary: { version: '2', weight: 10 } };
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    for (const failure of [
      enospc,
      new ProgradeError(
        'SERVING_MODEL_LOAD_FAILED',
        'fetching m version 2 from MLflow failed',
        'terminal',
        {},
        { cause: enospc },
      ),
      new ProgradeError('MLFLOW_UNREACHABLE', 'Cannot reach MLflow', 'retryable'),
    ]) {
      source.failure = failure;
      const res = await put(canary);
      expect(res.status, failure.message).toBe(503);
      expect(res.headers.get('retry-after')).not.toBeNull();
    }
    source.failure = undefined;
    const res = await put(canary);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 2 });
  });

  it('still answers 422 for a version that is itself bad', async () => {
    source.failure = new ProgradeError(
      'SERVING_MODEL_LOAD_FAILED',
      'onnxruntime could not load m@3',
      'terminal',
    );
    const res = await put({ generation: 3, stable: { version: '1' }, canary: { version: '3', weight: 20 } });
    expect(res.status).toBe(422);
    source.failure = undefined;
  });
});
