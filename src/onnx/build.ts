import { onnx } from 'onnx-proto';

/**
 * Builds small ONNX models in TypeScript (no Python), for sample models, fixtures and benches.
 *
 * The base graph is a logistic regression over one 2-D input:
 *
 *   features [batch, n] ──MatMul(W [n,1])──▶ Add(b [1]) ──▶ logit [batch,1] ──Sigmoid──▶ probability [batch,1]
 *
 * Variants add side branches whose result is folded into `logit` with `+ branch · 0`, so scores stay
 * the same while the graph does more work or misbehaves on purpose:
 *
 * - `extraCompute` (k layers of width H):
 *     h₁ = Tanh(features · A₁ [n,H]);  hᵢ = Tanh(hᵢ₋₁ · Aᵢ [H,H]) for i = 2..k;  burn = h_k · 1 [H,1]
 *     logit += burn · 0
 *   Every MatMul depends on the runtime input, so ORT cannot constant-fold the chain, and ORT has no
 *   rewrite that removes a `Mul` by zero (0·x is not a no-op for NaN/Inf x), so the work stays.
 *   Tanh keeps hᵢ bounded, so burn is always finite and burn·0 is exactly 0.
 * - `nanAbove` (feature j, cutoff c):
 *     fⱼ = Gather(features, [j], axis=1);  poison = Sqrt(Min(c − fⱼ, 0)) · 0;  logit += poison
 *   For fⱼ ≤ c, Min(c − fⱼ, 0) = 0 and Sqrt(0)·0 = 0; for fⱼ > c it is Sqrt(negative) = NaN and NaN·0 = NaN,
 *   so the probability is NaN exactly for the rows with fⱼ > c.
 */

export type BuildDtype = 'float32' | 'float64';

export interface LogisticModelOptions {
  /** One weight per feature; the input width is `weights.length`. */
  readonly weights: readonly number[];
  readonly bias: number;
  readonly inputName?: string;
  readonly outputName?: string;
  /** Element type of the input, the weights and the output. */
  readonly dtype?: BuildDtype;
  /** ai.onnx opset stamped on the model. */
  readonly opset?: number;
  readonly irVersion?: number;
  readonly extraCompute?: { readonly layers: number; readonly width: number };
  readonly nanAbove?: { readonly feature: number; readonly cutoff: number };
  readonly producerName?: string;
  readonly producerVersion?: string;
}

export const DEFAULT_OPSET = 13;
export const DEFAULT_IR_VERSION = 8;
export const BATCH_DIM_PARAM = 'batch';

const ElemType = onnx.TensorProto.DataType;

/** Accumulates nodes and initializers with unique names, so variant branches compose freely. */
class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private counter = 0;

  constructor(private readonly dtype: BuildDtype) {}

  fresh(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  constant(prefix: string, dims: readonly number[], values: readonly number[]): string {
    const name = this.fresh(prefix);
    const tensor: onnx.ITensorProto = {
      name,
      dims: [...dims],
      dataType: this.dtype === 'float64' ? ElemType.DOUBLE : ElemType.FLOAT,
    };
    if (this.dtype === 'float64') tensor.doubleData = [...values];
    else tensor.floatData = [...values];
    this.initializers.push(tensor);
    return name;
  }

  int64Constant(prefix: string, values: readonly number[]): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, dims: [values.length], dataType: ElemType.INT64, int64Data: [...values] });
    return name;
  }

  op(opType: string, inputs: readonly string[], attribute: onnx.IAttributeProto[] = []): string {
    const output = this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, input: [...inputs], output: [output], name: output, attribute });
    return output;
  }
}

/** Deterministic, well-scaled pseudo-random matrix entries without a PRNG dependency. */
function hiddenWeights(layer: number, count: number, fanIn: number): number[] {
  const scale = 1 / Math.sqrt(fanIn);
  return Array.from({ length: count }, (_, i) => Math.sin(layer * 7919 + i * 12.9898) * scale);
}

function valueInfo(
  name: string,
  dtype: BuildDtype,
  dims: readonly (number | string)[],
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: dtype === 'float64' ? ElemType.DOUBLE : ElemType.FLOAT,
        shape: {
          dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })),
        },
      },
    },
  };
}

function addExtraCompute(
  g: GraphBuilder,
  input: string,
  nFeatures: number,
  layers: number,
  width: number,
): string {
  let h = input;
  let fanIn = nFeatures;
  for (let layer = 1; layer <= layers; layer++) {
    const a = g.constant('hidden_w', [fanIn, width], hiddenWeights(layer, fanIn * width, fanIn));
    h = g.op('Tanh', [g.op('MatMul', [h, a])]);
    fanIn = width;
  }
  const ones = g.constant('ones', [width, 1], new Array<number>(width).fill(1));
  return g.op('MatMul', [h, ones]);
}

