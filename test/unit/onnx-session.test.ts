import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLogisticModel } from '../../src/onnx/build';
import { openSession } from '../../src/onnx/session';

const WEIGHTS = [0.5, -0.25, 0.125, 1, -1, 0.3, 0.2, -0.2, 0.1, 0.05, -0.05, 0];
const DataType = onnx.TensorProto.DataType;

/** A classifier shaped like skl2onnx output: `label` int64 [N] first, then `probabilities` float [N,2]. */
function twoClassModel(w0: readonly number[], w1: readonly number[], zipMap = false): Uint8Array {
  const weights = w0.flatMap((a, i) => [a, w1[i] ?? 0]);
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [
      { domain: '', version: 13 },
      { domain: 'ai.onnx.ml', version: 1 },
    ],
    graph: {
      name: 'two_class',
      initializer: [{ name: 'W', dims: [w0.length, 2], dataType: DataType.FLOAT, floatData: weights }],
      node: [
        { opType: 'MatMul', input: ['features', 'W'], output: ['logits'] },
        {
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
        {
          opType: 'ArgMax',
          input: ['logits'],
          output: ['label'],
          attribute: [
            { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
            { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 },
          ],
        },
      ],
      input: [
        {
          name: 'features',
          type: {
            tensorType: {
              elemType: DataType.FLOAT,
              shape: { dim: [{ dimParam: 'N' }, { dimValue: w0.length }] },
            },
          },
        },
      ],
      output: [
        {
          name: 'label',
          type: { tensorType: { elemType: DataType.INT64, shape: { dim: [{ dimParam: 'N' }] } } },
        },
        {
          name: 'probabilities',
          type: {
            tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 2 }] } },
          },
        },
      ],
    },
  };
  if (zipMap) {
    // skl2onnx's default: class probabilities as a sequence of {class: probability} maps.
    model.graph?.node?.push({
      opType: 'ZipMap',
      domain: 'ai.onnx.ml',
      input: ['probabilities'],
      output: ['output_probability'],
      attribute: [{ name: 'classlabels_int64s', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 1] }],
    });
    model.graph?.output?.push({
      name: 'output_probability',
      type: {
        sequenceType: {
          elemType: {
            mapType: { keyType: DataType.INT64, valueType: { tensorType: { elemType: DataType.FLOAT } } },
          },
        },
      },
    });
  }
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prograde-onnx-session-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openSession', () => {
  it('reports inputs and outputs as tensor specs with symbolic dims as -1', async () => {
    const session = await openSession(buildLogisticModel({ weights: WEIGHTS, bias: 0 }));
    expect(session.inputs).toEqual([{ name: 'features', dtype: 'float32', shape: [-1, 12] }]);
    expect(session.outputs).toEqual([{ name: 'probability', dtype: 'float32', shape: [-1, 1] }]);
    expect(session.scoreOutput).toBe('probability');
    await session.release();
  });

  it('loads a model from a file path', async () => {
    const path = join(dir, 'model.onnx');
    await writeFile(path, buildLogisticModel({ weights: WEIGHTS, bias: 1 }));
    const session = await openSession(path);
    const scores = await session.score(new Float32Array(12), 1, 12);
    expect(scores[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    await session.release();
  });

  it('turns ORT load failures into ONNX_LOAD_FAILED carrying ORT message', async () => {
    const whole = buildLogisticModel({ weights: WEIGHTS, bias: 0 });
    const failure = openSession(whole.slice(0, 100));
    await expect(failure).rejects.toMatchObject({ code: 'ONNX_LOAD_FAILED', retry: 'terminal' });
    await expect(failure).rejects.toThrow(/onnxruntime could not load the model: .+/);
    await expect(openSession(join(dir, 'missing.onnx'))).rejects.toMatchObject({
      code: 'ONNX_LOAD_FAILED',
      details: { path: join(dir, 'missing.onnx') },
    });
  });

  it('scores one value per row', async () => {
    const session = await openSession(buildLogisticModel({ weights: WEIGHTS, bias: -0.5 }));
    const rows = 4;
    const x = Float32Array.from({ length: rows * 12 }, (_, i) => (i % 7) - 3);
    const scores = await session.score(x, rows, 12);
    expect(scores).toHaveLength(rows);
    for (let r = 0; r < rows; r++) {
      const logit = WEIGHTS.reduce((s, w, i) => s + w * (x[r * 12 + i] ?? 0), -0.5);
      expect(scores[r]).toBeCloseTo(1 / (1 + Math.exp(-logit)), 6);
    }
    await session.release();
  });

  it('defaults to the first float output and takes column 1 of an [N,2] probability output', async () => {
    const w0 = WEIGHTS.map((w) => -w);
    const session = await openSession(twoClassModel(w0, WEIGHTS));
    expect(session.scoreOutput).toBe('probabilities');
    const x = Float32Array.from({ length: 3 * 12 }, (_, i) => Math.cos(i));
    const scores = await session.score(x, 3, 12);
    for (let r = 0; r < 3; r++) {
      const row = x.subarray(r * 12, r * 12 + 12);
      const z0 = w0.reduce((s, w, i) => s + w * (row[i] ?? 0), 0);
      const z1 = WEIGHTS.reduce((s, w, i) => s + w * (row[i] ?? 0), 0);
      expect(scores[r]).toBeCloseTo(Math.exp(z1) / (Math.exp(z0) + Math.exp(z1)), 5);
    }
    await session.release();
  });

  it('refuses a score output the model does not have, and an int64 one it cannot score', async () => {
    await expect(
      openSession(twoClassModel(WEIGHTS, WEIGHTS), { scoreOutput: 'proba' }),
    ).rejects.toMatchObject({
      code: 'ONNX_LOAD_FAILED',
    });
    const session = await openSession(twoClassModel(WEIGHTS, WEIGHTS), { scoreOutput: 'label' });
    await expect(session.score(new Float32Array(12), 1, 12)).rejects.toMatchObject({
      code: 'SCORE_OUTPUT_UNSUPPORTED',
    });
    await session.release();
  });

  it('feeds float64 models by converting the rows', async () => {
    const session = await openSession(buildLogisticModel({ weights: WEIGHTS, bias: 0, dtype: 'float64' }));
    const scores = await session.score(new Float32Array(24).fill(1), 2, 12);
    const logit = WEIGHTS.reduce((s, w) => s + w, 0);
    expect(scores[1]).toBeCloseTo(1 / (1 + Math.exp(-logit)), 6);
    await session.release();
  });

  it('rejects a feature buffer whose length does not match rows × features', async () => {
    const session = await openSession(buildLogisticModel({ weights: WEIGHTS, bias: 0 }));
    await expect(session.score(new Float32Array(13), 1, 12)).rejects.toMatchObject({
      code: 'SCORE_INPUT_INVALID',
    });
    await session.release();
  });

  it('reports a run with the wrong width as ONNX_RUN_FAILED with ORT message', async () => {
    const session = await openSession(buildLogisticModel({ weights: WEIGHTS, bias: 0 }));
    await expect(session.score(new Float32Array(13), 1, 13)).rejects.toMatchObject({
      code: 'ONNX_RUN_FAILED',
    });
    await session.release();
  });

  it('scores a model that also has a non-tensor ZipMap output, fetching only the score', async () => {
    const session = await openSession(twoClassModel(WEIGHTS, WEIGHTS, true));
    expect(session.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
    const scores = await session.score(new Float32Array(24), 2, 12);
    expect(Array.from(scores)).toEqual([0.5, 0.5]);
    await session.release();
  });

  it('runs raw feeds and returns every output', async () => {
    const session = await openSession(
      twoClassModel(
        WEIGHTS,
        WEIGHTS.map((w) => w * 2),
      ),
    );
    const out = await session.runRaw({
      features: new ort.Tensor('float32', new Float32Array(24).fill(1), [2, 12]),
    });
    expect(Object.keys(out).sort()).toEqual(['label', 'probabilities']);
    expect(out.label?.type).toBe('int64');
    await session.release();
  });
});
