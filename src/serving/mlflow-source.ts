import { ProgradeError, messageOf } from '../errors';
import type { ModelCache } from '../mlflow/cache';
import type { MlflowClient } from '../mlflow/client';
import { isMlflowNotFound } from '../mlflow/errors';
import type { ModelArtifact, ModelSource } from './model-source';

/**
 * Versions from an MLflow registry, through the verified local cache (so a restart reloads from
 * disk without re-downloading, and a tampered file is caught by its sha256).
 */
export class MlflowModelSource implements ModelSource {
  readonly description: string;

  constructor(
    private readonly client: MlflowClient,
    private readonly cache: ModelCache,
  ) {
    this.description = `MLflow registry at ${client.baseUrl}`;
  }

  async load(model: string, version: string): Promise<ModelArtifact> {
    try {
      // With MLflow down, the verified copy on disk: a restart restores what it served (src/mlflow/cache.ts).
      const fetched = await this.cache.fetchVersionOrCached(model, version);
      return { onnxPath: fetched.onnxPath, sha256: fetched.sha256 };
    } catch (e) {
      if (isMlflowNotFound(e)) {
        throw new ProgradeError(
          'SERVING_VERSION_NOT_FOUND',
          `MLflow has no version ${version} of registered model '${model}'`,
          'terminal',
          { model, version },
          { cause: e },
        );
      }
      if (e instanceof ProgradeError) throw e;
      throw new ProgradeError(
        'SERVING_MODEL_FETCH_FAILED',
        `fetching ${model} version ${version} from MLflow failed: ${messageOf(e)}`,
        'retryable',
        { model, version },
        { cause: e },
      );
    }
  }

  async hasModel(model: string): Promise<boolean> {
    try {
      await this.client.getRegisteredModel(model);
      return true;
    } catch (e) {
      if (isMlflowNotFound(e)) return false;
      throw e;
    }
  }
}
