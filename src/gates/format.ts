import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidInputError, ProgradeError, messageOf } from '../errors';
import { type MlflowSignature } from '../mlflow/signature';
import { MAX_SUPPORTED_OPSET, defaultDomainOpset, inspectOnnx, type OnnxModelInfo } from '../onnx/inspect';
import { describeScoreColumn, isScoreDtype, pickScoreOutput } from '../onnx/score-output';
import { openSession, type ScoringSession } from '../onnx/session';
import { type TensorSpec } from '../onnx/tensor-spec';
import { mlflowSignatureChecks } from './format-signature';
import { type CheckResult, type GateVerdict, combine } from '../promotion/verdict';

/**
 * The format gate: can this artifact be served in place of the champion at all? It decodes the
 * ModelProto, checks opset and size, loads it in onnxruntime, holds its signature against the serving
 * contract (and the MLflow signature when the version has one, see `./format-signature`), says which
 * output will be scored, and scores a smoke batch. Without an MLflow signature the contract alone
 * rules. Every problem is a failed check in the verdict, never a throw — a corrupt model is a finding.
 */

export interface FormatContract {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly maxModelSizeBytes?: number;
  /** Output whose values are scored; default: the first float output (see src/onnx/score-output.ts). */
  readonly scoreOutput?: string;
}

export type ModelSource = { readonly bytes: Uint8Array } | { readonly path: string };

export type CheckFormatInput = ModelSource & {
  readonly contract: FormatContract;
  readonly mlflowSignature?: MlflowSignature;
  /** The evaluation's feature columns, in the order the rows are fed; checked against a column signature. */
  readonly features?: readonly string[];
  /** Row-major smoke rows; their width is `smokeFeatures`, else the last dim of the contract's first input. */
  readonly smoke: Float32Array;
  readonly smokeFeatures?: number;
  /** `classification` (default) needs scores in [0,1]; `regression` only finite scores. */
  readonly task?: 'classification' | 'regression';
};

type Kind = 'input' | 'output';

const formatShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

