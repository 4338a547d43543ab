import { stringify, parse } from 'yaml';
import { z } from 'zod';
import { ProgradeError, messageOf } from '../errors';
import { type TensorDtype, type TensorSpec } from '../onnx/tensor-spec';
import { type MlflowSignature, type SignatureSchema } from './signature';

/**
 * The `MLmodel` file MLflow writes beside a model's files: flavors, signature, ids. Only the parts
 * prograde reads are typed; everything else passes through untouched.
 */

/** numpy dtype names MLflow writes in tensor specs, mapped onto prograde's. */
const NUMPY_DTYPES: Readonly<Record<string, TensorDtype>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int32: 'int32',
  int64: 'int64',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
  str: 'string',
  object: 'string',
};
const TO_NUMPY: Readonly<Record<TensorDtype, string>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int32: 'int32',
  int64: 'int64',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
  string: 'str',
};

const MlflowTensorSpec = z.object({
  type: z.literal('tensor'),
  name: z.string().optional(),
  'tensor-spec': z.object({ dtype: z.string(), shape: z.array(z.number().int()) }),
});
const MlflowColumnSpec = z.object({ type: z.string(), name: z.string().optional() });
const MlflowSignatureList = z.array(z.looseObject({ type: z.string() }));

export const OnnxFlavor = z.looseObject({
  onnx_version: z.string().optional(),
  data: z.string().min(1),
  providers: z.array(z.string()).nullish(),
});

export const MlmodelFile = z.looseObject({
  artifact_path: z.string().optional(),
  model_id: z.string().nullish(),
  model_uuid: z.string().nullish(),
  run_id: z.string().nullish(),
  mlflow_version: z.string().optional(),
  utc_time_created: z.string().optional(),
  flavors: z.looseObject({
    onnx: OnnxFlavor.optional(),
    python_function: z.looseObject({ loader_module: z.string().optional() }).optional(),
  }),
  signature: z.looseObject({ inputs: z.string().nullish(), outputs: z.string().nullish() }).nullish(),
});
export type MlmodelFile = z.infer<typeof MlmodelFile>;

export interface Mlmodel {
  readonly raw: MlmodelFile;
  /** Path of the ONNX file relative to the model root, when the model has an onnx flavor. */
  readonly onnxData: string | undefined;
  readonly signature: MlflowSignature | undefined;
  readonly modelId: string | undefined;
}

function invalid(message: string, where: string, cause?: unknown): ProgradeError {
  return new ProgradeError(
    'MLMODEL_INVALID',
    `MLmodel ${where}: ${message}`,
    'terminal',
    { where },
    { cause },
  );
}

function parseSignatureList(json: string | null | undefined, field: string, where: string): unknown[] {
  if (json === null || json === undefined || json === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw invalid(`signature.${field} is not JSON: ${messageOf(e)}`, where, e);
  }
  const list = MlflowSignatureList.safeParse(raw);
  if (!list.success)
    throw invalid(`signature.${field} is not a list of specs: ${z.prettifyError(list.error)}`, where);
  return list.data;
}

function parseSchema(items: unknown[], field: string, where: string): SignatureSchema {
  const tensors = items.filter((item) => (item as { type: string }).type === 'tensor');
  if (tensors.length > 0 && tensors.length < items.length)
    throw invalid(`signature.${field} mixes tensor and column specs`, where);
  if (tensors.length > 0) {
    return {
      kind: 'tensor',
      tensors: items.map((item, i) => {
        const spec = MlflowTensorSpec.safeParse(item);
        if (!spec.success)
          throw invalid(
            `signature.${field}[${i}] is not a tensor spec: ${z.prettifyError(spec.error)}`,
            where,
          );
        const { dtype, shape } = spec.data['tensor-spec'];
        // Unnamed specs stay unnamed: MLflow feeds them by position, and so does the format gate.
        return {
          ...(spec.data.name !== undefined ? { name: spec.data.name } : {}),
          dtype: NUMPY_DTYPES[dtype] ?? dtype,
          shape,
        };
      }),
    };
  }
  return {
    kind: 'columns',
    columns: items.map((item, i) => {
      const column = MlflowColumnSpec.safeParse(item);
      if (!column.success)
        throw invalid(
          `signature.${field}[${i}] is not a column spec: ${z.prettifyError(column.error)}`,
          where,
        );
      return {
        ...(column.data.name !== undefined ? { name: column.data.name } : {}),
        type: column.data.type,
      };
    }),
  };
}

function parseSignature(file: MlmodelFile, where: string): MlflowSignature | undefined {
  if (!file.signature) return undefined;
  const inputs = parseSignatureList(file.signature.inputs, 'inputs', where);
  const outputs = parseSignatureList(file.signature.outputs, 'outputs', where);
  // A signature without inputs says nothing the gate could hold the graph to.
  if (inputs.length === 0) return undefined;
  return {
    inputs: parseSchema(inputs, 'inputs', where),
    ...(outputs.length > 0 ? { outputs: parseSchema(outputs, 'outputs', where) } : {}),
  };
}

