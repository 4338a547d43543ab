// Over 350 lines on purpose: every check of register's input (names, alias, tags, the ONNX file
// in a real session) sits beside the MLflow writes it guards, so no write can run before its check.
import { ProgradeError, type ErrorCode } from '../errors';
import { inspectOnnx, type OnnxModelInfo } from '../onnx/inspect';
import { openSession } from '../onnx/session';
import { type TensorSpec } from '../onnx/tensor-spec';
import { joinArtifactPath, proxiedArtifactPath } from './artifact-path';
import type { MlflowClient, Tags } from './client';
import { isMlflowNotFound, MlflowError } from './errors';
import { writeOnnxMlmodel } from './mlmodel';
import type { Experiment } from './schemas';

export const DEFAULT_EXPERIMENT = 'prograde';

/** Largest model registered: protobuf cannot encode a self-contained ModelProto of 2 GiB or more. */
export const MAX_ONNX_BYTES = 2 ** 31 - 1;

export interface RegisterOnnxOptions {
  readonly name: string;
  readonly onnxBytes: Uint8Array;
  /** Alias to point at the new version, e.g. `challenger`. */
  readonly alias?: string;
  /** Tags set on the new version. */
  readonly tags?: Tags;
  readonly experimentName?: string;
  readonly waitTimeoutMs?: number;
}

export interface RegisteredOnnx {
  readonly version: string;
  readonly modelId: string;
  readonly artifactUri: string;
}

/** One reason a registration is refused: what it is about (`--name`, a file), why, and a stable code. */
export interface RegistrationProblem {
  readonly subject: string;
  readonly message: string;
  readonly code: ErrorCode;
}

/**
 * Thrown when a registration is refused before anything was written to MLflow; `problems` lists
 * every reason found, so one run shows them all.
 */
export class RegistrationInvalidError extends ProgradeError {
  override readonly name = 'RegistrationInvalidError';

  constructor(readonly problems: readonly RegistrationProblem[]) {
    super(
      'REGISTRATION_INVALID',
      `registration refused, nothing was written to MLflow:\n${problems.map((p) => `  ${p.subject}: ${p.message} [${p.code}]`).join('\n')}`,
      'terminal',
      { problems },
    );
  }
}

// The rules below are MLflow 3's own (mlflow/utils/validation.py), checked here so that a name the
// server would refuse is refused before the logged model and the version exist, not after.
const MAX_MODEL_NAME = 256; // registered_models.name is VARCHAR(256)
const MAX_ALIAS = 255;
const MAX_TAG_KEY = 250;
const MAX_TAG_VALUE = 100_000;
const MAX_EXPERIMENT_NAME = 500;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/;
/** mlflow's `validate_param_and_metric_name` on POSIX: word characters, `/`, `.`, `-`, space and `:`. */
const TAG_KEY = /^[/\p{L}\p{N}_.\- :]*$/u;

/** `'…'` with control characters escaped and long text cut, for messages. */
function shown(text: string): string {
  const escaped = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return `'${escaped.slice(1, -1)}'${text.length > 80 ? ` (${text.length} characters)` : ''}`;
}

/** Python's `posixpath.normpath`, which MLflow uses to refuse names that resolve to another path. */
function pythonNormpath(p: string): string {
  if (p === '') return '.';
  const initial = p.startsWith('/') ? (p.startsWith('//') && !p.startsWith('///') ? 2 : 1) : 0;
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..' || (initial === 0 && parts.length === 0) || parts.at(-1) === '..') parts.push(part);
    else if (parts.length > 0) parts.pop();
  }
  const joined = '/'.repeat(initial) + parts.join('/');
  return joined === '' ? '.' : joined;
}

/** MLflow's `path_not_unique`: the name, read as a path, is another name. */
function resolvesElsewhere(name: string): string | undefined {
  const norm = pythonNormpath(name);
  if (norm !== name || norm === '.' || norm.startsWith('..') || norm.startsWith('/')) return norm;
  return undefined;
}

