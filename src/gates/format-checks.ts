import {
  MAX_SUPPORTED_OPSET,
  defaultDomainOpset,
  type OnnxModelInfo,
  type UnsupportedValue,
} from '../onnx/inspect';
import { describeScoreColumn, isScoreDtype, pickScoreOutput } from '../onnx/score-output';
import { type TensorSpec } from '../onnx/tensor-spec';
import { type CheckResult } from '../promotion/verdict';

/**
 * The format gate's judging, apart from its I/O (src/gates/format.ts reads the file, opens the
 * session and scores the smoke batch): each function here takes what was read and returns checks,
 * so every rule is testable on plain values.
 */

export type Kind = 'input' | 'output';

export const formatShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export const passed = (
  name: string,
  metric: string,
  message: string,
  extra: Partial<CheckResult> = {},
): CheckResult => ({
  name,
  status: 'passed',
  metric,
  message,
  ...extra,
});
export const failed = (
  name: string,
  metric: string,
  message: string,
  extra: Partial<CheckResult> = {},
): CheckResult => ({
  name,
  status: 'failed',
  metric,
  message,
  ...extra,
});

/** What a model's signature is held against: how it is named in messages, checks and metrics. */
export interface SignatureReference {
  /** Said in messages: "… but the contract says float32". */
  readonly label: string;
  /** Put before each check's name, e.g. `mlflow signature ` (empty for the contract). */
  readonly checkPrefix: string;
  /** Put before each check's metric, `<prefix><kind>_signature`. */
  readonly metricPrefix: string;
  /**
   * A fixed reference dim must be the same fixed dim in the model (the contract); otherwise (a
   * description of the model itself, like an MLflow signature) a free dim on either side matches.
   */
  readonly fixedMustMatch: boolean;
}

/** The serving contract of the spec: the model must declare exactly what it fixes. */
export const CONTRACT: SignatureReference = {
  label: 'the contract',
  checkPrefix: '',
  metricPrefix: '',
  fixedMustMatch: true,
};

export interface SignatureCheckOptions {
  readonly kind: Kind;
  /** What the model declares: its tensors and its values of other types (maps, sequences). */
  readonly model: readonly TensorSpec[];
  readonly unsupported: readonly UnsupportedValue[];
  /** What the reference expects. */
  readonly expected: readonly TensorSpec[];
  readonly reference: SignatureReference;
  /** Whether the model may declare tensors the reference does not list (extra outputs are fine). */
  readonly extrasAllowed: boolean;
  /** Appended to a missing tensor's message, e.g. how to export without ZipMap. */
  readonly hint?: string;
}

/**
 * Differences between what the model declares and what `reference` expects (see
 * `SignatureReference.fixedMustMatch` for how dims compare).
 */
function specProblems(
  kind: Kind,
  actual: TensorSpec,
  expected: TensorSpec,
  reference: SignatureReference,
): string[] {
  const referenceName = reference.label;
  const problems: string[] = [];
  if (actual.dtype !== expected.dtype) {
    problems.push(
      `${kind} '${actual.name}' has dtype ${actual.dtype} but ${referenceName} says ${expected.dtype}`,
    );
  }
  const dimsMatch =
    actual.shape.length === expected.shape.length &&
    actual.shape.every((d, i) => {
      const want = expected.shape[i] ?? -1;
      return want === -1 || d === want || (!reference.fixedMustMatch && d === -1);
    });
  if (!dimsMatch) {
    problems.push(
      `${kind} '${actual.name}' has shape ${formatShape(actual.shape)} but ${referenceName} says ${formatShape(expected.shape)}`,
    );
  }
  return problems;
}

/** A ZipMap output: skl2onnx's default for classifiers, one {class: probability} map per row. */
function zipMapOutputs(info: OnnxModelInfo): OnnxModelInfo['unsupportedOutputs'] {
  return info.unsupportedOutputs.filter((u) => u.type.startsWith('seq(map('));
}