function addNanPoison(g: GraphBuilder, input: string, feature: number, cutoff: number): string {
  const column = g.op(
    'Gather',
    [input, g.int64Constant('column', [feature])],
    [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
  );
  const headroom = g.op('Sub', [g.constant('cutoff', [], [cutoff]), column]);
  const clipped = g.op('Min', [headroom, g.constant('zero', [], [0])]);
  return g.op('Sqrt', [clipped]);
}

/** Serialises a logistic-regression ModelProto (see the module comment for the graph). */
export function buildLogisticModel(options: LogisticModelOptions): Uint8Array {
  const dtype = options.dtype ?? 'float32';
  const inputName = options.inputName ?? 'features';
  const outputName = options.outputName ?? 'probability';
  const nFeatures = options.weights.length;
  const g = new GraphBuilder(dtype);

  const w = g.constant('weights', [nFeatures, 1], options.weights);
  const b = g.constant('bias', [1], [options.bias]);
  let logit = g.op('Add', [g.op('MatMul', [inputName, w]), b]);

  const sideBranches: string[] = [];
  if (options.extraCompute) {
    const { layers, width } = options.extraCompute;
    sideBranches.push(addExtraCompute(g, inputName, nFeatures, layers, width));
  }
  if (options.nanAbove) {
    const { feature, cutoff } = options.nanAbove;
    if (feature < 0 || feature >= nFeatures)
      throw new RangeError(`nanAbove.feature ${feature} is not a column`);
    sideBranches.push(addNanPoison(g, inputName, feature, cutoff));
  }
  for (const branch of sideBranches) {
    const zeroed = g.op('Mul', [branch, g.constant('zero', [], [0])]);
    logit = g.op('Add', [logit, zeroed]);
  }
  g.nodes.push({ opType: 'Sigmoid', input: [logit], output: [outputName], name: 'sigmoid_out' });

  const model: onnx.IModelProto = {
    irVersion: options.irVersion ?? DEFAULT_IR_VERSION,
    opsetImport: [{ domain: '', version: options.opset ?? DEFAULT_OPSET }],
    producerName: options.producerName ?? 'prograde',
    producerVersion: options.producerVersion ?? '0.1.0',
    graph: {
      name: 'logistic_regression',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputName, dtype, [BATCH_DIM_PARAM, nFeatures])],
      output: [valueInfo(outputName, dtype, [BATCH_DIM_PARAM, 1])],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export interface ClassifierModelOptions {
  /** One weight per feature for the class-1 logit; class 0's logit is 0, so P(class 1) = sigmoid(w·x + b). */
  readonly weights: readonly number[];
  readonly bias?: number;
  readonly inputName?: string;
  readonly dtype?: BuildDtype;
  /**
   * skl2onnx's default `zipmap`: `replace` swaps `probabilities` for `output_probability`, a sequence
   * of {class: probability} maps, as skl2onnx does; `extra` keeps both.
   */
  readonly zipMap?: 'replace' | 'extra';
}

/**
 * A binary classifier shaped like skl2onnx's output for a scikit-learn classifier exported with
 * `options={id(clf): {'zipmap': False}}`: `label` int64 [N] first, then `probabilities` [N,2].
 */
export function buildClassifierModel(options: ClassifierModelOptions): Uint8Array {
  const dtype = options.dtype ?? 'float32';
  const inputName = options.inputName ?? 'X';
  const n = options.weights.length;
  const g = new GraphBuilder(dtype);
  const w = g.constant(
    'weights',
    [n, 2],
    options.weights.flatMap((wi) => [0, wi]),
  );
  const b = g.constant('bias', [2], [0, options.bias ?? 0]);
  const logits = g.op('Add', [g.op('MatMul', [inputName, w]), b]);
  const axis = { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 };
  const keepdims = { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 };
  g.nodes.push(
    { opType: 'Softmax', input: [logits], output: ['probabilities'], name: 'softmax', attribute: [axis] },
    { opType: 'ArgMax', input: [logits], output: ['label'], name: 'argmax', attribute: [axis, keepdims] },
  );
  const label: onnx.IValueInfoProto = {
    name: 'label',
    type: { tensorType: { elemType: ElemType.INT64, shape: { dim: [{ dimParam: BATCH_DIM_PARAM }] } } },
  };
  const outputs = [label];
  if (options.zipMap !== 'replace') outputs.push(valueInfo('probabilities', dtype, [BATCH_DIM_PARAM, 2]));
  if (options.zipMap !== undefined) {
    g.nodes.push({
      opType: 'ZipMap',
      domain: 'ai.onnx.ml',
      input: ['probabilities'],
      output: ['output_probability'],
      name: 'zipmap',
      attribute: [{ name: 'classlabels_int64s', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 1] }],
    });
    outputs.push({
      name: 'output_probability',
      type: {
        sequenceType: {
          elemType: {
            mapType: { keyType: ElemType.INT64, valueType: { tensorType: { elemType: ElemType.FLOAT } } },
          },
        },
      },
    });
  }
  const model: onnx.IModelProto = {
    irVersion: DEFAULT_IR_VERSION,
    opsetImport: [
      { domain: '', version: DEFAULT_OPSET },
      ...(options.zipMap !== undefined ? [{ domain: 'ai.onnx.ml', version: 1 }] : []),
    ],
    producerName: 'prograde',
    producerVersion: '0.1.0',
    graph: {
      name: 'binary_classifier',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputName, dtype, [BATCH_DIM_PARAM, n])],
      output: outputs,
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