/** Problems with a registered model name, as MLflow would find them. */
export function modelNameProblems(name: string): string[] {
  if (name.trim() === '') return ['a registered model name must not be empty'];
  const problems: string[] = [];
  if (/[/:]/.test(name)) problems.push("a registered model name may not contain '/' or ':'");
  else {
    const norm = resolvesElsewhere(name);
    if (norm !== undefined)
      problems.push(`MLflow reads names as paths, and this one would resolve to ${shown(norm)}`);
  }
  if (CONTROLS.test(name)) problems.push('a registered model name may not contain control characters');
  if (name.length > MAX_MODEL_NAME)
    problems.push(
      `a registered model name may be at most ${MAX_MODEL_NAME} characters, this one has ${name.length}`,
    );
  return problems;
}

/** Problems with an alias, as MLflow would find them. */
export function aliasProblems(alias: string): string[] {
  if (alias === '') return ['an alias must not be empty'];
  const problems: string[] = [];
  if (!/^[A-Za-z0-9_-]+$/.test(alias)) problems.push('an alias may contain only letters, digits, _ and -');
  if (alias.toLowerCase() === 'latest' || /^v\d+$/i.test(alias))
    problems.push("'latest' and v<number> are reserved by MLflow and cannot be aliases");
  if (alias.length > MAX_ALIAS)
    problems.push(`an alias may be at most ${MAX_ALIAS} characters, this one has ${alias.length}`);
  return problems;
}

/** Problems with one version tag, as MLflow would find them, and prograde's reserved prefix. */
export function tagProblems(key: string, value: string): string[] {
  const problems: string[] = [];
  if (key === '') problems.push('a tag key must not be empty');
  else if (!TAG_KEY.test(key))
    problems.push('a tag key may contain only letters, digits, _, -, ., space, : and /');
  else if (resolvesElsewhere(key) !== undefined)
    problems.push(
      'a tag key may not start or end with /, hold // or be . or .. (MLflow reads keys as paths)',
    );
  if (key.toLowerCase().startsWith('prograde.'))
    problems.push("tags starting with 'prograde.' are prograde's own evidence and cannot be set by hand");
  if (key.length > MAX_TAG_KEY)
    problems.push(`a tag key may be at most ${MAX_TAG_KEY} characters, this one has ${key.length}`);
  const length = [...value].length;
  if (length > MAX_TAG_VALUE)
    problems.push(`a tag value may be at most ${MAX_TAG_VALUE} characters, this one has ${length}`);
  return problems;
}

/** Problems with an experiment name. */
export function experimentNameProblems(name: string): string[] {
  if (name.trim() === '') return ['an experiment name must not be empty'];
  const problems: string[] = [];
  if (CONTROLS.test(name)) problems.push('an experiment name may not contain control characters');
  if (name.length > MAX_EXPERIMENT_NAME)
    problems.push(
      `an experiment name may be at most ${MAX_EXPERIMENT_NAME} characters, this one has ${name.length}`,
    );
  return problems;
}

/** Everything wrong with the names of a registration: model name, alias, tags, experiment. */
export function namingProblems(options: Omit<RegisterOnnxOptions, 'onnxBytes'>): RegistrationProblem[] {
  const out: RegistrationProblem[] = [];
  for (const m of modelNameProblems(options.name))
    out.push({ subject: `--name ${shown(options.name)}`, message: m, code: 'MODEL_NAME_INVALID' });
  if (options.alias !== undefined)
    for (const m of aliasProblems(options.alias))
      out.push({ subject: `--alias ${shown(options.alias)}`, message: m, code: 'ALIAS_INVALID' });
  for (const [key, value] of Object.entries(options.tags ?? {}))
    for (const m of tagProblems(key, value))
      out.push({ subject: `--tag ${shown(key)}`, message: m, code: 'TAG_INVALID' });
  const experiment = options.experimentName ?? DEFAULT_EXPERIMENT;
  for (const m of experimentNameProblems(experiment))
    out.push({ subject: `--experiment ${shown(experiment)}`, message: m, code: 'EXPERIMENT_NAME_INVALID' });
  return out;
}