const passed = (
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
const failed = (
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

/**
 * Differences between what the model declares and what `reference` expects. With `fixedMustMatch`
 * (the contract) a fixed reference dim must be the same fixed dim in the model; otherwise (an MLflow
 * signature, itself a description of the model) a free dim on either side matches.
 */
function specProblems(
  kind: Kind,
  actual: TensorSpec,
  expected: TensorSpec,
  referenceName: string,
  fixedMustMatch: boolean,
): string[] {
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
      return want === -1 || d === want || (!fixedMustMatch && d === -1);
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

function zipMapHint(info: OnnxModelInfo): string {
  const zipMaps = zipMapOutputs(info);
  if (zipMaps.length === 0) return '';
  return (
    `; '${zipMaps.map((z) => z.name).join("', '")}' is a ZipMap output (a sequence of maps, one {class: probability} per row), ` +
    'which onnxruntime-node cannot return and prograde cannot score: export the classifier without it, ' +
    "with skl2onnx `to_onnx(clf, X, options={id(clf): {'zipmap': False}})` or onnxmltools `convert_lightgbm(..., zipmap=False)`, " +
    "which gives 'probabilities' as a float tensor [N,2]"
  );
}

function signatureChecks(
  kind: Kind,
  model: readonly TensorSpec[],
  unsupported: OnnxModelInfo['unsupportedInputs'],
  reference: readonly TensorSpec[],
  referenceName: string,
  fixedMustMatch: boolean,
  extrasAllowed: boolean,
  hint = '',
): CheckResult[] {
  const metric = referenceName === 'the contract' ? `${kind}_signature` : `mlflow_${kind}_signature`;
  const prefix = referenceName === 'the contract' ? '' : 'mlflow signature ';
  const checks = reference.map((expected): CheckResult => {
    const name = `${prefix}${kind} '${expected.name}'`;
    const actual = model.find((s) => s.name === expected.name);
    if (!actual) {
      const other = unsupported.find((u) => u.name === expected.name);
      const why = other
        ? `${kind} '${expected.name}' has type ${other.type} but ${referenceName} says tensor ${expected.dtype}`
        : `the model has no ${kind} '${expected.name}' (it has ${[...model.map((s) => s.name), ...unsupported.map((u) => u.name)].map((n) => `'${n}'`).join(', ') || 'none'})`;
      return failed(name, metric, `${why}${hint}`, { evidence: { expected } });
    }
    const problems = specProblems(kind, actual, expected, referenceName, fixedMustMatch);
    return problems.length === 0
      ? passed(
          name,
          metric,
          `${kind} '${expected.name}' is ${actual.dtype} ${formatShape(actual.shape)} as ${referenceName} says`,
        )
      : failed(name, metric, problems.join('; '), { evidence: { expected, actual } });
  });
  if (!extrasAllowed) {
    const listed = new Set(reference.map((s) => s.name));
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

function opsetCheck(info: OnnxModelInfo): CheckResult {
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

async function totalSizeBytes(info: OnnxModelInfo, source: ModelSource): Promise<number> {
  if (!('path' in source)) return info.sizeBytes;
  // External data lives next to the model and is loaded with it, so it counts.
  const sizes = await Promise.all(
    info.externalDataFiles.map(async (file) => {
      try {
        return (await stat(join(dirname(source.path), file))).size;
      } catch {
        return 0;
      }
    }),
  );
  return sizes.reduce((a, b) => a + b, info.sizeBytes);
}

function sizeCheck(sizeBytes: number, limit: number): CheckResult {
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

function smokeWidth(input: CheckFormatInput): number {
  const width = input.smokeFeatures ?? input.contract.inputs[0]?.shape.at(-1) ?? -1;
  if (width <= 0) {
    throw new InvalidInputError(
      'checkFormat needs smokeFeatures when the contract does not fix the input width',
      {
        contractInputs: input.contract.inputs,
      },
    );
  }
  if (input.smoke.length % width !== 0) {
    throw new InvalidInputError(
      `the smoke batch has ${input.smoke.length} values, not a multiple of ${width} features`,
      {
        length: input.smoke.length,
        nFeatures: width,
      },
    );
  }
  return width;
}

async function smokeCheck(
  session: ScoringSession,
  input: CheckFormatInput,
  width: number,
): Promise<CheckResult> {
  const rows = input.smoke.length / width;
  const classification = (input.task ?? 'classification') === 'classification';
  const name = 'smoke batch';
  const metric = 'smoke_bad_scores';
  if (rows === 0)
    return { name, status: 'inconclusive', metric, message: 'no smoke rows were given', sampleSize: 0 };
  let scores: Float32Array;
  try {
    scores = await session.score(input.smoke, rows, width);
  } catch (e) {
    return failed(name, metric, `scoring ${rows} smoke rows failed: ${messageOf(e)}`, { sampleSize: rows });
  }
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
    return passed(name, metric, `all ${rows} smoke scores from '${session.scoreOutput}' are ${range}`, extra);
  const parts = [
    ...(nonFinite > 0 ? [`${nonFinite} are NaN or infinite`] : []),
    ...(outOfRange > 0 ? [`${outOfRange} are outside [0,1]`] : []),
  ];
  return failed(
    name,
    metric,
    `of ${rows} smoke scores from '${session.scoreOutput}', ${parts.join(' and ')}`,
    extra,
  );
}

const describeOutputs = (info: OnnxModelInfo): string =>
  [
    ...info.outputs.map((o) => `'${o.name}' ${o.dtype} ${formatShape(o.shape)}`),
    ...info.unsupportedOutputs.map((u) => `'${u.name}' ${u.type}`),
  ].join(', ') || 'none';

/** Which output the scores will be read from, and how, by the rule of src/onnx/score-output.ts. */
function scoreOutputCheck(info: OnnxModelInfo, contract: FormatContract): CheckResult {
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

async function readModel(source: ModelSource): Promise<Uint8Array> {
  return 'bytes' in source ? source.bytes : new Uint8Array(await readFile(source.path));
}

export async function checkFormat(input: CheckFormatInput): Promise<GateVerdict> {
  const width = smokeWidth(input);
  const { contract } = input;

  let bytes: Uint8Array;
  try {
    bytes = await readModel(input);
  } catch (e) {
    const check = failed('model readable', 'model_readable', `cannot read the model file: ${messageOf(e)}`);
    return combine('format', [check]);
  }

  let info: OnnxModelInfo;
  try {
    info = inspectOnnx(bytes);
  } catch (e) {
    const message = e instanceof ProgradeError ? e.message : `the model is corrupt: ${messageOf(e)}`;
    const check = failed('model decodes', 'onnx_decode', message, {
      evidence: { sizeBytes: bytes.byteLength },
    });
    return combine('format', [check], `format: ${message}`);
  }

  const checks: CheckResult[] = [
    passed('model decodes', 'onnx_decode', `the model decodes as ONNX IR ${info.irVersion}`, {
      evidence: {
        producer: info.producer,
        sizeBytes: info.sizeBytes,
        externalDataFiles: info.externalDataFiles,
      },
    }),
    opsetCheck(info),
  ];
  if (contract.maxModelSizeBytes !== undefined) {
    checks.push(sizeCheck(await totalSizeBytes(info, input), contract.maxModelSizeBytes));
  }
  const contractChecks = [
    ...signatureChecks(
      'input',
      info.inputs,
      info.unsupportedInputs,
      contract.inputs,
      'the contract',
      true,
      false,
    ),
    ...signatureChecks(
      'output',
      info.outputs,
      info.unsupportedOutputs,
      contract.outputs,
      'the contract',
      true,
      true,
      zipMapHint(info),
    ),
  ];
  checks.push(...contractChecks);
  const scoreCheck = scoreOutputCheck(info, contract);
  checks.push(scoreCheck);
  if (input.mlflowSignature) {
    checks.push(...mlflowSignatureChecks(info, input.mlflowSignature, input.features));
  }

  let session: ScoringSession | undefined;
  try {
    // A score output the model lacks is already a failed check; it must not also read as a load failure.
    const scoreOutput = scoreCheck.status === 'passed' ? contract.scoreOutput : undefined;
    session = await openSession('path' in input ? input.path : bytes, {
      ...(scoreOutput !== undefined ? { scoreOutput } : {}),
    });
    checks.push(passed('onnxruntime loads', 'ort_load', 'onnxruntime-node 1.30 loads the model'));
    if (contractChecks.every((c) => c.status === 'passed') && scoreCheck.status === 'passed') {
      checks.push(await smokeCheck(session, input, width));
    } else {
      checks.push({
        name: 'smoke batch',
        status: 'inconclusive',
        metric: 'smoke_bad_scores',
        message: contractChecks.every((c) => c.status === 'passed')
          ? 'the smoke batch was not run because the model has no output it can be scored from'
          : 'the smoke batch was not run because the model does not match the contract',
      });
    }
  } catch (e) {
    const hint =
      'bytes' in input && info.externalDataFiles.length > 0
        ? ` (its weights live in ${info.externalDataFiles.join(', ')}: check the model by path so they load)`
        : '';
    checks.push(failed('onnxruntime loads', 'ort_load', `${messageOf(e)}${hint}`));
  } finally {
    await session?.release();
  }
  return combine('format', checks);
}
