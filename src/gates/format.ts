import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidInputError, ProgradeError, messageOf } from '../errors';
import { type MlflowSignature } from '../mlflow/signature';
import { inspectOnnx, type OnnxModelInfo } from '../onnx/inspect';
import { openSession, type ScoringSession } from '../onnx/session';
import { type TensorSpec } from '../onnx/tensor-spec';
import {
  CONTRACT,
  failed,
  opsetCheck,
  passed,
  scoreOutputCheck,
  signatureChecks,
  sizeCheck,
  smokeScoresCheck,
  zipMapHint,
} from './format-checks';
import { mlflowSignatureChecks } from './format-signature';
import { type CheckResult, type GateVerdict, combine } from '../promotion/verdict';

/**
 * The format gate: can this artifact be served in place of the champion at all? It decodes the
 * ModelProto, checks opset and size, loads it in onnxruntime, holds its signature against the serving
 * contract (and the MLflow signature when the version has one, see `./format-signature`), says which
 * output will be scored, and scores a smoke batch. Without an MLflow signature the contract alone
 * rules. Every problem is a failed check in the verdict, never a throw — a corrupt model is a finding.
 * This file does the I/O (read, stat, open a session, score) and orders the checks; the judging is
 * in ./format-checks, pure functions of what was read.
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
  return smokeScoresCheck({
    scores,
    rows,
    task: input.task ?? 'classification',
    scoreOutput: session.scoreOutput,
  });
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
    ...signatureChecks({
      kind: 'input',
      model: info.inputs,
      unsupported: info.unsupportedInputs,
      expected: contract.inputs,
      reference: CONTRACT,
      extrasAllowed: false,
    }),
    ...signatureChecks({
      kind: 'output',
      model: info.outputs,
      unsupported: info.unsupportedOutputs,
      expected: contract.outputs,
      reference: CONTRACT,
      extrasAllowed: true,
      hint: zipMapHint(info),
    }),
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
