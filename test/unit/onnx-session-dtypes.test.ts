import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import { openSession } from '../../src/onnx/session';

// Models whose input is not float32, and models with more than one input, as scikit-learn users export
// them (`Int64TensorType`, two `initial_types`): scored, or refused with how to export them instead.

const DataType = onnx.TensorProto.DataType;
const INT = onnx.AttributeProto.AttributeType.INT;

function tensorInfo(
  name: string,
  elemType: number,
  dims: readonly (number | string)[],
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** sigmoid(x · w) with x cast from `inputs`' element type to float; several inputs are concatenated first. */
function castLogistic(
  elemType: number,
  weights: readonly number[],
  inputs: readonly string[] = ['x'],
): Uint8Array {
  const width = weights.length / inputs.length;
  const concat: onnx.INodeProto[] =
    inputs.length > 1
      ? [
          {
            opType: 'Concat',
            input: [...inputs],
            output: ['joined'],
            attribute: [{ name: 'axis', type: INT, i: 1 }],
          },
        ]
      : [];
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'cast_logistic',
      initializer: [
        { name: 'W', dims: [weights.length, 1], dataType: DataType.FLOAT, floatData: [...weights] },
      ],
      node: [
        ...concat,
        {
          opType: 'Cast',
          input: [inputs.length > 1 ? 'joined' : (inputs[0] ?? 'x')],
          output: ['xf'],
          attribute: [{ name: 'to', type: INT, i: DataType.FLOAT }],
        },
        { opType: 'MatMul', input: ['xf', 'W'], output: ['logit'] },
        { opType: 'Sigmoid', input: ['logit'], output: ['score'] },
      ],
      input: inputs.map((name) => tensorInfo(name, elemType, ['N', width])),
      output: [tensorInfo('score', DataType.FLOAT, ['N', 1])],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

async function refusal(run: () => Promise<unknown>): Promise<ProgradeError> {
  try {
    await run();
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('ScoringSession.score on integer inputs', () => {
  it.each([
    ['int64', DataType.INT64],
    ['int32', DataType.INT32],
  ] as const)('feeds whole-number rows to an %s input and scores them', async (_dtype, elemType) => {
    const session = await openSession(castLogistic(elemType, [0.5, -0.25]));
    try {
      const rows = Float32Array.from([1, 2, -3, 0, 4, 8]);
      const scores = await session.score(rows, 3, 2);
      const expected = [sigmoid(0.5 - 0.5), sigmoid(-1.5), sigmoid(2 - 2)];
      expect(scores).toHaveLength(3);
      expected.forEach((e, i) => expect(scores[i]).toBeCloseTo(e, 6));
    } finally {
      await session.release();
    }
  });

  it('refuses a fraction for an integer input instead of truncating it, naming the row and feature', async () => {
    const session = await openSession(castLogistic(DataType.INT64, [0.5, -0.25]));
    try {
      const e = await refusal(() => session.score(Float32Array.from([1, 2, 3, 0.5]), 2, 2));
      expect(e.code).toBe('SCORE_INPUT_INVALID');
      expect(e.message).toBe(
        "input 'x' is int64, but row 2 (of the rows scored) has 0.5 in feature 2 of 2, which is not a whole int64 number",
      );
    } finally {
      await session.release();
    }
  });

  it('refuses a value outside int32 for an int32 input', async () => {
    const session = await openSession(castLogistic(DataType.INT32, [1]));
    try {
      const e = await refusal(() => session.score(Float32Array.from([2 ** 31]), 1, 1));
      expect(e.message).toMatch(/has 2147483648 in feature 1 of 1, which is not a whole int32 number/);
    } finally {
      await session.release();
    }
  });
});

describe('ScoringSession.score on a model with two inputs', () => {
  it('says prograde feeds one input and how to export the model with one', async () => {
    const session = await openSession(castLogistic(DataType.FLOAT, [1, 1, 1, 1], ['a', 'b']));
    try {
      const e = await refusal(() => session.score(new Float32Array(8), 2, 4));
      expect(e.code).toBe('SCORE_INPUT_INVALID');
      expect(e.message).toMatch(
        /^prograde feeds each row's 4 feature values to one input tensor \[N,4\], and this model has 2 inputs \(a, b\): export it with one input/,
      );
    } finally {
      await session.release();
    }
  });
});