export function zipMapHint(info: OnnxModelInfo): string {
  const zipMaps = zipMapOutputs(info);
  if (zipMaps.length === 0) return '';
  return (
    `; '${zipMaps.map((z) => z.name).join("', '")}' is a ZipMap output (a sequence of maps, one {class: probability} per row), ` +
    'which onnxruntime-node cannot return and prograde cannot score: export the classifier without it, ' +
    "with skl2onnx `to_onnx(clf, X, options={id(clf): {'zipmap': False}})` or onnxmltools `convert_lightgbm(..., zipmap=False)`, " +
    "which gives 'probabilities' as a float tensor [N,2]"
  );
}

/** One check per expected tensor, plus one per tensor the model has beyond them unless extras are allowed. */
export function signatureChecks(options: SignatureCheckOptions): CheckResult[] {
  const { kind, model, unsupported, reference, hint = '' } = options;
  const referenceName = reference.label;
  const metric = `${reference.metricPrefix}${kind}_signature`;
  const prefix = reference.checkPrefix;
  const checks = options.expected.map((expected): CheckResult => {
    const name = `${prefix}${kind} '${expected.name}'`;
    const actual = model.find((s) => s.name === expected.name);
    if (!actual) {
      const other = unsupported.find((u) => u.name === expected.name);
      const why = other
        ? `${kind} '${expected.name}' has type ${other.type} but ${referenceName} says tensor ${expected.dtype}`
        : `the model has no ${kind} '${expected.name}' (it has ${[...model.map((s) => s.name), ...unsupported.map((u) => u.name)].map((n) => `'${n}'`).join(', ') || 'none'})`;
      return failed(name, metric, `${why}${hint}`, { evidence: { expected } });
    }
    const problems = specProblems(kind, actual, expected, reference);
    return problems.length === 0
      ? passed(
          name,
          metric,
          `${kind} '${expected.name}' is ${actual.dtype} ${formatShape(actual.shape)} as ${referenceName} says`,
        )
      : failed(name, metric, problems.join('; '), { evidence: { expected, actual } });
  });
  if (!options.extrasAllowed) {
    const listed = new Set(options.expected.map((s) => s.name));
    for (const extra of [...model.map((s) => s.name), ...unsupported.map((u) => u.name)]) {
      if (listed.has(extra)) continue;
      checks.push(
        failed(
          `${prefix}${kind} '${extra}'`,
          metric,
          `the model has an ${kind} '${extra}' that ${referenceName} does not list`,
        ),
      );
    }
  }
  return checks;
}

export function opsetCheck(info: OnnxModelInfo): CheckResult {
  const opset = defaultDomainOpset(info);
  const name = `opset <= ${MAX_SUPPORTED_OPSET}`;
  const evidence = { opsets: info.opsets };
  if (opset === undefined) return passed(name, 'opset', 'the model imports no ai.onnx opset', { evidence });
  const extra = { value: opset, threshold: MAX_SUPPORTED_OPSET, comparator: '<=' as const, evidence };
  return opset <= MAX_SUPPORTED_OPSET
    ? passed(name, 'opset', `ai.onnx opset ${opset} is supported (up to ${MAX_SUPPORTED_OPSET})`, extra)
    : failed(
        name,
        'opset',
        `ai.onnx opset ${opset} is newer than the ${MAX_SUPPORTED_OPSET} onnxruntime-node 1.30 supports`,
        extra,
      );
}

export function sizeCheck(sizeBytes: number, limit: number): CheckResult {
  const name = `model size <= ${limit} bytes`;
  const extra = { value: sizeBytes, threshold: limit, comparator: '<=' as const };
  return sizeBytes <= limit
    ? passed(
        name,
        'model_size_bytes',
        `the model is ${sizeBytes} bytes, within the ${limit}-byte limit`,
        extra,
      )
    : failed(
        name,
        'model_size_bytes',
        `the model is ${sizeBytes} bytes, over the ${limit}-byte limit`,
        extra,
      );
}

