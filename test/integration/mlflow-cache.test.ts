import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { ModelCache, safeJoin } from '../../src/mlflow/cache';
import { MlflowClient } from '../../src/mlflow/client';
import { writeOnnxMlmodel } from '../../src/mlflow/mlmodel';
import { registerOnnxModel } from '../../src/mlflow/register';
import { buildLogisticModel } from '../../src/onnx/build';
import { openSession } from '../../src/onnx/session';
import { stack } from '../support/stack';
import { sendJson, startLocalServer, uniqueName, type LocalServer } from './mlflow-fixtures';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const scratch = (): string => mkdtempSync(join(tmpdir(), 'prograde-cache-'));

let client: MlflowClient;
beforeAll(() => {
  client = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
});

describe('ModelCache – fetching a version', () => {
  const onnxBytes = buildLogisticModel({ weights: [0.5, -0.25, 1], bias: 0.1 });
  let name: string;
  let version: string;
  beforeAll(async () => {
    name = uniqueName('cache');
    ({ version } = await registerOnnxModel(client, { name, onnxBytes }));
  });

  it('downloads every file, verified by sha256, and finds the ONNX file through MLmodel', async () => {
    const cache = new ModelCache(client, scratch());
    const m = await cache.fetchVersion(name, version);
    expect(m.files.map((f) => f.path).sort()).toEqual(['MLmodel', 'model.onnx', 'requirements.txt']);
    for (const f of m.files) {
      const onDisk = readFileSync(join(m.dir, f.path));
      expect(sha256(onDisk)).toBe(f.sha256);
      expect(onDisk.length).toBe(f.size);
    }
    expect(m.sha256).toBe(sha256(onnxBytes));
    expect(readFileSync(m.onnxPath).equals(Buffer.from(onnxBytes))).toBe(true);
    expect(m.mlmodel.onnxData).toBe('model.onnx');
    expect(m.mlmodel.signature).toEqual({
      inputs: { kind: 'tensor', tensors: [{ name: 'features', dtype: 'float32', shape: [-1, 3] }] },
      outputs: { kind: 'tensor', tensors: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }] },
    });
    expect(cache.stats).toEqual({
      filesDownloaded: 3,
      bytesDownloaded: m.files.reduce((s, f) => s + f.size, 0),
    });

    const session = await openSession(m.onnxPath);
    try {
      const scores = await session.score(new Float32Array([1, 1, 1, 0, 0, 0]), 2, 3);
      expect(scores[0]).toBeCloseTo(1 / (1 + Math.exp(-1.35)), 5);
      expect(scores[1]).toBeCloseTo(1 / (1 + Math.exp(-0.1)), 5);
    } finally {
      await session.release();
    }
  });

  it('downloads nothing on a second fetch, in the same process or a new cache over the same folder', async () => {
    const dir = scratch();
    const cache = new ModelCache(client, dir);
    const first = await cache.fetchVersion(name, version);
    const afterFirst = cache.stats.filesDownloaded;
    const second = await cache.fetchUri(`models:/${name}/${version}`);
    expect(cache.stats.filesDownloaded).toBe(afterFirst);
    expect(second).toEqual(first);

    const reopened = new ModelCache(client, dir);
    await reopened.fetchVersion(name, version);
    expect(reopened.stats).toEqual({ filesDownloaded: 0, bytesDownloaded: 0 });
  });

  it('shares one download between concurrent fetches of the same version', async () => {
    const cache = new ModelCache(client, scratch());
    const [a, b] = await Promise.all([cache.fetchVersion(name, version), cache.fetchVersion(name, version)]);
    expect(a).toEqual(b);
    expect(cache.stats.filesDownloaded).toBe(a.files.length);
  });

  it('stores each file content once under blobs/<sha256> and leaves no partial files', async () => {
    const dir = scratch();
    const m = await new ModelCache(client, dir).fetchVersion(name, version);
    const blobs = readdirSync(join(dir, 'blobs')).sort();
    expect(blobs).toEqual(m.files.map((f) => f.sha256).sort());
    expect(blobs.some((b) => b.includes('partial'))).toBe(false);
    expect(readdirSync(m.dir).some((f) => f.endsWith('.tmp'))).toBe(false);
  });

  it('downloads again when a cached file was altered, and restores the original bytes', async () => {
    const cache = new ModelCache(client, scratch());
    const m = await cache.fetchVersion(name, version);
    writeFileSync(m.onnxPath, 'tampered');
    const before = cache.stats.filesDownloaded;
    const again = await cache.fetchVersion(name, version);
    expect(cache.stats.filesDownloaded).toBeGreaterThan(before);
    expect(sha256(readFileSync(again.onnxPath))).toBe(sha256(onnxBytes));
  });
});

