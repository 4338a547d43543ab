import {
  describeSignatureTensor,
  type MlflowSignature,
  type SignatureColumn,
  type SignatureSchema,
  type SignatureTensor,
} from '../mlflow/signature';
import { type OnnxModelInfo, type UnsupportedValue } from '../onnx/inspect';
import { type TensorSpec } from '../onnx/tensor-spec';
import { type CheckResult } from '../promotion/verdict';

/**
 * The format gate's checks of the ONNX graph against the version's MLflow signature, for every
 * signature form the Python client writes. The signature is the model's own description, so the
 * checks ask one question: would MLflow, feeding rows the way the signature says, reach this graph?
 *
 * - Named tensor inputs match graph inputs by name; unnamed ones by position (MLflow feeds a bare
 *   array to the graph's first input).
 * - A column-based (DataFrame) signature maps onto one 2-D input: the columns, in order, are its
 *   columns, and they must be numeric.
 * - A float64 spec over a float32 input passes: MLflow's ONNX flavour casts float64 to float32
 *   before onnxruntime runs. Other dtype differences fail.
 * - Outputs are advisory: MLflow never checks them, and the estimator's predict/predict_proba that
 *   `infer_signature` saw are not skl2onnx's `label`/`probabilities`. Each is matched by name, else
 *   by dtype kind and shape; only a named match that contradicts the graph fails.
 */

const prefix = 'mlflow signature';

const passed = (name: string, metric: string, message: string, evidence?: Record<string, unknown>) =>
  ({ name, status: 'passed', metric, message, ...(evidence ? { evidence } : {}) }) as const;
const failed = (name: string, metric: string, message: string, evidence?: Record<string, unknown>) =>
  ({ name, status: 'failed', metric, message, ...(evidence ? { evidence } : {}) }) as const;

const shapeText = (shape: readonly number[]): string => `[${shape.join(',')}]`;
const specText = (s: TensorSpec): string => `'${s.name}' ${s.dtype} ${shapeText(s.shape)}`;
const quoteAll = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ') || 'none';

