import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  NativeConnection,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../../src/devstack/tools';
import { createLogger } from '../../src/logging';
import { MlflowClient } from '../../src/mlflow/client';
import { joinArtifactPath, proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { registerOnnxModel } from '../../src/mlflow/register';
import { writeOnnxMlmodel } from '../../src/mlflow/mlmodel';
import { sampleDataset, writeDatasetCsv } from '../../src/samples/datasets';
import { sampleModel, type ModelVariant } from '../../src/samples/models';
import { PromotionSpec, type PromotionSpecInput } from '../../src/spec/schema';
import { createPromotionWorker, installRuntime, PAYLOAD_CONVERTER_PATH } from '../../src/worker';
import type { DatasetRef, PromotionInput } from '../../src/promotion/state';
import { stack } from './stack';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Workflow code bundled once per test process (webpack takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: join(repoRoot, 'src', 'workflows', 'index.ts'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    logger: quietBundlerLogger,
  });
  return bundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (m: string) => console.error(m),
};

export { sampleSpec } from './specs';

export interface Harness {
  readonly client: Client;
  readonly mlflow: MlflowClient;
  readonly taskQueue: string;
  readonly dir: string;
  readonly datasetPath: string;
  /** Registers a sample model variant as a new version; returns the version number. */
  register(model: string, variant: ModelVariant, alias?: string, seed?: number): Promise<string>;
  /** Registers arbitrary bytes as model.onnx (what a broken upload leaves behind). */
  registerRaw(model: string, bytes: Uint8Array): Promise<string>;
  input(spec: PromotionSpecInput, version: string, dataset?: DatasetRef): PromotionInput;
  startWorker(): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface RunningWorker {
  readonly worker: Worker;
  stop(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const logger = createLogger('test');
  logger.level = 'warn';
  installRuntime(logger);
  const dir = mkdtempSync(join(tmpdir(), 'prograde-it-'));
  const datasetPath = join(dir, 'holdout.csv');
  await writeDatasetCsv(sampleDataset({ rows: 1500, seed: 11 }), datasetPath);
  const connection = await Connection.connect({ address: stack.temporalAddress() });
  const client = new Client({ connection, namespace: stack.temporalNamespace() });
  const mlflow = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
  const taskQueue = `it-${randomUUID()}`;
  const workers: RunningWorker[] = [];

  const harness: Harness = {
    client,
    mlflow,
    taskQueue,
    dir,
    datasetPath,
    register: async (model, variant, alias, seed) =>
      (
        await registerOnnxModel(mlflow, {
          name: model,
          onnxBytes: sampleModel(variant, seed === undefined ? {} : { seed }),
          ...(alias ? { alias } : {}),
        })
      ).version,
    registerRaw: async (model, bytes) => {
      let experimentId: string;
      try {
        experimentId = (await mlflow.getExperimentByName('prograde')).experimentId;
      } catch {
        // Test files run in parallel on the one MLflow server: another may create it first.
        experimentId = await mlflow
          .createExperiment('prograde')
          .catch(async () => (await mlflow.getExperimentByName('prograde')).experimentId);
      }
      const logged = await mlflow.createLoggedModel(experimentId, { name: 'model' });
      const root = proxiedArtifactPath(logged.artifactUri);
      await mlflow.uploadArtifact(joinArtifactPath(root, 'model.onnx'), bytes);
      await mlflow.uploadArtifact(
        joinArtifactPath(root, 'MLmodel'),
        Buffer.from(writeOnnxMlmodel({ modelId: logged.modelId, artifactPath: logged.artifactUri })),
      );
      await mlflow.finalizeLoggedModel(logged.modelId, 'LOGGED_MODEL_READY');
      await mlflow.createRegisteredModel(model).catch(() => undefined);
      const created = await mlflow.createModelVersion(model, logged.artifactUri, { modelId: logged.modelId });
      await mlflow.waitUntilReady(model, created.version);
      return created.version;
    },
    input: (specInput, version, dataset) => {
      const spec = PromotionSpec.parse(specInput);
      const specFile = join(dir, `${spec.model}.promotion.yaml`);
      writeFileSync(specFile, stringify(specInput));
      return {
        spec,
        specFile,
        specSha256: 'test',
        candidateVersion: version,
        dataset: dataset ?? { kind: 'file', path: datasetPath },
        requestedBy: 'vitest',
      };
    },
    startWorker: async () => {
      const nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress() });
      const worker = await createPromotionWorker({
        connection: nativeConnection,
        namespace: stack.temporalNamespace(),
        taskQueue,
        mlflow,
        workDir: join(dir, 'worker'),
        logger,
        workflowBundle: await workflowBundle(),
      });
      const running = worker.run();
      const handle: RunningWorker = {
        worker,
        stop: async () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running;
          await nativeConnection.close();
        },
      };
      workers.push(handle);
      return handle;
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
      await connection.close();
    },
  };
  return harness;
}

export const uniqueModel = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
