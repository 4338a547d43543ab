import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLogisticModel } from '../../src/onnx/build';
import { WorkerPool } from '../../src/serving/worker/worker-pool';

const dir = mkdtempSync(path.join(tmpdir(), 'prograde-pool-'));
const modelPath = path.join(dir, 'model.onnx');
writeFileSync(modelPath, buildLogisticModel({ weights: [1, -1], bias: 0 }));
const pool = new WorkerPool({
  size: 2,
  intraOpNumThreads: 1,
  warmupRuns: 2,
  logger: pino({ level: 'silent' }),
});
afterAll(() => pool.close());

describe('inference worker pool', () => {
  it('loads a model in worker threads and reports its signature', async () => {
    const signature = await pool.load('m@1', { onnxPath: modelPath });
    expect(signature.inputs).toEqual([{ name: 'features', dtype: 'float32', shape: [-1, 2] }]);
    expect(signature.outputs).toEqual([{ name: 'probability', dtype: 'float32', shape: [-1, 1] }]);
  });

  it('runs a batch off the event loop and returns the scores row by row', async () => {
    const data = new Float32Array([0, 0, 2, 0]);
    const [out] = await pool.run(
      'm@1',
      [{ name: 'features', dtype: 'float32', dims: [2, 2], buffer: data.buffer }],
      ['probability'],
    );
    expect(out?.dims).toEqual([2, 1]);
    const scores = Array.from(new Float32Array(out!.buffer));
    expect(scores[0]).toBeCloseTo(0.5, 6);
    expect(scores[1]).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
  });

  it('rejects a run on a version that is not loaded with a coded error', async () => {
    const data = new Float32Array([0, 0]);
    await expect(
      pool.run(
        'm@2',
        [{ name: 'features', dtype: 'float32', dims: [1, 2], buffer: data.buffer }],
        ['probability'],
      ),
    ).rejects.toMatchObject({
      code: 'SERVING_VERSION_NOT_LOADED',
    });
  });

  it('fails to load bytes that are not an ONNX model', async () => {
    const bad = path.join(dir, 'bad.onnx');
    writeFileSync(bad, 'not a model');
    await expect(pool.load('bad@1', { onnxPath: bad })).rejects.toMatchObject({
      code: 'SERVING_MODEL_LOAD_FAILED',
    });
  });
});