describe('ModelCache – never stale', () => {
  it('serves the new files after the registered model was deleted and registered again under the same name and version', async () => {
    const name = uniqueName('recreated');
    const oldBytes = buildLogisticModel({ weights: [0.5, -0.25, 1], bias: 0.1 });
    const newBytes = buildLogisticModel({ weights: [-2, 3, 0.75], bias: -1 });
    const dir = scratch();
    const cache = new ModelCache(client, dir);
    const first = await registerOnnxModel(client, { name, onnxBytes: oldBytes });
    const old = await cache.fetchVersion(name, first.version);
    expect(old.sha256).toBe(sha256(oldBytes));

    await client.deleteRegisteredModel(name);
    const second = await registerOnnxModel(client, { name, onnxBytes: newBytes });
    expect(second.version).toBe(first.version);
    expect(second.modelId).not.toBe(first.modelId);

    const before = cache.stats.filesDownloaded;
    const fresh = await cache.fetchVersion(name, second.version);
    expect(fresh.sha256).toBe(sha256(newBytes));
    expect(readFileSync(fresh.onnxPath).equals(Buffer.from(newBytes))).toBe(true);
    expect(fresh.identity.modelId).toBe(second.modelId);
    expect(fresh.dir).not.toBe(old.dir);
    expect(cache.stats.filesDownloaded).toBeGreaterThan(before);
    // The old identity's folder is gone; a new cache over the same folder agrees without downloading.
    expect(existsSync(old.dir)).toBe(false);
    const reopened = new ModelCache(client, dir);
    expect((await reopened.fetchVersion(name, second.version)).sha256).toBe(sha256(newBytes));
    expect(reopened.stats.filesDownloaded).toBe(0);
  });

  it('downloads again when the files at the same source were replaced', async () => {
    const name = uniqueName('replaced');
    const mlmodel = Buffer.from(writeOnnxMlmodel({ modelId: 'm-0', artifactPath: 'x' }));
    const oldBytes = buildLogisticModel({ weights: [1, 2], bias: 0 });
    const { version, root } = await registerNestedAt(name, { MLmodel: mlmodel, 'model.onnx': oldBytes });
    const cache = new ModelCache(client, scratch());
    expect((await cache.fetchVersion(name, version)).sha256).toBe(sha256(oldBytes));

    // Same registry entry, other bytes at the same path (and a file more): the listing tells.
    const newBytes = buildLogisticModel({ weights: [1, 2, 3, 4], bias: 1 });
    await client.uploadArtifact(`${root}/model.onnx`, newBytes);
    await client.uploadArtifact(`${root}/notes.txt`, Buffer.from('retrained'));
    const fresh = await cache.fetchVersion(name, version);
    expect(fresh.sha256).toBe(sha256(newBytes));
    expect(fresh.files.map((f) => f.path).sort()).toEqual(['MLmodel', 'model.onnx', 'notes.txt']);
  });

  it('refuses a version that no longer exists instead of serving its cached files', async () => {
    const name = uniqueName('deleted');
    const { version } = await registerOnnxModel(client, {
      name,
      onnxBytes: buildLogisticModel({ weights: [1, 1, 1], bias: 0 }),
    });
    const cache = new ModelCache(client, scratch());
    await cache.fetchVersion(name, version);
    await client.deleteModelVersion(name, version);
    await expect(cache.fetchVersion(name, version)).rejects.toMatchObject({
      code: 'MLFLOW_RESOURCE_DOES_NOT_EXIST',
    });
  });
});

/** A logged model with files in nested folders, registered by hand through the REST API. */
async function registerNested(name: string, files: Record<string, Uint8Array>): Promise<string> {
  return (await registerNestedAt(name, files)).version;
}

