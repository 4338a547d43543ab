import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildClassifierModel, buildLogisticModel } from '../../src/onnx/build';
import { pickScoreOutput, scoreColumn, scoresFromValues, valuesPerRow } from '../../src/onnx/score-output';
import { openSession } from '../../src/onnx/session';
import { scoresOf } from '../../src/serving/gateway';
import type { Tensor } from '../../src/serving/tensors';

describe('score output – one rule', () => {
  it('takes the requested output, else the first float output, else none', () => {
    const outputs = [
      { name: 'label', dtype: 'int64' },
      { name: 'probabilities', dtype: 'float32' },
      { name: 'raw', dtype: 'float64' },
    ];
    expect(pickScoreOutput(outputs)).toBe('probabilities');
    expect(pickScoreOutput(outputs, 'raw')).toBe('raw');
    expect(pickScoreOutput([{ name: 'label', dtype: 'int64' }])).toBeUndefined();
  });

  it('reads one value per row as the score, column 1 of two, and nothing of other widths', () => {
    expect([1, 2, 3].map(scoreColumn)).toEqual([0, 1, undefined]);
    expect(valuesPerRow([5])).toBe(1);
    expect(valuesPerRow([5, 2])).toBe(2);
    expect(valuesPerRow([5, -1])).toBe(-1);
    expect(Array.from(scoresFromValues([0.875, 0.125, 0.25, 0.75], 2, 2) ?? [])).toEqual([0.125, 0.75]);
    expect(Array.from(scoresFromValues([0.5, 0.25], 2, 1) ?? [])).toEqual([0.5, 0.25]);
    expect(scoresFromValues([1, 2, 3], 1, 3)).toBeUndefined();
  });
});

/** The gateway's view of an ORT result: every numeric output as a Tensor. */
function asGatewayTensors(result: Record<string, ort.Tensor>): Tensor[] {
  return Object.entries(result).map(([name, t]) => ({
    name,
    dtype: t.type as Tensor['dtype'],
    dims: [...t.dims],
    data: t.data as Tensor['data'],
  }));
}

describe('score output – the gateway and the offline scorer agree', () => {
  const rows = 5;
  const x = Float32Array.from({ length: rows * 4 }, (_, i) => Math.sin(i * 1.7));

  it('on a classifier whose int64 label comes before its [N,2] probabilities', async () => {
    const session = await openSession(buildClassifierModel({ weights: [1, -0.5, 0.25, 2], bias: 0.1 }));
    try {
      const offline = await session.score(x, rows, 4);
      const raw = await session.runRaw({ X: new ort.Tensor('float32', x, [rows, 4]) });
      const live = scoresOf(asGatewayTensors(raw));
      expect(live).toEqual(Array.from(offline));
      // Not the label, not column 0: P(class 1).
      const probabilities = raw.probabilities?.data as Float32Array;
      expect(live[0]).toBe(probabilities[1]);
    } finally {
      await session.release();
    }
  });

  it('on a regressor’s [N,1] output, and on a requested output', async () => {
    const session = await openSession(
      buildLogisticModel({ weights: [0.1, 0.2, 0.3, 0.4], bias: 0, inputName: 'X', outputName: 'variable' }),
    );
    try {
      const raw = asGatewayTensors(await session.runRaw({ X: new ort.Tensor('float32', x, [rows, 4]) }));
      expect(scoresOf(raw)).toEqual(Array.from(await session.score(x, rows, 4)));
      expect(scoresOf(raw, 'variable')).toEqual(scoresOf(raw));
      expect(scoresOf(raw, 'absent')).toEqual([]);
    } finally {
      await session.release();
    }
  });

  it('records no score where the offline scorer refuses one', () => {
    const label: Tensor = { name: 'label', dtype: 'int64', dims: [2], data: BigInt64Array.from([0n, 1n]) };
    expect(scoresOf([label])).toEqual([]);
    const wide: Tensor = {
      name: 'p',
      dtype: 'float32',
      dims: [1, 3],
      data: Float32Array.from([0.2, 0.3, 0.5]),
    };
    expect(scoresOf([wide])).toEqual([]);
  });
});
