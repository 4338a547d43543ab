import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { MlflowClient } from '../../src/mlflow/client';
import { MlflowError } from '../../src/mlflow/errors';
import { stack } from '../support/stack';
import { freePort, sendJson, startLocalServer, uniqueName, type LocalServer } from './mlflow-fixtures';

let client: MlflowClient;
beforeAll(() => {
  client = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
});

async function caught(p: Promise<unknown>): Promise<MlflowError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MlflowError);
    return e as MlflowError;
  }
  throw new Error('expected the call to fail');
}

/** A finalized logged model with one file, registered as a new version of `name`. */
async function newVersion(name: string): Promise<{ version: string; modelId: string; artifactUri: string }> {
  const experimentId = await experimentIdFor(uniqueName('exp'));
  const logged = await client.createLoggedModel(experimentId, { name: 'model' });
  await client.uploadArtifact(
    `${proxiedArtifactPath(logged.artifactUri)}/MLmodel`,
    Buffer.from('flavors: {}\n'),
  );
  await client.finalizeLoggedModel(logged.modelId);
  const mv = await client.createModelVersion(name, `models:/${logged.modelId}`, { modelId: logged.modelId });
  return { version: mv.version, modelId: logged.modelId, artifactUri: logged.artifactUri };
}

async function experimentIdFor(name: string): Promise<string> {
  return client.createExperiment(name);
}