/** Parses MLmodel YAML; `where` names the file in error messages. */
export function parseMlmodel(yamlText: string, where = 'MLmodel'): Mlmodel {
  let doc: unknown;
  try {
    doc = parse(yamlText);
  } catch (e) {
    throw invalid(`is not YAML: ${messageOf(e)}`, where, e);
  }
  const file = MlmodelFile.safeParse(doc);
  if (!file.success) throw invalid(z.prettifyError(file.error), where);
  return {
    raw: file.data,
    onnxData: file.data.flavors.onnx?.data,
    signature: parseSignature(file.data, where),
    modelId: file.data.model_id ?? undefined,
  };
}

/** How to turn a model of each common non-ONNX flavour into ONNX, for the refusal message. */
const TO_ONNX: Readonly<Record<string, string>> = {
  sklearn:
    "skl2onnx: onx = skl2onnx.to_onnx(model, X[:1].astype(numpy.float32), options={id(model): {'zipmap': False}})",
  xgboost:
    "onnxmltools: onx = onnxmltools.convert_xgboost(model, initial_types=[('X', FloatTensorType([None, n_features]))])",
  lightgbm:
    "onnxmltools: onx = onnxmltools.convert_lightgbm(model, initial_types=[('X', FloatTensorType([None, n_features]))], zipmap=False)",
  pytorch: 'torch.onnx.export(model, example_input, "model.onnx"), then onx = onnx.load("model.onnx")',
  tensorflow: 'tf2onnx: onx, _ = tf2onnx.convert.from_keras(model)',
  keras: 'tf2onnx: onx, _ = tf2onnx.convert.from_keras(model)',
};

/**
 * Why a model version whose MLmodel has no onnx flavor cannot be promoted, and how to log it as ONNX
 * instead; `what` names the version (`fraud/3`).
 */
export function notOnnxMessage(mlmodel: Mlmodel, what: string): string {
  const flavors = Object.keys(mlmodel.raw.flavors).filter((f) => f !== 'python_function');
  const loader = mlmodel.raw.flavors.python_function?.loader_module;
  const logged =
    flavors.length > 0
      ? `the ${flavors.join(' and ')} flavor${flavors.length > 1 ? 's' : ''}`
      : `only a python_function flavor${loader ? ` (${loader})` : ''}`;
  const convert = flavors.map((f) => TO_ONNX[f]).find((c) => c !== undefined);
  return (
    `${what} was logged with ${logged}, not ONNX; prograde gates and serves ONNX models only. ` +
    `Convert the model to ONNX${convert ? ` (${convert})` : ''} and log that with ` +
    'mlflow.onnx.log_model(onx, name="model", registered_model_name=...)'
  );
}

function signatureJson(specs: readonly TensorSpec[]): string {
  return JSON.stringify(
    specs.map((s) => ({
      type: 'tensor',
      'tensor-spec': { dtype: TO_NUMPY[s.dtype], shape: s.shape },
      name: s.name,
    })),
  );
}

export interface OnnxMlmodelInput {
  readonly modelId: string;
  /** The logged model's artifact URI, as MLflow 3 records it. */
  readonly artifactPath: string;
  /** Tensor signature of the graph; omitted when the graph has inputs or outputs a tensor spec cannot describe. */
  readonly signature?: { readonly inputs: readonly TensorSpec[]; readonly outputs: readonly TensorSpec[] };
  /** Version of the Python `onnx` package the loader should expect; informational for MLflow. */
  readonly onnxVersion?: string;
  /** Python version recorded for pyfunc; MLflow only warns on a mismatch. */
  readonly pythonVersion?: string;
  readonly mlflowVersion?: string;
  readonly createdAt?: Date;
  readonly data?: string;
}

/** Versions recorded when the caller gives none: those of the pinned MLflow toolchain prograde is tested against. */
export const MLMODEL_DEFAULTS = {
  onnxVersion: '1.23.2',
  pythonVersion: '3.11.7',
  mlflowVersion: '3.17.2',
} as const;

/** `utc_time_created` in the format MLflow's Python side writes: `YYYY-MM-DD HH:MM:SS.ffffff`. */
function mlflowTimestamp(d: Date): string {
  return `${d.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

/** YAML of an MLmodel for an ONNX model that both `mlflow.onnx.load_model` and `mlflow.pyfunc.load_model` accept. */
export function writeOnnxMlmodel(input: OnnxMlmodelInput): string {
  const data = input.data ?? 'model.onnx';
  const doc = {
    artifact_path: input.artifactPath,
    flavors: {
      onnx: {
        code: null,
        data,
        onnx_session_options: null,
        onnx_version: input.onnxVersion ?? MLMODEL_DEFAULTS.onnxVersion,
        providers: ['CPUExecutionProvider'],
      },
      python_function: {
        data,
        loader_module: 'mlflow.onnx',
        python_version: input.pythonVersion ?? MLMODEL_DEFAULTS.pythonVersion,
      },
    },
    mlflow_version: input.mlflowVersion ?? MLMODEL_DEFAULTS.mlflowVersion,
    model_id: input.modelId,
    model_uuid: input.modelId,
    ...(input.signature
      ? {
          signature: {
            inputs: signatureJson(input.signature.inputs),
            outputs: signatureJson(input.signature.outputs),
            params: null,
          },
        }
      : {}),
    utc_time_created: mlflowTimestamp(input.createdAt ?? new Date()),
  };
  return stringify(doc);
}
