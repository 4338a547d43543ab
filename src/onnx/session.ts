import * as ort from 'onnxruntime-node';
import { ProgradeError, messageOf } from '../errors';
import { dtypeFromOrtType } from './dtypes';
import { pickScoreOutput, scoresFromValues, valuesPerRow } from './score-output';
import { type TensorSpec } from './tensor-spec';

/**
 * A loaded model ready to score rows. Wraps an onnxruntime-node InferenceSession so callers speak
 * in TensorSpecs and flat Float32Arrays, never in ORT's metadata or tensor types.
 */
export interface ScoringSession {
  /** Tensor inputs and outputs as ORT reports them (symbolic dims as -1). */
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Name of the output `score` reads. */
  readonly scoreOutput: string;
  /**
   * One score per row of a row-major `rows × nFeatures` matrix, fed to the model's single input
   * (converted to its dtype: float64, or int64/int32 when every value is whole), read by the rule of `./score-output`: [N] or
   * [N,1] give the score directly; [N,2] (a classifier's class probabilities) gives column 1, P(class 1).
   */
  score(features: Float32Array, rows: number, nFeatures: number): Promise<Float32Array>;
  /** ORT's own run, for callers that need other outputs or input types; `outputNames` limits what is fetched. */
  runRaw(
    feeds: Record<string, ort.Tensor>,
    outputNames?: readonly string[],
  ): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

export interface OpenSessionOptions {
  /** One thread by default: latency measurements and the gateway's worker pool both assume it. */
  readonly intraOpNumThreads?: number;
  readonly interOpNumThreads?: number;
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Output to score from; default: the first float32/float64 output (see `./score-output`). */
  readonly scoreOutput?: string;
  /** When set, ORT writes the graph it will actually run here (used to check what optimisation kept). */
  readonly optimizedModelFilePath?: string;
}

function specsOf(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  const specs: TensorSpec[] = [];
  for (const m of metadata) {
    if (!m.isTensor) continue;
    const dtype = dtypeFromOrtType(m.type);
    if (!dtype) continue;
    specs.push({
      name: m.name,
      dtype,
      shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    });
  }
  return specs;
}

function chooseScoreOutput(
  outputs: readonly TensorSpec[],
  requested: string | undefined,
  names: readonly string[],
): string {
  if (requested !== undefined && !names.includes(requested)) {
    throw new ProgradeError(
      'ONNX_LOAD_FAILED',
      `score output '${requested}' is not an output of the model (outputs: ${names.join(', ')})`,
      'terminal',
      { scoreOutput: requested, outputs: names },
    );
  }
  // With no float output the first one is kept, so score() can say what it is and why it cannot be scored.
  return pickScoreOutput(outputs, requested) ?? names[0] ?? '';
}

function runFailed(e: unknown, details: Record<string, unknown>): ProgradeError {
  return new ProgradeError(
    'ONNX_RUN_FAILED',
    `onnxruntime failed to run the model: ${messageOf(e)}`,
    'terminal',
    details,
    {
      cause: e,
    },
  );
}

class OrtScoringSession implements ScoringSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly scoreOutput: string;

  constructor(
    private readonly session: ort.InferenceSession,
    scoreOutput: string | undefined,
  ) {
    this.inputs = specsOf(session.inputMetadata);
    this.outputs = specsOf(session.outputMetadata);
    this.scoreOutput = chooseScoreOutput(this.outputs, scoreOutput, session.outputNames);
  }

  async score(features: Float32Array, rows: number, nFeatures: number): Promise<Float32Array> {
    if (features.length !== rows * nFeatures) {
      throw new ProgradeError(
        'SCORE_INPUT_INVALID',
        `expected ${rows} rows × ${nFeatures} features = ${rows * nFeatures} values, got ${features.length}`,
        'terminal',
        { rows, nFeatures, length: features.length },
      );
    }
    const inputNames = this.session.inputNames;
    const input = this.inputs[0];
    if (inputNames.length !== 1 || !input) {
      throw new ProgradeError(
        'SCORE_INPUT_INVALID',
        `prograde feeds each row's ${nFeatures} feature values to one input tensor [N,${nFeatures}], and this model has ${inputNames.length} inputs (${inputNames.join(', ') || 'none'}): export it with one input (in skl2onnx, one initial_types entry for all feature columns; a ColumnTransformer can then select columns by index)`,
        'terminal',
        { inputs: inputNames },
      );
    }
    const tensor = inputTensor(input, features, rows, nFeatures);
    // Fetch only the score: other outputs (e.g. a ZipMap's sequence of maps) may not be tensors at all.
    const result = await this.runRaw({ [input.name]: tensor }, [this.scoreOutput]);
    const output = result[this.scoreOutput];
    if (!output) throw runFailed(new Error(`output '${this.scoreOutput}' missing from the result`), {});
    return scoresFrom(output, rows, this.scoreOutput);
  }