async function registerNestedAt(
  name: string,
  files: Record<string, Uint8Array>,
): Promise<{ version: string; root: string }> {
  const experimentId = await client.createExperiment(uniqueName('exp'));
  const logged = await client.createLoggedModel(experimentId, { name: 'model' });
  const root = proxiedArtifactPath(logged.artifactUri);
  for (const [path, bytes] of Object.entries(files)) await client.uploadArtifact(`${root}/${path}`, bytes);
  await client.finalizeLoggedModel(logged.modelId);
  await client.createRegisteredModel(name);
  const mv = await client.createModelVersion(name, logged.artifactUri, { modelId: logged.modelId });
  await client.waitUntilReady(name, mv.version);
  return { version: mv.version, root };
}

describe('ModelCache – nested files and refusals', () => {
  const onnxBytes = buildLogisticModel({ weights: [1, 2], bias: 0 });
  const mlmodel = Buffer.from(
    writeOnnxMlmodel({ modelId: 'm-0', artifactPath: 'x', data: 'weights/model.onnx' }),
  );
  const servers: LocalServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('walks nested folders and finds the ONNX file where MLmodel says it is', async () => {
    const name = uniqueName('nested');
    const version = await registerNested(name, {
      MLmodel: mlmodel,
      'weights/model.onnx': onnxBytes,
      'extra/notes/readme.txt': Buffer.from('read me'),
    });
    const m = await new ModelCache(client, scratch()).fetchVersion(name, version);
    expect(m.files.map((f) => f.path).sort()).toEqual([
      'MLmodel',
      'extra/notes/readme.txt',
      'weights/model.onnx',
    ]);
    expect(relative(m.dir, m.onnxPath)).toBe(join('weights', 'model.onnx'));
    expect(readFileSync(join(m.dir, 'extra', 'notes', 'readme.txt'), 'utf8')).toBe('read me');
  });

  it('refuses to write through a symbolic link planted in the cache that leads outside it', async () => {
    const name = uniqueName('symlink');
    const version = await registerNested(name, { MLmodel: mlmodel, 'weights/model.onnx': onnxBytes });
    const dir = scratch();
    const outside = scratch();
    const cache = new ModelCache(client, dir);
    const versionDir = cache.versionDir(name, version, await cache.identify(name, version));
    mkdirSync(versionDir, { recursive: true });
    symlinkSync(outside, join(versionDir, 'weights'));

    await expect(cache.fetchVersion(name, version)).rejects.toMatchObject({
      code: 'ARTIFACT_PATH_ESCAPE',
      retry: 'terminal',
    });
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses a listing entry that climbs out of the model folder, writing nothing outside', async () => {
    // A hostile or broken server: registry answers are well-formed, the listing names '../../escaped.txt'.
    const server = await startLocalServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.endsWith('/model-versions/get')) {
        sendJson(res, 200, { model_version: { name: 'evil', version: '1', source: 's', status: 'READY' } });
      } else if (url.pathname.endsWith('/model-versions/get-download-uri')) {
        sendJson(res, 200, { artifact_uri: 'mlflow-artifacts:/1/models/m-1/artifacts' });
      } else if (url.pathname === '/api/2.0/mlflow-artifacts/artifacts') {
        sendJson(res, 200, { files: [{ path: '../../escaped.txt', is_dir: false, file_size: 3 }] });
      } else {
        res.writeHead(200).end('bad');
      }
    });
    servers.push(server);
    const dir = scratch();
    const cache = new ModelCache(new MlflowClient({ baseUrl: server.url, timeoutMs: 5_000 }), dir);
    await expect(cache.fetchVersion('evil', '1')).rejects.toMatchObject({ code: 'ARTIFACT_PATH_ESCAPE' });
    expect(cache.stats.filesDownloaded).toBe(0);
    expect(existsSync(join(dir, 'models', 'escaped.txt'))).toBe(false);
  });

  it('keeps model names that look like paths inside the cache folder', () => {
    const dir = scratch();
    const cache = new ModelCache(client, dir);
    const identity = { modelId: null, source: 's', artifactUri: 'a', runId: '', createdAt: null };
    const inside = cache.versionDir('../../etc', '1', identity);
    expect(relative(dir, inside).startsWith('..')).toBe(false);
    expect(() => cache.versionDir('m', '../1', identity)).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_PATH_ESCAPE' }),
    );
  });

  it.each(['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a\\..\\b'])('safeJoin refuses %s', (rel) => {
    expect(() => safeJoin('/cache/model', rel)).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_PATH_ESCAPE' }),
    );
  });
});
