import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import { buildLogisticModel } from '../../src/onnx/build';
import { MAX_SUPPORTED_OPSET, defaultDomainOpset, inspectOnnx } from '../../src/onnx/inspect';

const WEIGHTS = Array.from({ length: 12 }, (_, i) => i / 10);

function decodeBase(): onnx.ModelProto {
  return onnx.ModelProto.decode(
    buildLogisticModel({ weights: WEIGHTS, bias: 0, producerName: 'skl2onnx', producerVersion: '1.17.0' }),
  );
}

function encode(model: onnx.ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

function corruptError(bytes: Uint8Array): ProgradeError {
  try {
    inspectOnnx(bytes);
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error('inspectOnnx accepted bytes that are not a model');
}

describe('inspectOnnx', () => {
  it('reads IR version, opsets, signature, producer and size from the ModelProto', () => {
    const bytes = encode(decodeBase());
    const info = inspectOnnx(bytes);
    expect(info).toMatchObject({
      irVersion: 8,
      opsets: [{ domain: '', version: 13 }],
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }],
      outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
      unsupportedInputs: [],
      unsupportedOutputs: [],
      producer: 'skl2onnx 1.17.0',
      externalDataFiles: [],
      sizeBytes: bytes.byteLength,
    });
    expect(defaultDomainOpset(info)).toBe(13);
  });

  it('supports ai.onnx opsets up to 26 (onnxruntime-node 1.30)', () => {
    expect(MAX_SUPPORTED_OPSET).toBe(26);
  });

  it('maps symbolic and unset dims to -1 and keeps fixed dims', () => {
    const model = decodeBase();
    const input = model.graph?.input?.[0];
    input?.type?.tensorType?.shape?.dim?.splice(0, 2, { dimParam: 'N' }, { dimValue: 12 });
    const output = model.graph?.output?.[0];
    output?.type?.tensorType?.shape?.dim?.splice(0, 2, {}, { dimValue: 1 });
    const info = inspectOnnx(encode(model));
    expect(info.inputs[0]?.shape).toEqual([-1, 12]);
    expect(info.outputs[0]?.shape).toEqual([-1, 1]);
  });

  it('maps ONNX element types to prograde dtypes (double → float64, int64 → int64)', () => {
    const model = decodeBase();
    model.graph?.output?.push(
      onnx.ValueInfoProto.create({
        name: 'label',
        type: {
          tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimParam: 'N' }] } },
        },
      }),
    );
    const info = inspectOnnx(encode(model));
    expect(info.outputs).toContainEqual({ name: 'label', dtype: 'int64', shape: [-1] });
    expect(
      inspectOnnx(buildLogisticModel({ weights: WEIGHTS, bias: 0, dtype: 'float64' })).inputs[0]?.dtype,
    ).toBe('float64');
  });

  it('lists values it cannot express as tensor specs, such as a ZipMap sequence of maps or uint16', () => {
    const model = decodeBase();
    model.graph?.output?.push(
      onnx.ValueInfoProto.create({
        name: 'output_probability',
        type: {
          sequenceType: {
            elemType: {
              mapType: {
                keyType: onnx.TensorProto.DataType.INT64,
                valueType: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
              },
            },
          },
        },
      }),
      onnx.ValueInfoProto.create({
        name: 'codes',
        type: {
          tensorType: { elemType: onnx.TensorProto.DataType.UINT16, shape: { dim: [{ dimValue: 3 }] } },
        },
      }),
    );
    const info = inspectOnnx(encode(model));
    expect(info.outputs.map((o) => o.name)).toEqual(['probability']);
    expect(info.unsupportedOutputs).toEqual([
      { name: 'output_probability', type: 'seq(map(int64,tensor(float)))' },
      { name: 'codes', type: 'tensor(uint16)' },
    ]);
  });

  it('does not count initializers listed as graph inputs (IR < 4 style) as inputs', () => {
    const model = decodeBase();
    const weights = model.graph?.initializer?.[0];
    model.graph?.input?.push(
      onnx.ValueInfoProto.create({
        name: weights?.name ?? '',
        type: {
          tensorType: {
            elemType: onnx.TensorProto.DataType.FLOAT,
            shape: { dim: [{ dimValue: 12 }, { dimValue: 1 }] },
          },
        },
      }),
    );
    expect(inspectOnnx(encode(model)).inputs.map((i) => i.name)).toEqual(['features']);
  });

  it('lists each external data file the initializers point to once', () => {
    const model = decodeBase();
    for (const tensor of model.graph?.initializer ?? []) {
      tensor.floatData = [];
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        onnx.StringStringEntryProto.create({ key: 'location', value: 'model.onnx.data' }),
        onnx.StringStringEntryProto.create({ key: 'offset', value: '0' }),
      ];
    }
    expect(model.graph?.initializer?.length).toBeGreaterThan(1);
    expect(inspectOnnx(encode(model)).externalDataFiles).toEqual(['model.onnx.data']);
  });

  it('reports truncated bytes as ONNX_CORRUPT (terminal) with the size in the message', () => {
    const whole = buildLogisticModel({ weights: WEIGHTS, bias: 0 });
    const error = corruptError(whole.slice(0, Math.floor(whole.length / 2)));
    expect(error.code).toBe('ONNX_CORRUPT');
    expect(error.retry).toBe('terminal');
    expect(error.message).toMatch(/corrupt.*\d+ bytes are not an ONNX ModelProto/);
  });

  it('reports bytes that decode to an empty message (no graph) as ONNX_CORRUPT', () => {
    expect(corruptError(new Uint8Array(0)).message).toMatch(/without a graph/);
  });

  it('reports text that is not protobuf as ONNX_CORRUPT', () => {
    expect(corruptError(new TextEncoder().encode('<html>404 Not Found</html>')).code).toBe('ONNX_CORRUPT');
  });
});