function signatureProblems(info: OnnxModelInfo): { message: string; code: ErrorCode }[] {
  const problems: { message: string; code: ErrorCode }[] = [];
  const signature = (message: string): void =>
    void problems.push({ message, code: 'ONNX_SIGNATURE_INVALID' });
  if (info.inputs.length + info.unsupportedInputs.length === 0)
    signature('the model declares no inputs; a served model takes at least one input tensor');
  if (info.outputs.length + info.unsupportedOutputs.length === 0)
    signature('the model declares no outputs; a served model returns at least one tensor');
  for (const u of info.unsupportedInputs)
    signature(
      `input ${shown(u.name)} is ${u.type}; prograde feeds only tensors of a known element type and rank`,
    );
  const all: TensorSpec[] = [...info.inputs, ...info.outputs];
  const names = [
    ...all.map((t) => t.name),
    ...info.unsupportedInputs.map((u) => u.name),
    ...info.unsupportedOutputs.map((u) => u.name),
  ];
  if (names.some((n) => n === '')) signature('an input or output has no name');
  const seen = new Set<string>();
  for (const n of names) {
    if (n !== '' && seen.has(n)) signature(`the name ${shown(n)} is used by more than one input or output`);
    seen.add(n);
  }
  for (const t of all)
    if (t.shape.some((d) => !Number.isSafeInteger(d) || d < -1))
      signature(
        `${shown(t.name)} declares the dimension ${t.shape.find((d) => !Number.isSafeInteger(d) || d < -1)}, which no tensor can have`,
      );
  return problems;
}

/** A refusal of the model's bytes (e.g. ONNX_CORRUPT), by its code's class; anything else propagates. */
function isInputProblem(e: unknown): e is ProgradeError {
  return e instanceof ProgradeError && e.exitClass === 'invalid-input';
}

/**
 * Everything wrong with a model file: not an ONNX ModelProto, weights in external files, a
 * signature that cannot be served, or a model onnxruntime refuses to load (checked by opening a
 * real session). Returns the model's description when protobuf could read it.
 */
export async function modelProblems(
  bytes: Uint8Array,
  subject: string,
): Promise<{ problems: RegistrationProblem[]; info: OnnxModelInfo | undefined }> {
  const problem = (message: string, code: ErrorCode): RegistrationProblem => ({ subject, message, code });
  if (bytes.byteLength === 0)
    return { problems: [problem('the file is empty', 'ONNX_CORRUPT')], info: undefined };
  if (bytes.byteLength > MAX_ONNX_BYTES)
    return {
      problems: [
        problem('the file is 2 GiB or more, past what a self-contained ONNX model can be', 'ONNX_TOO_LARGE'),
      ],
      info: undefined,
    };
  let info: OnnxModelInfo;
  try {
    info = inspectOnnx(bytes);
  } catch (e) {
    if (!isInputProblem(e)) throw e;
    return { problems: [problem(e.message, e.code)], info: undefined };
  }
  const problems: RegistrationProblem[] = [];
  if (info.externalDataFiles.length > 0) {
    problems.push(
      problem(
        `the model keeps weights in external files (${info.externalDataFiles.map(shown).join(', ')}); register a self-contained model.onnx`,
        'ONNX_EXTERNAL_DATA',
      ),
    );
  }
  for (const p of signatureProblems(info)) problems.push(problem(p.message, p.code));
  if (info.externalDataFiles.length === 0) {
    try {
      const session = await openSession(bytes);
      await session.release();
    } catch (e) {
      if (!isInputProblem(e)) throw e;
      problems.push(problem(e.message, e.code));
    }
  }
  return { problems, info };
}

async function getOrCreateExperiment(client: MlflowClient, name: string): Promise<Experiment> {
  try {
    return await client.getExperimentByName(name);
  } catch (e) {
    if (!isMlflowNotFound(e)) throw e;
  }
  try {
    await client.createExperiment(name);
  } catch (e) {
    // Another registration created it between our two calls.
    if (!(e instanceof MlflowError && e.code === 'MLFLOW_RESOURCE_ALREADY_EXISTS')) throw e;
  }
  return client.getExperimentByName(name);
}

async function findExperiment(client: MlflowClient, name: string): Promise<Experiment | undefined> {
  try {
    return await client.getExperimentByName(name);
  } catch (e) {
    if (isMlflowNotFound(e)) return undefined;
    throw e;
  }
}

async function ensureRegisteredModel(client: MlflowClient, name: string): Promise<void> {
  try {
    await client.getRegisteredModel(name);
    return;
  } catch (e) {
    if (!isMlflowNotFound(e)) throw e;
  }
  try {
    await client.createRegisteredModel(name);
  } catch (e) {
    if (!(e instanceof MlflowError && e.code === 'MLFLOW_RESOURCE_ALREADY_EXISTS')) throw e;
  }
}