export interface SmokeScores {
  readonly scores: Float32Array;
  readonly rows: number;
  /** `classification` needs scores in [0,1]; `regression` only finite scores. */
  readonly task: 'classification' | 'regression';
  /** The output the scores were read from, for messages. */
  readonly scoreOutput: string;
}

/** Judges the smoke batch's scores: every one finite, and within [0,1] for a classifier. */
export function smokeScoresCheck(smoke: SmokeScores): CheckResult {
  const { scores, rows } = smoke;
  const classification = smoke.task === 'classification';
  const name = 'smoke batch';
  const metric = 'smoke_bad_scores';
  let nonFinite = 0;
  let outOfRange = 0;
  for (const s of scores) {
    if (!Number.isFinite(s)) nonFinite++;
    else if (classification && (s < 0 || s > 1)) outOfRange++;
  }
  const bad = nonFinite + outOfRange;
  const range = classification ? 'finite and within [0,1]' : 'finite';
  const extra = { value: bad, threshold: 0, comparator: '==' as const, sampleSize: rows };
  if (bad === 0)
    return passed(name, metric, `all ${rows} smoke scores from '${smoke.scoreOutput}' are ${range}`, extra);
  const parts = [
    ...(nonFinite > 0 ? [`${nonFinite} are NaN or infinite`] : []),
    ...(outOfRange > 0 ? [`${outOfRange} are outside [0,1]`] : []),
  ];
  return failed(
    name,
    metric,
    `of ${rows} smoke scores from '${smoke.scoreOutput}', ${parts.join(' and ')}`,
    extra,
  );
}

const describeOutputs = (info: OnnxModelInfo): string =>
  [
    ...info.outputs.map((o) => `'${o.name}' ${o.dtype} ${formatShape(o.shape)}`),
    ...info.unsupportedOutputs.map((u) => `'${u.name}' ${u.type}`),
  ].join(', ') || 'none';

/** Which output the scores will be read from, and how, by the rule of src/onnx/score-output.ts. */
export function scoreOutputCheck(
  info: OnnxModelInfo,
  contract: { readonly scoreOutput?: string },
): CheckResult {
  const name = 'score output';
  const metric = 'score_output';
  const chosen = pickScoreOutput(info.outputs, contract.scoreOutput);
  const why = contract.scoreOutput !== undefined ? 'contract.scoreOutput' : 'the first float output';
  if (chosen === undefined) {
    return failed(
      name,
      metric,
      `the model has no float32/float64 output to score (outputs: ${describeOutputs(info)})${zipMapHint(info)}`,
    );
  }
  const spec = info.outputs.find((o) => o.name === chosen);
  if (!spec) {
    const other = info.unsupportedOutputs.find((u) => u.name === chosen);
    return failed(
      name,
      metric,
      other
        ? `score output '${chosen}' has type ${other.type}; scores are read from a float32/float64 tensor${zipMapHint(info)}`
        : `score output '${chosen}' is not an output of the model (outputs: ${describeOutputs(info)})`,
    );
  }
  const shown = `'${spec.name}' ${spec.dtype} ${formatShape(spec.shape)}`;
  if (!isScoreDtype(spec.dtype))
    return failed(
      name,
      metric,
      `score output ${shown} is not float32/float64; scores are read from a float tensor`,
    );
  const how = describeScoreColumn(spec.shape);
  if (how !== undefined) return passed(name, metric, `scores are read from ${shown} (${why}): ${how}`);
  if (spec.shape.length === 2 && spec.shape[1] === -1)
    return passed(
      name,
      metric,
      `scores are read from ${shown} (${why}); its row width is free, so the smoke batch shows whether it is 1 or 2`,
    );
  return failed(
    name,
    metric,
    `score output ${shown} has no score by prograde's rule: it reads [N] or [N,1] as the score and column 1 of [N,2] as P(class 1)`,
  );
}
