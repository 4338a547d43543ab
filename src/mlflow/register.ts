import { InvalidInputError } from '../errors';
import { inspectOnnx } from '../onnx/inspect';
import { joinArtifactPath, proxiedArtifactPath } from './artifact-path';
import type { MlflowClient, Tags } from './client';
import { isMlflowNotFound, MlflowError } from './errors';
import { writeOnnxMlmodel } from './mlmodel';
import type { Experiment } from './schemas';

export const DEFAULT_EXPERIMENT = 'prograde';

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

const RESERVED_ALIAS = /^(latest|v\d+)$/i;

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

/**
 * Logs and registers an ONNX model the way an MLflow 3 training job does: a logged model in the
 * experiment, its files (MLmodel, model.onnx) uploaded through the artifact proxy, finalized, then a
 * registry version whose source is the logged model's artifact URI. The model is inspected first,
 * so a corrupt file fails with `ONNX_CORRUPT` before anything is written to MLflow.
 */
export async function registerOnnxModel(
  client: MlflowClient,
  options: RegisterOnnxOptions,
): Promise<RegisteredOnnx> {
  const { name, onnxBytes, alias } = options;
  if (alias !== undefined && RESERVED_ALIAS.test(alias)) {
    throw new InvalidInputError(`Alias "${alias}" is reserved by MLflow ("latest" and v<number>)`, { alias });
  }
  const info = inspectOnnx(onnxBytes);
  if (info.externalDataFiles.length > 0) {
    throw new InvalidInputError(
      `The ONNX model keeps weights in external files (${info.externalDataFiles.join(', ')}); register a self-contained model.onnx`,
      { externalDataFiles: info.externalDataFiles },
    );
  }

  const experiment = await getOrCreateExperiment(client, options.experimentName ?? DEFAULT_EXPERIMENT);
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
