import { onnx } from 'onnx-proto';
import { buildLogisticModel } from '../../src/onnx/build';

/**
 * ONNX models that `prograde register` must refuse, each broken in one way. All start from the
 * two-feature logistic model `buildLogisticModel` makes and change one thing in its ModelProto.
 */

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** The good model: features [batch, 2] → probability [batch, 1]. */
export function goodModel(): Uint8Array {
  return buildLogisticModel({ weights: [1, 2], bias: 0 });
}

function mutate(change: (m: onnx.ModelProto) => void): Uint8Array {
  const model = onnx.ModelProto.decode(goodModel());
  change(model);
  return onnx.ModelProto.encode(model).finish();
}

function graph(m: onnx.ModelProto): onnx.GraphProto {
  if (!m.graph) throw new Error('the base model has a graph');
  return m.graph as onnx.GraphProto;
}

export const hostileModels: Record<string, () => Uint8Array> = {
  /** protobuf reads it, onnxruntime has no such operator. */
  'unknown operator': () =>
    mutate((m) => {
      const node = graph(m).node[0];
      if (node) node.opType = 'NoSuchOperator';
    }),
  /** ai.onnx opset 99, past what onnxruntime implements. */
  'opset too new': () =>
    mutate((m) => {
      const opset = m.opsetImport[0];
      if (opset) opset.version = 99;
    }),
  /** IR version 99, a file format onnxruntime cannot read. */
  'IR version too new': () =>
    mutate((m) => {
      m.irVersion = 99;
    }),
  /** The graph's output names a value no node produces. */
  'output produced by no node': () =>
    mutate((m) => {
      const out = graph(m).output[0];
      if (out) out.name = 'nothing_makes_this';
    }),
  /** MatMul of the float input by an int64 initializer: type inference fails. */
  'type mismatch': () =>
    mutate((m) => {
      const w = graph(m).initializer[0];
      if (w) {
        w.dataType = onnx.TensorProto.DataType.INT64;
        w.int64Data = (w.floatData ?? []).map((v) => Math.round(v));
        w.floatData = [];
      }
    }),
  /** A constant model: no inputs at all, onnxruntime loads it happily. */
  'no inputs': () => {
    const value: onnx.ITensorProto = { name: 'value', dims: [1, 1], dataType: FLOAT, floatData: [0.5] };
    const model: onnx.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'constant',
        node: [
          {
            opType: 'Constant',
            output: ['probability'],
            name: 'const',
            attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: value }],
          },
        ],
        output: [
          {
            name: 'probability',
            type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 1 }] } } },
          },
        ],
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  },
  /** Inputs but no outputs. */
  'no outputs': () =>
    mutate((m) => {
      graph(m).output = [];
    }),
  /** The input is a sequence of tensors, which prograde cannot feed. */
  'sequence input': () =>
    mutate((m) => {
      const input = graph(m).input[0];
      if (input)
        input.type = onnx.TypeProto.create({
          sequenceType: { elemType: { tensorType: { elemType: FLOAT } } },
        });
    }),
  /** Weights kept in a file beside the model, which a registry version would not carry. */
  'external weights': () =>
    mutate((m) => {
      const w = graph(m).initializer[0];
      if (w) {
        w.floatData = [];
        w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        w.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: 'weights.bin' })];
      }
    }),
  /** A dimension of -5, which no tensor has. */
  'negative dimension': () =>
    mutate((m) => {
      const dim = graph(m).input[0]?.type?.tensorType?.shape?.dim?.[1];
      if (dim) dim.dimValue = -5;
    }),
  /** The first half of a good model's bytes. */
  truncated: () => {
    const bytes = goodModel();
    return bytes.slice(0, Math.floor(bytes.length / 2));
  },
  /** Bytes that are no protobuf at all. */
  garbage: () => Buffer.from('this is not a protobuf \u0000\u00ff\u00fe'.repeat(10), 'latin1'),
};