  async runRaw(
    feeds: Record<string, ort.Tensor>,
    outputNames?: readonly string[],
  ): Promise<Record<string, ort.Tensor>> {
    try {
      return outputNames === undefined
        ? await this.session.run(feeds)
        : await this.session.run(feeds, [...outputNames]);
    } catch (e) {
      throw runFailed(e, { feeds: Object.keys(feeds) });
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The rows as the model's input dtype: float32 as read, float64 widened, int64/int32 when every value is
 * a whole number (a feature column of counts or codes); a fraction for an integer input is refused
 * rather than truncated. The gateway casts JSON rows by the same dtypes (src/serving/tensors.ts).
 */
function inputTensor(input: TensorSpec, features: Float32Array, rows: number, nFeatures: number): ort.Tensor {
  const dims = [rows, nFeatures];
  switch (input.dtype) {
    case 'float32':
      return new ort.Tensor('float32', features, dims);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(features), dims);
    case 'int64':
    case 'int32': {
      const limit = input.dtype === 'int32' ? 2 ** 31 : 2 ** 63;
      const bad = features.findIndex((v) => !Number.isInteger(v) || Math.abs(v) >= limit);
      if (bad >= 0) {
        const row = Math.floor(bad / nFeatures);
        const column = bad % nFeatures;
        throw new ProgradeError(
          'SCORE_INPUT_INVALID',
          `input '${input.name}' is ${input.dtype}, but row ${row + 1} (of the rows scored) has ${features[bad]} in feature ${column + 1} of ${nFeatures}, which is not a whole ${input.dtype} number`,
          'terminal',
          { input: input.name, dtype: input.dtype, row, column, value: features[bad] },
        );
      }
      return input.dtype === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(features, (v) => BigInt(v)),
            dims,
          )
        : new ort.Tensor('int32', Int32Array.from(features), dims);
    }
    default:
      throw new ProgradeError(
        'SCORE_INPUT_INVALID',
        `input '${input.name}' is ${input.dtype}; prograde feeds numeric feature rows as float32, float64, int32 or int64 only`,
        'terminal',
        { input: input.name, dtype: input.dtype },
      );
  }
}

function scoresFrom(output: ort.Tensor, rows: number, name: string): Float32Array {
  const dims = output.dims;
  const data = output.data;
  const floating = data instanceof Float32Array || data instanceof Float64Array;
  const scores =
    floating && dims[0] === rows && dims.length <= 2
      ? scoresFromValues(data, rows, valuesPerRow(dims))
      : undefined;
  if (!scores) {
    throw new ProgradeError(
      'SCORE_OUTPUT_UNSUPPORTED',
      `output '${name}' is ${output.type} [${dims.join(',')}]; scoring needs float32/float64 shaped [${rows}], [${rows},1] or [${rows},2]`,
      'terminal',
      { output: name, type: output.type, dims: [...dims] },
    );
  }
  return scores;
}

/** Loads a model from a file path or its bytes. ORT's refusal becomes `ONNX_LOAD_FAILED` with ORT's message. */
export async function openSession(
  pathOrBytes: string | Uint8Array,
  options: OpenSessionOptions = {},
): Promise<ScoringSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: options.interOpNumThreads ?? 1,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    // ORT's own console logging would bypass our loggers; its errors reach us as exceptions.
    logSeverityLevel: 3,
    ...(options.optimizedModelFilePath !== undefined
      ? { optimizedModelFilePath: options.optimizedModelFilePath }
      : {}),
  };
  const source =
    typeof pathOrBytes === 'string' ? { path: pathOrBytes } : { sizeBytes: pathOrBytes.byteLength };
  let session: ort.InferenceSession;
  try {
    session =
      typeof pathOrBytes === 'string'
        ? await ort.InferenceSession.create(pathOrBytes, sessionOptions)
        : await ort.InferenceSession.create(pathOrBytes, sessionOptions);
  } catch (e) {
    throw new ProgradeError(
      'ONNX_LOAD_FAILED',
      `onnxruntime could not load the model: ${messageOf(e)}`,
      'terminal',
      source,
      {
        cause: e,
      },
    );
  }
  try {
    return new OrtScoringSession(session, options.scoreOutput);
  } catch (e) {
    await session.release();
    throw e;
  }
}