/** A free dim on either side matches; fixed dims must agree. */
function shapesAgree(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

type DtypeKind = 'float' | 'int' | 'bool' | 'string' | 'other';

function kindOf(dtype: string): DtypeKind {
  if (/^float(16|32|64)$/.test(dtype)) return 'float';
  if (/^u?int(8|16|32|64)$/.test(dtype)) return 'int';
  if (dtype === 'bool') return 'bool';
  if (dtype === 'string' || dtype === 'str' || dtype === 'object' || dtype === 'bytes') return 'string';
  return 'other';
}

/** Why MLflow could not feed a `declared` spec to a graph input of `actual`, or undefined when it can. */
function inputDtypeProblem(declared: string, actual: TensorSpec): string | undefined {
  if (declared === actual.dtype) return undefined;
  // mlflow.onnx's pyfunc casts float64 feeds to float32 when the graph takes float32.
  if (declared === 'float64' && actual.dtype === 'float32') return undefined;
  return `input '${actual.name}' is ${actual.dtype} but the MLflow signature says ${declared}`;
}

function tensorInputCheck(
  name: string,
  declared: SignatureTensor,
  actual: TensorSpec,
  how: string,
): CheckResult {
  const metric = 'mlflow_input_signature';
  const problems = [
    inputDtypeProblem(declared.dtype, actual),
    shapesAgree(declared.shape, actual.shape)
      ? undefined
      : `input '${actual.name}' has shape ${shapeText(actual.shape)} but the MLflow signature says ${shapeText(declared.shape)}`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) return failed(name, metric, problems.join('; '), { declared, actual });
  const cast =
    declared.dtype !== actual.dtype ? '; MLflow casts float64 rows to float32 before onnxruntime runs' : '';
  return passed(
    name,
    metric,
    `input ${specText(actual)} is what the MLflow signature says (${describeSignatureTensor(declared)}, ${how})${cast}`,
  );
}

function unsupportedInputMessage(u: UnsupportedValue, declared: string): string {
  return `input '${u.name}' has type ${u.type} but the MLflow signature says tensor ${declared}`;
}

function tensorInputChecks(info: OnnxModelInfo, tensors: readonly SignatureTensor[]): CheckResult[] {
  const metric = 'mlflow_input_signature';
  const graphNames = [...info.inputs.map((s) => s.name), ...info.unsupportedInputs.map((u) => u.name)];
  if (tensors.every((t) => t.name === undefined)) {
    // MLflow feeds unnamed inputs by position; a bare numpy array goes to the graph's only input.
    if (tensors.length !== graphNames.length) {
      return [
        failed(
          `${prefix} inputs`,
          metric,
          `the MLflow signature lists ${tensors.length} unnamed input${tensors.length === 1 ? '' : 's'} but the model has ${graphNames.length} (${quoteAll(graphNames)}); MLflow matches unnamed inputs by position`,
        ),
      ];
    }
    return tensors.map((declared, i) => {
      const name = `${prefix} input ${i}`;
      const actual = info.inputs[i];
      const unsupported = info.unsupportedInputs.find((u) => u.name === graphNames[i]);
      if (unsupported || !actual)
        return failed(
          name,
          metric,
          unsupportedInputMessage(unsupported ?? { name: '?', type: '?' }, declared.dtype),
        );
      return tensorInputCheck(name, declared, actual, `matched by position ${i}`);
    });
  }
  const checks = tensors.map((declared, i) => {
    const label = declared.name ?? `#${i}`;
    const name = `${prefix} input '${label}'`;
    const actual = info.inputs.find((s) => s.name === declared.name);
    if (actual) return tensorInputCheck(name, declared, actual, 'matched by name');
    const unsupported = info.unsupportedInputs.find((u) => u.name === declared.name);
    return failed(
      name,
      metric,
      unsupported
        ? unsupportedInputMessage(unsupported, declared.dtype)
        : `the model has no input '${label}' (it has ${quoteAll(graphNames)}); MLflow feeds named inputs by name`,
      { declared },
    );
  });
  const listed = new Set(tensors.map((t) => t.name));
  for (const extra of graphNames) {
    if (!listed.has(extra))
      checks.push(
        failed(
          `${prefix} input '${extra}'`,
          metric,
          `the model has an input '${extra}' that the MLflow signature does not list`,
        ),
      );
  }
  return checks;
}

const NUMERIC_COLUMNS: Readonly<Record<string, DtypeKind>> = {
  double: 'float',
  float: 'float',
  long: 'int',
  integer: 'int',
  boolean: 'bool',
};

function columnInputChecks(info: OnnxModelInfo, columns: readonly SignatureColumn[]): CheckResult[] {
  const name = `${prefix} columns`;
  const metric = 'mlflow_input_signature';
  const evidence = { columns };
  const graphNames = [...info.inputs.map((s) => s.name), ...info.unsupportedInputs.map((u) => u.name)];
  const nonNumeric = columns.filter((c) => NUMERIC_COLUMNS[c.type] === undefined);
  if (graphNames.length > 1) {
    // MLflow feeds a DataFrame to a many-input graph one column per input, by name.
    const names = new Set(columns.map((c) => c.name));
    const missing = graphNames.filter((n) => !names.has(n));
    return [
      missing.length === 0
        ? passed(
            name,
            metric,
            `each of the model's inputs ${quoteAll(graphNames)} is a column of the MLflow signature`,
            evidence,
          )
        : failed(
            name,
            metric,
            `the model has ${graphNames.length} inputs and MLflow feeds a DataFrame to them by column name, but the signature has no column ${quoteAll(missing)}`,
            evidence,
          ),
    ];
  }
  const input = info.inputs[0];
  if (!input) {
    const u = info.unsupportedInputs[0];
    return [
      failed(name, metric, u ? unsupportedInputMessage(u, 'columns') : 'the model has no input', evidence),
    ];
  }
  const problems: string[] = [];
  if (input.shape.length !== 2)
    problems.push(
      `a DataFrame signature maps onto one 2-D input, but input '${input.name}' has shape ${shapeText(input.shape)}`,
    );
  const width = input.shape[1] ?? -1;
  if (input.shape.length === 2 && width !== -1 && width !== columns.length)
    problems.push(
      `the MLflow signature has ${columns.length} columns but input '${input.name}' takes ${width} values per row`,
    );
  if (nonNumeric.length > 0)
    problems.push(
      `column${nonNumeric.length > 1 ? 's' : ''} ${nonNumeric.map((c) => `'${c.name ?? '?'}' (${c.type})`).join(', ')} ${nonNumeric.length > 1 ? 'are' : 'is'} not numeric, and the columns become one ${input.dtype} tensor`,
    );
  const inputKind = kindOf(input.dtype);
  const floatColumns = columns.filter((c) => NUMERIC_COLUMNS[c.type] === 'float');
  if (inputKind !== 'float' && floatColumns.length > 0)
    problems.push(
      `input '${input.name}' is ${input.dtype} but column${floatColumns.length > 1 ? 's' : ''} ${quoteAll(floatColumns.map((c) => c.name ?? '?'))} hold${floatColumns.length > 1 ? '' : 's'} floating-point values`,
    );
  if (problems.length > 0) return [failed(name, metric, problems.join('; '), evidence)];
  const types = [...new Set(columns.map((c) => c.type))].join('/');
  return [
    passed(
      name,
      metric,
      `the MLflow signature's ${columns.length} ${types} columns are the ${columns.length} values per row of input ${specText(input)}, in signature order`,
      evidence,
    ),
  ];
}

/**
 * When the signature's columns are the evaluation features under another order, the holdout set
 * would reach the model with its columns swapped.
 */
function columnOrderCheck(columns: readonly SignatureColumn[], features: readonly string[]): CheckResult[] {
  const names = columns.map((c) => c.name);
  const sameSet =
    names.length === features.length &&
    new Set(names).size === names.length &&
    features.every((f) => names.includes(f));
  if (!sameSet) return [];
  const name = `${prefix} column order`;
  const metric = 'mlflow_column_order';
  const firstDiff = features.findIndex((f, i) => names[i] !== f);
  if (firstDiff < 0)
    return [
      passed(name, metric, 'the MLflow signature lists its columns in the order of evaluation.features'),
    ];
  return [
    failed(
      name,
      metric,
      `the MLflow signature puts column '${names[firstDiff] ?? '?'}' at position ${firstDiff} where evaluation.features has '${features[firstDiff] ?? '?'}'; the model would be scored on swapped columns`,
      { signature: names, features },
    ),
  ];
}

const COLUMN_DTYPES: Readonly<Record<string, string>> = {
  double: 'float64',
  float: 'float32',
  long: 'int64',
  integer: 'int32',
  boolean: 'bool',
  string: 'string',
};

function outputTensors(schema: SignatureSchema): SignatureTensor[] {
  if (schema.kind === 'tensor') return schema.tensors;
  return schema.columns.map((c) => ({
    ...(c.name !== undefined ? { name: c.name } : {}),
    dtype: COLUMN_DTYPES[c.type] ?? c.type,
    shape: [-1],
  }));
}

/** Same dtype kind, and the same shape or both one value per row ([N] and [N,1]). */
function outputFits(declared: SignatureTensor, actual: TensorSpec): boolean {
  if (kindOf(declared.dtype) !== kindOf(actual.dtype)) return false;
  const oneValue = (shape: readonly number[]) => shape.length === 1 || (shape.length === 2 && shape[1] === 1);
  return shapesAgree(declared.shape, actual.shape) || (oneValue(declared.shape) && oneValue(actual.shape));
}

function outputCheck(info: OnnxModelInfo, schema: SignatureSchema): CheckResult {
  const name = `${prefix} outputs`;
  const metric = 'mlflow_output_signature';
  const taken = new Set<string>();
  const matched: string[] = [];
  const unmatched: string[] = [];
  const conflicts: string[] = [];
  for (const declared of outputTensors(schema)) {
    const byName = info.outputs.find((o) => o.name === declared.name);
    if (byName) {
      taken.add(byName.name);
      if (outputFits(declared, byName)) matched.push(`'${byName.name}' by name`);
      else
        conflicts.push(
          `output ${specText(byName)} is not what the MLflow signature says (${describeSignatureTensor(declared)})`,
        );
      continue;
    }
    const byValue = info.outputs.find((o) => !taken.has(o.name) && outputFits(declared, o));
    if (byValue) {
      taken.add(byValue.name);
      matched.push(`${describeSignatureTensor(declared)} as ${specText(byValue)}`);
    } else unmatched.push(describeSignatureTensor(declared));
  }
  const evidence = { declared: outputTensors(schema) };
  if (conflicts.length > 0) return failed(name, metric, conflicts.join('; '), evidence);
  const graph = [
    ...info.outputs.map(specText),
    ...info.unsupportedOutputs.map((u) => `'${u.name}' ${u.type}`),
  ].join(', ');
  const parts = [
    ...(matched.length > 0 ? [`matches ${matched.join(', ')}`] : []),
    ...(unmatched.length > 0
      ? [`${unmatched.join(', ')} matches no tensor output of the model (${graph || 'none'})`]
      : []),
  ];
  return passed(
    name,
    metric,
    `the MLflow signature's outputs are advisory (MLflow does not check them): ${parts.join('; ')}`,
    evidence,
  );
}

/** Every check of the graph against the MLflow signature; `features` are the evaluation's feature columns. */
export function mlflowSignatureChecks(
  info: OnnxModelInfo,
  signature: MlflowSignature,
  features?: readonly string[],
): CheckResult[] {
  const { inputs, outputs } = signature;
  const checks =
    inputs.kind === 'tensor'
      ? tensorInputChecks(info, inputs.tensors)
      : [...columnInputChecks(info, inputs.columns), ...columnOrderCheck(inputs.columns, features ?? [])];
  if (outputs) checks.push(outputCheck(info, outputs));
  return checks;
}