describe('MlflowClient – registered models', () => {
  it('creates a model and reads it back with tags and description', async () => {
    const name = uniqueName('rm');
    const created = await client.createRegisteredModel(name, {
      tags: { team: 'risk' },
      description: 'churn',
    });
    expect(created.name).toBe(name);
    const got = await client.getRegisteredModel(name);
    expect(got).toMatchObject({
      name,
      description: 'churn',
      tags: { team: 'risk' },
      aliases: {},
      latestVersions: [],
    });
  });

  it('reports a duplicate name as RESOURCE_ALREADY_EXISTS, terminal', async () => {
    const name = uniqueName('rm');
    await client.createRegisteredModel(name);
    const e = await caught(client.createRegisteredModel(name));
    expect(e.code).toBe('MLFLOW_RESOURCE_ALREADY_EXISTS');
    expect(e.retry).toBe('terminal');
  });

  it('reports a missing model as RESOURCE_DOES_NOT_EXIST with status, endpoint and terminal retry class', async () => {
    const e = await caught(client.getRegisteredModel(uniqueName('missing')));
    expect(e.code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    expect(e.serverErrorCode).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(e.status).toBe(404);
    expect(e.endpoint).toBe('/api/2.0/mlflow/registered-models/get');
    expect(e.retry).toBe('terminal');
    expect(e).toBeInstanceOf(ProgradeError);
  });

  it('searches page by page with page tokens', async () => {
    const prefix = uniqueName('page');
    for (const i of [1, 2, 3]) await client.createRegisteredModel(`${prefix}-${i}`);
    const filter = `name LIKE '${prefix}-%'`;
    const first = await client.searchRegisteredModels({ filter, maxResults: 2, orderBy: ['name ASC'] });
    expect(first.items.map((m) => m.name)).toEqual([`${prefix}-1`, `${prefix}-2`]);
    expect(first.nextPageToken).toBeTruthy();
    const second = await client.searchRegisteredModels({
      filter,
      maxResults: 2,
      orderBy: ['name ASC'],
      pageToken: first.nextPageToken ?? '',
    });
    expect(second.items.map((m) => m.name)).toEqual([`${prefix}-3`]);
    expect(second.nextPageToken).toBeUndefined();
    const all: string[] = [];
    for await (const m of client.iterateRegisteredModels(filter, 1)) all.push(m.name);
    expect(all.sort()).toEqual([`${prefix}-1`, `${prefix}-2`, `${prefix}-3`]);
  });
});

describe('MlflowClient – model versions', () => {
  it('creates versions from logged models, waits until READY, gets and searches them', async () => {
    const name = uniqueName('mv');
    await client.createRegisteredModel(name);
    const v1 = await newVersion(name);
    const v2 = await newVersion(name);
    expect([v1.version, v2.version]).toEqual(['1', '2']);
    const ready = await client.waitUntilReady(name, '2');
    expect(ready.status).toBe('READY');
    const got = await client.getModelVersion(name, '1');
    expect(got).toMatchObject({ name, version: '1', source: `models:/${v1.modelId}`, tags: {}, aliases: [] });
    const found = await client.searchModelVersions({ filter: `name='${name}'` });
    expect(found.items.map((v) => v.version).sort()).toEqual(['1', '2']);
    const iterated: string[] = [];
    for await (const v of client.iterateModelVersions(`name='${name}'`, 1)) iterated.push(v.version);
    expect(iterated.sort()).toEqual(['1', '2']);
  });

  it('resolves the download URI to the logged model artifacts even when source is models:/m-<id>', async () => {
    const name = uniqueName('mv');
    await client.createRegisteredModel(name);
    const v = await newVersion(name);
    expect(await client.getModelVersionDownloadUri(name, v.version)).toBe(v.artifactUri);
  });

  it('deletes a version, then the whole model; a model created again under the name starts over at version 1', async () => {
    const name = uniqueName('mv');
    await client.createRegisteredModel(name);
    const first = await newVersion(name);
    await newVersion(name);
    await client.deleteModelVersion(name, '2');
    expect((await caught(client.getModelVersion(name, '2'))).code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    const before = await client.getModelVersion(name, '1');

    await client.deleteRegisteredModel(name);
    expect((await caught(client.getRegisteredModel(name))).code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    expect((await caught(client.getModelVersion(name, '1'))).code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    await client.createRegisteredModel(name);
    const again = await newVersion(name);
    expect(again.version).toBe('1');
    // What tells the two apart: another logged model, source and registration time.
    const after = await client.getModelVersion(name, '1');
    expect(again.modelId).not.toBe(first.modelId);
    expect(after.source).not.toBe(before.source);
    expect(after.createdAt).toBeGreaterThanOrEqual(before.createdAt ?? 0);
  });

  it('reports a missing version as RESOURCE_DOES_NOT_EXIST', async () => {
    const name = uniqueName('mv');
    await client.createRegisteredModel(name);
    const e = await caught(client.getModelVersion(name, '7'));
    expect(e.code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    expect(e.retry).toBe('terminal');
  });
});

describe('MlflowClient – aliases', () => {
  it('sets an alias, moves it to another version and deletes it', async () => {
    const name = uniqueName('alias');
    await client.createRegisteredModel(name);
    await newVersion(name);
    await newVersion(name);
    await client.setAlias(name, 'champion', '1');
    expect((await client.getModelVersionByAlias(name, 'champion')).version).toBe('1');
    await client.setAlias(name, 'champion', '2');
    const moved = await client.getModelVersionByAlias(name, 'champion');
    expect(moved.version).toBe('2');
    expect(moved.aliases).toEqual(['champion']);
    expect((await client.getModelVersion(name, '1')).aliases).toEqual([]);
    expect((await client.getRegisteredModel(name)).aliases).toEqual({ champion: '2' });
    await client.deleteAlias(name, 'champion');
    const e = await caught(client.getModelVersionByAlias(name, 'champion'));
    expect(e.retry).toBe('terminal');
    // MLflow answers 400 INVALID_PARAMETER_VALUE for a missing alias; the client calls it what it is.
    expect(e.code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    expect(e.message).toBe(`${name} has no alias @champion`);
    expect((await client.getRegisteredModel(name)).aliases).toEqual({});
  });
});

describe('MlflowClient – tags', () => {
  it('sets and deletes tags on models and versions', async () => {
    const name = uniqueName('tags');
    await client.createRegisteredModel(name);
    await newVersion(name);
    await client.setRegisteredModelTag(name, 'owner', 'ana');
    await client.setModelVersionTag(name, '1', 'gate.format', 'pass');
    expect((await client.getRegisteredModel(name)).tags).toEqual({ owner: 'ana' });
    expect((await client.getModelVersion(name, '1')).tags).toEqual({ 'gate.format': 'pass' });
    await client.deleteRegisteredModelTag(name, 'owner');
    await client.deleteModelVersionTag(name, '1', 'gate.format');
    expect((await client.getRegisteredModel(name)).tags).toEqual({});
    expect((await client.getModelVersion(name, '1')).tags).toEqual({});
  });
});

describe('MlflowClient – experiments and logged models', () => {
  it('creates an experiment and finds it by name; a missing name is RESOURCE_DOES_NOT_EXIST', async () => {
    const name = uniqueName('exp');
    const id = await client.createExperiment(name);
    const got = await client.getExperimentByName(name);
    expect(got).toMatchObject({ experimentId: id, name, lifecycleStage: 'active' });
    expect(got.artifactLocation).toMatch(/^mlflow-artifacts:\//);
    expect((await caught(client.getExperimentByName(uniqueName('noexp')))).code).toBe(
      'MLFLOW_RESOURCE_DOES_NOT_EXIST',
    );
  });

  it('creates a logged model PENDING, finalizes it READY and reads it back', async () => {
    const experimentId = await client.createExperiment(uniqueName('exp'));
    const logged = await client.createLoggedModel(experimentId, { name: 'model', tags: { k: 'v' } });
    expect(logged.status).toBe('LOGGED_MODEL_PENDING');
    expect(logged.modelId).toMatch(/^m-[0-9a-f]+$/);
    expect(logged.artifactUri).toBe(`mlflow-artifacts:/${experimentId}/models/${logged.modelId}/artifacts`);
    const finalized = await client.finalizeLoggedModel(logged.modelId);
    expect(finalized.status).toBe('LOGGED_MODEL_READY');
    const got = await client.getLoggedModel(logged.modelId);
    expect(got).toMatchObject({ modelId: logged.modelId, experimentId, status: 'LOGGED_MODEL_READY' });
    expect(got.tags['k']).toBe('v');
  });
});

describe('MlflowClient – proxied artifacts', () => {
  it('uploads, lists (one level, paths relative to the folder) and downloads bytes and files', async () => {
    const root = `tests/${uniqueName('art')}`;
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
    await client.uploadArtifact(`${root}/a.txt`, Buffer.from('hello'));
    await client.uploadArtifact(`${root}/sub dir/big.bin`, big);

    const top = await client.listArtifacts(root);
    expect(top.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'a.txt', isDir: false, size: 5 },
      { path: 'sub dir', isDir: true, size: undefined },
    ]);
    expect(await client.listArtifacts(`${root}/sub dir`)).toEqual([
      { path: 'big.bin', isDir: false, size: big.length },
    ]);
    expect(await client.listArtifacts(`${root}/nothing-here`)).toEqual([]);

    expect((await client.downloadArtifact(`${root}/a.txt`)).toString()).toBe('hello');
    const file = join(mkdtempSync(join(tmpdir(), 'mlflow-art-')), 'big.bin');
    const got = await client.downloadArtifactToFile(`${root}/sub dir/big.bin`, file);
    expect(got).toEqual({ size: big.length, sha256: createHash('sha256').update(big).digest('hex') });
    expect(readFileSync(file).equals(big)).toBe(true);
  });

  it('reports a missing artifact as RESOURCE_DOES_NOT_EXIST', async () => {
    const e = await caught(client.downloadArtifact(`tests/${uniqueName('none')}/x.bin`));
    expect(e.code).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    expect(e.status).toBe(404);
  });

  it('refuses artifact paths that climb out of the artifact root before sending anything', async () => {
    await expect(client.downloadArtifact('tests/../../etc/passwd')).rejects.toMatchObject({
      code: 'ARTIFACT_PATH_ESCAPE',
    });
    await expect(client.uploadArtifact('../outside.txt', Buffer.from('x'))).rejects.toMatchObject({
      code: 'ARTIFACT_PATH_ESCAPE',
    });
  });
});

describe('MlflowClient – failures around the call', () => {
  const servers: LocalServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('turns a refused connection into MLFLOW_UNREACHABLE, retryable, naming the URL and what to check', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const down = new MlflowClient({ baseUrl: url, timeoutMs: 5_000 });
    const e = await caught(down.getRegisteredModel('any'));
    expect(e.code).toBe('MLFLOW_UNREACHABLE');
    expect(e.retry).toBe('retryable');
    expect(e.status).toBeUndefined();
    expect(e.message).toContain(url);
    expect(e.message).toContain('MLFLOW_TRACKING_URI');
    expect(e.message).toContain('connection refused');
  });

  it('turns a server that never answers into MLFLOW_TIMEOUT, retryable', async () => {
    const silent = await startLocalServer(() => undefined);
    servers.push(silent);
    const slow = new MlflowClient({ baseUrl: silent.url, timeoutMs: 300 });
    const e = await caught(slow.getRegisteredModel('any'));
    expect(e.code).toBe('MLFLOW_TIMEOUT');
    expect(e.retry).toBe('retryable');
    expect(e.message).toContain('300 ms');
  });

  it('classes 5xx and 429 as retryable and other 4xx as terminal', async () => {
    const statuses = [503, 429, 400];
    const server = await startLocalServer((req, res) => {
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('name'));
      if (status === 503) res.writeHead(503).end('upstream down');
      else
        sendJson(res, status, {
          error_code: status === 429 ? 'REQUEST_LIMIT_EXCEEDED' : 'INVALID_PARAMETER_VALUE',
          message: 'no',
        });
    });
    servers.push(server);
    const c = new MlflowClient({ baseUrl: server.url, timeoutMs: 5_000 });
    const errors = await Promise.all(statuses.map((s) => caught(c.getRegisteredModel(String(s)))));
    expect(errors.map((e) => [e.code, e.status, e.retry])).toEqual([
      ['MLFLOW_HTTP_ERROR', 503, 'retryable'],
      ['MLFLOW_REQUEST_LIMIT_EXCEEDED', 429, 'retryable'],
      ['MLFLOW_INVALID_PARAMETER_VALUE', 400, 'terminal'],
    ]);
  });

  it('rejects an answer of the wrong shape as MLFLOW_BAD_RESPONSE', async () => {
    const server = await startLocalServer((_req, res) =>
      sendJson(res, 200, { registered_model: { nam: 'x' } }),
    );
    servers.push(server);
    const e = await caught(
      new MlflowClient({ baseUrl: server.url, timeoutMs: 5_000 }).getRegisteredModel('x'),
    );
    expect(e.code).toBe('MLFLOW_BAD_RESPONSE');
    expect(e.message).toContain('registered_model');
  });

  it('sends basic credentials or a bearer token', async () => {
    const seen: (string | undefined)[] = [];
    const server = await startLocalServer((req, res) => {
      seen.push(req.headers.authorization);
      sendJson(res, 200, { registered_model: { name: 'x' } });
    });
    servers.push(server);
    await MlflowClient.fromEnv({
      MLFLOW_TRACKING_URI: server.url,
      MLFLOW_TRACKING_USERNAME: 'ana',
      MLFLOW_TRACKING_PASSWORD: 'pw',
    }).getRegisteredModel('x');
    await MlflowClient.fromEnv({
      MLFLOW_TRACKING_URI: server.url,
      MLFLOW_TRACKING_TOKEN: 'tok',
    }).getRegisteredModel('x');
    await MlflowClient.fromEnv({ MLFLOW_TRACKING_URI: server.url }).getRegisteredModel('x');
    expect(seen).toEqual([`Basic ${Buffer.from('ana:pw').toString('base64')}`, 'Bearer tok', undefined]);
  });

  it('polls a PENDING_REGISTRATION version until READY and fails on FAILED_REGISTRATION', async () => {
    let polls = 0;
    const server = await startLocalServer((req, res) => {
      const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name');
      polls += 1;
      const status = name === 'broken' ? 'FAILED_REGISTRATION' : polls < 3 ? 'PENDING_REGISTRATION' : 'READY';
      sendJson(res, 200, {
        model_version: {
          name,
          version: '1',
          source: 's',
          status,
          status_message: name === 'broken' ? 'copy failed' : '',
        },
      });
    });
    servers.push(server);
    const c = new MlflowClient({ baseUrl: server.url, timeoutMs: 5_000 });
    expect((await c.waitUntilReady('m', '1', { intervalMs: 10 })).status).toBe('READY');
    expect(polls).toBe(3);
    await expect(c.waitUntilReady('broken', '1', { intervalMs: 10 })).rejects.toMatchObject({
      code: 'MLFLOW_REGISTRATION_FAILED',
      retry: 'terminal',
      message: expect.stringContaining('copy failed') as unknown,
    });
  });
});

describe('MlflowClient.fromEnv', () => {
  it('reads the tracking URI, credentials and timeout', () => {
    const c = MlflowClient.fromEnv({
      MLFLOW_TRACKING_URI: 'http://mlflow.internal:5000/',
      PROGRADE_MLFLOW_TIMEOUT_MS: '1500',
    });
    expect(c.http.config).toEqual({ baseUrl: 'http://mlflow.internal:5000', timeoutMs: 1500 });
    expect(MlflowClient.fromEnv({ MLFLOW_TRACKING_URI: 'https://h/prefix' }).http.config.timeoutMs).toBe(
      30_000,
    );
  });

  it.each([
    [{}, 'MLFLOW_TRACKING_URI is not set'],
    [{ MLFLOW_TRACKING_URI: 'sqlite:///mlflow.db' }, 'scheme "sqlite"'],
    [{ MLFLOW_TRACKING_URI: './mlruns' }, 'is not a URL'],
    [{ MLFLOW_TRACKING_URI: 'http://ana:secret@h:5000' }, 'must not carry credentials'],
    [
      { MLFLOW_TRACKING_URI: 'http://h:5000', PROGRADE_MLFLOW_TIMEOUT_MS: 'soon' },
      'PROGRADE_MLFLOW_TIMEOUT_MS',
    ],
    [{ MLFLOW_TRACKING_URI: 'http://h:5000', MLFLOW_TRACKING_USERNAME: 'ana' }, 'must be set together'],
  ])('refuses %j with MLFLOW_CONFIG_INVALID saying what is wrong', (env, message) => {
    expect(() => MlflowClient.fromEnv(env)).toThrow(
      expect.objectContaining({
        code: 'MLFLOW_CONFIG_INVALID',
        message: expect.stringContaining(message) as unknown,
      }),
    );
  });
});
