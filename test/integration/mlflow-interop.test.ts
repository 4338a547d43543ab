import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { ModelCache } from '../../src/mlflow/cache';
import { MlflowClient } from '../../src/mlflow/client';
import { registerOnnxModel } from '../../src/mlflow/register';
import { resolveArtifactPath, resolveModelVersion } from '../../src/mlflow/uri';
import { buildLogisticModel } from '../../src/onnx/build';
import { openSession } from '../../src/onnx/session';
import { stack } from '../support/stack';
import { runOracle, uniqueName } from './mlflow-fixtures';

const Logged = z.object({
  version: z.string(),
  model_uri: z.string(),
  run_id: z.string(),
  model_id: z.string(),
  n_features: z.number(),
  sample: z.array(z.array(z.number())),
  probabilities: z.array(z.number()),
});
const Loaded = z.object({
  onnx_inputs: z.array(z.string()),
  pyfunc_outputs: z.array(z.string()),
  pyfunc_rows: z.number(),
  scores: z.array(z.number()),
});

let client: MlflowClient;
beforeAll(() => {
  client = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
});

async function scoreWithOrt(onnxPath: string, rows: readonly (readonly number[])[]): Promise<Float32Array> {
  const session = await openSession(onnxPath);
  try {
    const width = rows[0]?.length ?? 0;
    return await session.score(Float32Array.from(rows.flat()), rows.length, width);
  } finally {
    await session.release();
  }
}

describe('MLflow interop – models logged by Python', () => {
  it(
    'resolves, downloads and scores a scikit-learn model logged with mlflow.onnx.log_model',
    { timeout: 240_000 },
    async () => {
      const name = uniqueName('py-logreg');
      const logged = Logged.parse(await runOracle('log_model.py', [name, '4'], stack.mlflowUri()));
      const mv = await resolveModelVersion(client, logged.model_uri);
      expect(mv).toMatchObject({ name, version: logged.version, status: 'READY', runId: logged.run_id });

      const cache = new ModelCache(client, mkdtempSync(join(tmpdir(), 'prograde-interop-')));
      const m = await cache.fetchUri(logged.model_uri);
      expect(m.files.map((f) => f.path)).toEqual(
        expect.arrayContaining(['MLmodel', 'model.onnx', 'requirements.txt', 'python_env.yaml']),
      );
      expect(m.mlmodel.modelId).toBe(logged.model_id);

      const scores = await scoreWithOrt(m.onnxPath, logged.sample);
      expect(Array.from(scores)).toHaveLength(logged.probabilities.length);
      logged.probabilities.forEach((p, i) => expect(scores[i]).toBeCloseTo(p, 5));

      // A runs:/ URI names the run's own artifact folder, found through runs/get.
      const runPath = await resolveArtifactPath(client, `runs:/${logged.run_id}/extra`);
      expect(runPath).toMatch(new RegExp(`/${logged.run_id}/artifacts/extra$`));
    },
  );

  it(
    'downloads the external data file beside model.onnx so onnxruntime loads the weights',
    { timeout: 240_000 },
    async () => {
      const name = uniqueName('py-external');
      const logged = Logged.parse(
        await runOracle('log_model.py', [name, '300', 'external'], stack.mlflowUri()),
      );
      const m = await new ModelCache(client, mkdtempSync(join(tmpdir(), 'prograde-interop-'))).fetchVersion(
        name,
        logged.version,
      );
      const dataFiles = m.files.filter((f) => f.path.endsWith('.data'));
      expect(dataFiles).toHaveLength(1);
      expect(dataFiles[0]?.size).toBeGreaterThan(1024);

      const scores = await scoreWithOrt(m.onnxPath, logged.sample);
      logged.probabilities.forEach((p, i) => expect(scores[i]).toBeCloseTo(p, 4));
    },
  );
});

describe('MLflow interop – models registered by prograde', () => {
  it(
    'loads with mlflow.onnx.load_model and mlflow.pyfunc.load_model and scores like onnxruntime-node',
    { timeout: 240_000 },
    async () => {
      const name = uniqueName('ts-logreg');
      const weights = [0.8, -0.3, 0.2];
      const registered = await registerOnnxModel(client, {
        name,
        onnxBytes: buildLogisticModel({ weights, bias: -0.1 }),
        alias: 'challenger',
      });
      const logged = await client.getLoggedModel(registered.modelId);
      expect(logged.status).toBe('LOGGED_MODEL_READY');
      expect(proxiedArtifactPath(registered.artifactUri)).toBe(
        await resolveArtifactPath(client, `models:/${name}@challenger`),
      );

      const loaded = Loaded.parse(
        await runOracle(
          'mlflow_load_model.py',
          [`models:/${name}/${registered.version}`, '3'],
          stack.mlflowUri(),
        ),
      );
      expect(loaded.onnx_inputs).toEqual(['features']);
      expect(loaded.pyfunc_outputs).toEqual(['probability']);
      expect(loaded.pyfunc_rows).toBe(3);

      // The oracle scores rows (0..8)/10 reshaped 3×3; score the same rows here.
      const rows = [0, 1, 2].map((r) => [0, 1, 2].map((c) => (r * 3 + c) / 10));
      const m = await new ModelCache(client, mkdtempSync(join(tmpdir(), 'prograde-interop-'))).fetchVersion(
        name,
        registered.version,
      );
      const scores = await scoreWithOrt(m.onnxPath, rows);
      loaded.scores.forEach((s, i) => expect(scores[i]).toBeCloseTo(s, 5));
    },
  );
});