/** A registration whose names and model passed every check that needs no server. */
export interface CheckedRegistration {
  readonly options: RegisterOnnxOptions;
  readonly info: OnnxModelInfo;
  readonly modelSubject: string;
}

/**
 * Checks a registration without contacting MLflow — names, alias, tags, experiment name, and the
 * model file (protobuf, signature, a real onnxruntime session) — and throws
 * `RegistrationInvalidError` listing every problem, `extra` (e.g. malformed flags) included.
 */
export async function checkRegistration(
  options: RegisterOnnxOptions,
  modelSubject = 'model.onnx',
  extra: readonly RegistrationProblem[] = [],
): Promise<CheckedRegistration> {
  const problems = [...extra, ...namingProblems(options)];
  const model = await modelProblems(options.onnxBytes, modelSubject);
  problems.push(...model.problems);
  if (problems.length > 0 || model.info === undefined) throw new RegistrationInvalidError(problems);
  return { options, info: model.info, modelSubject };
}

/**
 * Logs and registers an ONNX model the way an MLflow 3 training job does: a logged model in the
 * experiment, its files (MLmodel, model.onnx) uploaded through the artifact proxy, finalized, then a
 * registry version whose source is the logged model's artifact URI. Everything is checked first
 * (`checkRegistration`), so a bad name, alias, tag or model fails with `REGISTRATION_INVALID`
 * before anything is written to MLflow: no experiment, no logged model, no version.
 */
export async function registerOnnxModel(
  client: MlflowClient,
  options: RegisterOnnxOptions,
  modelSubject?: string,
): Promise<RegisteredOnnx> {
  return registerChecked(client, await checkRegistration(options, modelSubject));
}

/** Registers a checked model; the one check that needs MLflow (a deleted experiment) comes before any write. */
export async function registerChecked(
  client: MlflowClient,
  checked: CheckedRegistration,
): Promise<RegisteredOnnx> {
  const { options, info } = checked;
  const { name, onnxBytes, alias } = options;
  const experimentName = options.experimentName ?? DEFAULT_EXPERIMENT;
  const existing = await findExperiment(client, experimentName);
  if (existing?.lifecycleStage === 'deleted') {
    throw new RegistrationInvalidError([
      {
        subject: `--experiment ${shown(experimentName)}`,
        message: 'the experiment is deleted in MLflow; restore it or choose another name',
        code: 'EXPERIMENT_DELETED',
      },
    ]);
  }

  const experiment = existing ?? (await getOrCreateExperiment(client, experimentName));
  const logged = await client.createLoggedModel(experiment.experimentId, { name: 'model' });
  const root = proxiedArtifactPath(logged.artifactUri);
  try {
    const mlmodel = writeOnnxMlmodel({
      modelId: logged.modelId,
      artifactPath: logged.artifactUri,
      // A partial signature would make MLflow reject valid inputs; sequence/map outputs (zipmap) get none.
      ...(info.unsupportedInputs.length === 0 && info.unsupportedOutputs.length === 0
        ? { signature: { inputs: info.inputs, outputs: info.outputs } }
        : {}),
    });
    await client.uploadArtifact(joinArtifactPath(root, 'model.onnx'), onnxBytes);
    await client.uploadArtifact(
      joinArtifactPath(root, 'requirements.txt'),
      Buffer.from('mlflow==3.17.2\nonnx\nonnxruntime\n'),
    );
    await client.uploadArtifact(joinArtifactPath(root, 'MLmodel'), Buffer.from(mlmodel));
  } catch (e) {
    await client.finalizeLoggedModel(logged.modelId, 'LOGGED_MODEL_UPLOAD_FAILED').catch(() => undefined);
    throw e;
  }
  await client.finalizeLoggedModel(logged.modelId, 'LOGGED_MODEL_READY');

  await ensureRegisteredModel(client, name);
  const created = await client.createModelVersion(name, logged.artifactUri, {
    modelId: logged.modelId,
    ...(options.tags ? { tags: options.tags } : {}),
  });
  await client.waitUntilReady(
    name,
    created.version,
    options.waitTimeoutMs !== undefined ? { timeoutMs: options.waitTimeoutMs } : {},
  );
  if (alias !== undefined) await client.setAlias(name, alias, created.version);
  return { version: created.version, modelId: logged.modelId, artifactUri: logged.artifactUri };
}
