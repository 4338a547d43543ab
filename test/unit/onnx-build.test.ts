import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLogisticModel } from '../../src/onnx/build';
import { inspectOnnx } from '../../src/onnx/inspect';
import { openSession } from '../../src/onnx/session';

const WEIGHTS = [0.5, -0.25, 0.125, 1, -1, 0.3, 0.2, -0.2, 0.1, 0.05, -0.05, 0];
const BIAS = -0.4;

function opTypes(bytes: Uint8Array): string[] {
  return (onnx.ModelProto.decode(bytes).graph?.node ?? []).map((n) => n.opType ?? '');
}

function expectedProbability(row: readonly number[], weights = WEIGHTS, bias = BIAS): number {
  const logit = row.reduce((sum, x, i) => sum + x * (weights[i] ?? 0), bias);
  return 1 / (1 + Math.exp(-logit));
}

function grid(rows: number, width: number): Float32Array {
  return Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i * 0.7) * 2);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prograde-onnx-build-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('buildLogisticModel', () => {
  it('builds MatMul → Add → Sigmoid with a batch-free float32 signature, IR 8, opset 13', () => {
    const bytes = buildLogisticModel({ weights: WEIGHTS, bias: BIAS });
    expect(opTypes(bytes)).toEqual(['MatMul', 'Add', 'Sigmoid']);
    const info = inspectOnnx(bytes);
    expect(info.irVersion).toBe(8);
    expect(info.opsets).toEqual([{ domain: '', version: 13 }]);
    expect(info.inputs).toEqual([{ name: 'features', dtype: 'float32', shape: [-1, 12] }]);
    expect(info.outputs).toEqual([{ name: 'probability', dtype: 'float32', shape: [-1, 1] }]);
  });

  it('computes sigmoid(features · W + b) in onnxruntime', async () => {
    const session = await openSession(buildLogisticModel({ weights: WEIGHTS, bias: BIAS }));
    const x = grid(5, 12);
    const scores = await session.score(x, 5, 12);
    for (let r = 0; r < 5; r++) {
      expect(scores[r]).toBeCloseTo(expectedProbability([...x.subarray(r * 12, r * 12 + 12)]), 6);
    }
    await session.release();
  });

  it('adds a k-layer MatMul chain for extra compute without changing the scores', async () => {
    const plain = buildLogisticModel({ weights: WEIGHTS, bias: BIAS });
    const slow = buildLogisticModel({ weights: WEIGHTS, bias: BIAS, extraCompute: { layers: 4, width: 32 } });
    const ops = opTypes(slow);
    // 1 scoring MatMul + 4 hidden layers + 1 reduction to a column.
    expect(ops.filter((o) => o === 'MatMul')).toHaveLength(6);
    expect(ops.filter((o) => o === 'Tanh')).toHaveLength(4);
    expect(ops).toContain('Mul');
    const x = grid(64, 12);
    const [a, b] = await Promise.all([openSession(plain), openSession(slow)]);
    const [sa, sb] = await Promise.all([a.score(x, 64, 12), b.score(x, 64, 12)]);
    for (let r = 0; r < 64; r++) expect(Math.abs((sa[r] ?? 0) - (sb[r] ?? 1))).toBeLessThan(1e-6);
    await Promise.all([a.release(), b.release()]);
  });

  it('keeps the extra compute through ORT graph optimisation (nothing is constant-folded away)', async () => {
    const slow = buildLogisticModel({ weights: WEIGHTS, bias: BIAS, extraCompute: { layers: 3, width: 16 } });
    const optimizedPath = join(dir, 'slow.optimized.onnx');
    const session = await openSession(slow, {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: optimizedPath,
    });
    await session.release();
    const optimized = opTypes(new Uint8Array(await readFile(optimizedPath)));
    // ORT may fuse MatMul+Add into Gemm or FusedMatMul, but the three hidden layers must survive.
    const matmulLike = optimized.filter((o) => /MatMul|Gemm/.test(o));
    expect(matmulLike.length).toBeGreaterThanOrEqual(4);
    expect(optimized.filter((o) => o === 'Tanh')).toHaveLength(3);
  });

  it('yields NaN exactly for rows whose chosen feature is above the cutoff', async () => {
    const cutoff = 1.25;
    const bytes = buildLogisticModel({ weights: WEIGHTS, bias: BIAS, nanAbove: { feature: 0, cutoff } });
    const f0Values = [-3, 0, 1.2, cutoff, Math.fround(cutoff + 1e-6), 1.5, 2.5, 10];
    const x = new Float32Array(f0Values.length * 12).fill(0.3);
    f0Values.forEach((v, r) => (x[r * 12] = v));
    const session = await openSession(bytes);
    const scores = await session.score(x, f0Values.length, 12);
    f0Values.forEach((v, r) => {
      const score = scores[r] ?? Number.NaN;
      if (v > cutoff) expect(score).toBeNaN();
      else expect(score).toBeCloseTo(expectedProbability([...x.subarray(r * 12, r * 12 + 12)]), 6);
    });
    await session.release();
  });

  it('renames the input and output', () => {
    const info = inspectOnnx(
      buildLogisticModel({ weights: WEIGHTS, bias: BIAS, inputName: 'x', outputName: 'y' }),
    );
    expect(info.inputs.map((s) => s.name)).toEqual(['x']);
    expect(info.outputs.map((s) => s.name)).toEqual(['y']);
  });

  it('builds a float64 model that onnxruntime runs in double precision', async () => {
    const bytes = buildLogisticModel({ weights: WEIGHTS, bias: BIAS, dtype: 'float64' });
    const info = inspectOnnx(bytes);
    expect(info.inputs[0]?.dtype).toBe('float64');
    expect(info.outputs[0]?.dtype).toBe('float64');
    const session = await openSession(bytes);
    expect(session.inputs[0]?.dtype).toBe('float64');
    const x = grid(3, 12);
    const scores = await session.score(x, 3, 12);
    expect(scores[1]).toBeCloseTo(expectedProbability([...x.subarray(12, 24)]), 6);
    await session.release();
  });

  it('takes its width from the number of weights', () => {
    const info = inspectOnnx(buildLogisticModel({ weights: [...WEIGHTS, 0], bias: BIAS }));
    expect(info.inputs[0]?.shape).toEqual([-1, 13]);
  });

  it('stamps an opset override, which onnxruntime refuses when it is beyond its support', async () => {
    const bytes = buildLogisticModel({ weights: WEIGHTS, bias: BIAS, opset: 99 });
    expect(inspectOnnx(bytes).opsets).toEqual([{ domain: '', version: 99 }]);
    await expect(openSession(bytes)).rejects.toMatchObject({ code: 'ONNX_LOAD_FAILED' });
  });

  it('rejects a NaN feature index outside the input', () => {
    expect(() =>
      buildLogisticModel({ weights: WEIGHTS, bias: BIAS, nanAbove: { feature: 12, cutoff: 0 } }),
    ).toThrow(RangeError);
  });
});
