import { describe, expect, it } from 'vitest';
import { checkInvocation, checkV2, parseV2 } from '../../src/serving/request-tensors';
import type { ModelSignature } from '../../src/serving/worker/messages';

const signature: ModelSignature = {
  inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 3] }],
  outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
};
const two: ModelSignature = {
  inputs: [
    { name: 'a', dtype: 'float32', shape: [-1, 2] },
    { name: 'b', dtype: 'int64', shape: [-1, 1] },
  ],
  outputs: signature.outputs,
};

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('request tensors – v2 bodies', () => {
  it('builds a float32 tensor from flat or nested data', () => {
    const flat = checkV2(
      signature,
      parseV2({ inputs: [{ name: 'features', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }),
    );
    const nested = checkV2(
      signature,
      parseV2({
        inputs: [
          {
            name: 'features',
            shape: [2, 3],
            datatype: 'FP32',
            data: [
              [1, 2, 3],
              [4, 5, 6],
            ],
          },
        ],
      }),
    );
    expect(flat.rows).toBe(2);
    expect(flat.inputs[0]?.data).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    expect(nested.inputs[0]?.data).toEqual(flat.inputs[0]?.data);
  });

  it('names the tensor and the expected vs given datatype', () => {
    expect(
      message(() =>
        checkV2(
          signature,
          parseV2({ inputs: [{ name: 'features', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] }] }),
        ),
      ),
    ).toBe("input 'features': expected datatype FP32, got INT64");
  });

  it('names the tensor and the expected vs given shape', () => {
    expect(
      message(() =>
        checkV2(
          signature,
          parseV2({ inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
        ),
      ),
    ).toBe("input 'features': expected shape [-1,3], got [1,4]");
    expect(
      message(() =>
        checkV2(
          signature,
          parseV2({ inputs: [{ name: 'features', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] }),
        ),
      ),
    ).toBe("input 'features': expected shape [-1,3], got [3]");
  });

  it('refuses data that does not fill the declared shape, or is not numeric', () => {
    expect(
      message(() =>
        checkV2(
          signature,
          parseV2({ inputs: [{ name: 'features', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3] }] }),
        ),
      ),
    ).toBe("input 'features': shape [2,3] needs 6 values, got 3");
    expect(
      message(() =>
        checkV2(
          signature,
          parseV2({ inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 'x', 3] }] }),
        ),
      ),
    ).toBe("input 'features': data must be numbers, found string");
  });

  it('refuses missing, unknown and disagreeing inputs', () => {
    expect(
      message(() =>
        checkV2(two, parseV2({ inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] })),
      ),
    ).toBe("missing input 'b'; the model takes 'a', 'b'");
    expect(
      message(() =>
        checkV2(
          two,
          parseV2({
            inputs: [
              { name: 'a', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
              { name: 'b', shape: [1, 1], datatype: 'INT64', data: [1] },
            ],
          }),
        ),
      ),
    ).toBe("inputs disagree on the number of rows (2 vs 1 for 'b')");
    expect(message(() => parseV2({ inputs: [] }))).toMatch(/^invalid v2 inference request at inputs/);
  });

  it('refuses fractions for an integer input', () => {
    expect(
      message(() =>
        checkV2(
          two,
          parseV2({
            inputs: [
              { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
              { name: 'b', shape: [1, 1], datatype: 'INT64', data: [1.5] },
            ],
          }),
        ),
      ),
    ).toBe("input 'b': expected INT64 integers (|n| ≤ 9007199254740991 in JSON), element 0 is 1.5");
  });
});

describe('request tensors – MLflow scoring bodies', () => {
  const expected = new Float32Array([1, 2, 3, 4, 5, 6]);
  it.each([
    [
      'inputs',
      {
        inputs: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      },
    ],
    [
      'named inputs',
      {
        inputs: {
          features: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
      },
    ],
    [
      'instances',
      {
        instances: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      },
    ],
    ['named instances', { instances: [{ features: [1, 2, 3] }, { features: [4, 5, 6] }] }],
    [
      'dataframe_split',
      {
        dataframe_split: {
          columns: ['x', 'y', 'z'],
          data: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
      },
    ],
    [
      'dataframe_records',
      {
        dataframe_records: [
          { x: 1, y: 2, z: 3 },
          { x: 4, y: 5, z: 6 },
        ],
      },
    ],
  ])('reads %s into the model input', (_name, body) => {
    const checked = checkInvocation(signature, body);
    expect(checked.rows).toBe(2);
    expect(checked.inputs[0]?.data).toEqual(expected);
  });

  it('refuses bodies with none or several formats, ragged rows and records missing a column', () => {
    expect(message(() => checkInvocation(signature, { foo: 1 }))).toBe(
      'body must have exactly one of inputs, instances, dataframe_split, dataframe_records; found none',
    );
    expect(
      message(() => checkInvocation(signature, { inputs: [[1, 2, 3]], instances: [[1, 2, 3]] })),
    ).toMatch(/found inputs, instances$/);
    expect(
      message(() =>
        checkInvocation(signature, {
          inputs: [
            [1, 2, 3],
            [4, 5],
          ],
        }),
      ),
    ).toBe("'inputs': rows have different lengths ([3] vs [2])");
    expect(
      message(() =>
        checkInvocation(signature, {
          dataframe_records: [
            { x: 1, y: 2, z: 3 },
            { x: 4, y: 5 },
          ],
        }),
      ),
    ).toBe("'dataframe_records'[1] lacks column 'z'");
    expect(message(() => checkInvocation(signature, { inputs: [[1, 2]] }))).toBe(
      "input 'features': expected shape [-1,3], got [1,2]",
    );
  });

  it('needs named inputs for a dataframe sent to a multi-input model', () => {
    expect(message(() => checkInvocation(two, { dataframe_split: { data: [[1, 2, 3]] } }))).toBe(
      "'dataframe_split' needs named inputs: the model takes 'a', 'b'",
    );
  });
});
