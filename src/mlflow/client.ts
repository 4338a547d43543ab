// Over 350 lines on purpose: one short typed method per MLflow REST endpoint prograde uses, in one
// class so that authentication, retries and the error mapping are written once.
import { setTimeout as sleep } from 'node:timers/promises';
import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { ProgradeError } from '../errors';
import { joinArtifactPath, normaliseRelative } from './artifact-path';
import { mlflowConfigFromEnv, type MlflowConfig } from './config';
import { MlflowError } from './errors';
import { MlflowHttp } from './http';
import {
  ArtifactListing,
  CreateExperimentResponse,
  DownloadUriResponse,
  Empty,
  ExperimentResponse,
  LoggedModelResponse,
  MetricHistory,
  ModelVersionResponse,
  ModelVersionsPage,
  RegisteredModelResponse,
  RegisteredModelsPage,
  RunResponse,
  RunsPage,
  type ArtifactEntry,
  type Experiment,
  type LoggedModel,
  type ModelVersion,
  type RegisteredModel,
  type MetricPoint,
  type Run,
  type RunStatus,
} from './schemas';

const API = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

export type Tags = Readonly<Record<string, string>>;
const tagList = (tags: Tags | undefined): { key: string; value: string }[] =>
  Object.entries(tags ?? {}).map(([key, value]) => ({ key, value }));

export interface SearchOptions {
  /** MLflow filter string, e.g. `name = 'churn'` or `name LIKE 'churn%'`. */
  readonly filter?: string;
  readonly maxResults?: number;
  readonly orderBy?: readonly string[];
  readonly pageToken?: string;
}
export interface Page<T> {
  readonly items: T[];
  /** Present when more results exist; pass it back as `pageToken`. */
  readonly nextPageToken?: string;
}

export interface WaitOptions {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
}

/** Result of streaming one artifact to a file. */
export interface DownloadedFile {
  readonly size: number;
  readonly sha256: string;
}

/** Encodes each segment of a proxied artifact path for the URL, keeping the '/' separators. */
function artifactUrlPath(path: string): string {
  const rel = normaliseRelative(path);
  return `${ARTIFACTS}/${rel.split('/').map(encodeURIComponent).join('/')}`;
}

/** Typed client for the MLflow 3 REST API: model registry, experiments, logged models, proxied artifacts. */
export class MlflowClient {
  readonly http: MlflowHttp;

  constructor(config: MlflowConfig) {
    this.http = new MlflowHttp(config);
  }

  /** From `MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_USERNAME`/`PASSWORD`, `MLFLOW_TRACKING_TOKEN`, `PROGRADE_MLFLOW_TIMEOUT_MS`. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): MlflowClient {
    return new MlflowClient(mlflowConfigFromEnv(env));
  }

  get baseUrl(): string {
    return this.http.config.baseUrl;
  }

  // ---- registered models ----

  async createRegisteredModel(
    name: string,
    options: { tags?: Tags; description?: string } = {},
  ): Promise<RegisteredModel> {
    const body = { name, tags: tagList(options.tags), description: options.description ?? '' };
    const r = await this.http.json('POST', `${API}/registered-models/create`, RegisteredModelResponse, {
      body,
    });
    return r.registered_model;
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const r = await this.http.json('GET', `${API}/registered-models/get`, RegisteredModelResponse, {
      query: { name },
    });
    return r.registered_model;
  }

  async searchRegisteredModels(options: SearchOptions = {}): Promise<Page<RegisteredModel>> {
    const r = await this.http.json('GET', `${API}/registered-models/search`, RegisteredModelsPage, {
      query: searchQuery(options),
    });
    return page(r.registered_models, r.next_page_token);
  }

  /** Deletes the registered model with all its versions, aliases and tags (not the logged models' files). */
  async deleteRegisteredModel(name: string): Promise<void> {
    await this.http.json('DELETE', `${API}/registered-models/delete`, Empty, { body: { name } });
  }

  /** Every registered model matching `filter`, following page tokens. */
  async *iterateRegisteredModels(filter?: string, pageSize = 100): AsyncGenerator<RegisteredModel> {
    yield* paginate((pageToken) =>
      this.searchRegisteredModels(
        withToken({ maxResults: pageSize, ...(filter ? { filter } : {}) }, pageToken),
      ),
    );
  }

  // ---- model versions ----

  async createModelVersion(
    name: string,
    source: string,
    options: { runId?: string; modelId?: string; tags?: Tags; description?: string } = {},
  ): Promise<ModelVersion> {
    const body = {
      name,
      source,
      run_id: options.runId,
      model_id: options.modelId,
      tags: tagList(options.tags),
      description: options.description,
    };
    const r = await this.http.json('POST', `${API}/model-versions/create`, ModelVersionResponse, { body });
    return r.model_version;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const r = await this.http.json('GET', `${API}/model-versions/get`, ModelVersionResponse, {
      query: { name, version },
    });
    return r.model_version;
  }

  async searchModelVersions(options: SearchOptions = {}): Promise<Page<ModelVersion>> {
    const r = await this.http.json('GET', `${API}/model-versions/search`, ModelVersionsPage, {
      query: searchQuery(options),
    });
    return page(r.model_versions, r.next_page_token);
  }

  async *iterateModelVersions(filter?: string, pageSize = 100): AsyncGenerator<ModelVersion> {
    yield* paginate((pageToken) =>
      this.searchModelVersions(withToken({ maxResults: pageSize, ...(filter ? { filter } : {}) }, pageToken)),
    );
  }

  async deleteModelVersion(name: string, version: string): Promise<void> {
    await this.http.json('DELETE', `${API}/model-versions/delete`, Empty, { body: { name, version } });
  }

  /** Where the version's files live (an `mlflow-artifacts:` URI), whatever its `source` says. */
  async getModelVersionDownloadUri(name: string, version: string): Promise<string> {
    const r = await this.http.json('GET', `${API}/model-versions/get-download-uri`, DownloadUriResponse, {
      query: { name, version },
    });
    return r.artifact_uri;
  }

  /**
   * Polls a version until the registry has copied its files: READY returns it, FAILED_REGISTRATION
   * throws `MLFLOW_REGISTRATION_FAILED` (terminal), and running out of time throws
   * `MLFLOW_REGISTRATION_TIMEOUT` (retryable: the registry may still finish).
   */
  async waitUntilReady(name: string, version: string, options: WaitOptions = {}): Promise<ModelVersion> {
    const interval = options.intervalMs ?? 500;
    const budget = options.timeoutMs ?? 300_000;
    const started = Date.now();
    for (;;) {
      const mv = await this.getModelVersion(name, version);
      if (mv.status === 'READY') return mv;
      if (mv.status === 'FAILED_REGISTRATION') {
        throw new ProgradeError(
          'MLFLOW_REGISTRATION_FAILED',
          `Model version ${name}/${version} failed registration: ${mv.statusMessage || 'no reason given'}`,
          'terminal',
          { name, version, statusMessage: mv.statusMessage },
        );
      }
      if (Date.now() - started >= budget) {
        throw new ProgradeError(
          'MLFLOW_REGISTRATION_TIMEOUT',
          `Model version ${name}/${version} still ${mv.status} after ${budget} ms`,
          'retryable',
          { name, version, status: mv.status },
        );
      }
      await sleep(interval);
    }
  }

  // ---- aliases ----

  /** Points `alias` at `version`, moving it if it pointed elsewhere. */
  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.http.json('POST', `${API}/registered-models/alias`, Empty, { body: { name, alias, version } });
  }

  /**
   * The version an alias points at. MLflow 3 answers a missing alias with 400 INVALID_PARAMETER_VALUE
   * ("Registered model alias … not found"); it is reported as RESOURCE_DOES_NOT_EXIST here, once, so
   * callers test `isMlflowNotFound` as for any other missing resource.
   */
  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    try {
      const r = await this.http.json('GET', `${API}/registered-models/alias`, ModelVersionResponse, {
        query: { name, alias },
      });
      return r.model_version;
    } catch (e) {
      if (
        e instanceof MlflowError &&
        e.code === 'MLFLOW_INVALID_PARAMETER_VALUE' &&
        /alias .* not found/i.test(e.message)
      ) {
        throw new MlflowError({
          code: 'MLFLOW_RESOURCE_DOES_NOT_EXIST',
          message: `${name} has no alias @${alias}`,
          retry: 'terminal',
          endpoint: e.endpoint,
          ...(e.status === undefined ? {} : { status: e.status }),
          ...(e.serverErrorCode === undefined ? {} : { serverErrorCode: e.serverErrorCode }),
          cause: e,
        });
      }
      throw e;
    }
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.http.json('DELETE', `${API}/registered-models/alias`, Empty, { body: { name, alias } });
  }

  // ---- tags ----

  async setRegisteredModelTag(name: string, key: string, value: string): Promise<void> {
    await this.http.json('POST', `${API}/registered-models/set-tag`, Empty, { body: { name, key, value } });
  }

  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.http.json('DELETE', `${API}/registered-models/delete-tag`, Empty, { body: { name, key } });
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.http.json('POST', `${API}/model-versions/set-tag`, Empty, {
      body: { name, version, key, value },
    });
  }

  async deleteModelVersionTag(name: string, version: string, key: string): Promise<void> {
    await this.http.json('DELETE', `${API}/model-versions/delete-tag`, Empty, {
      body: { name, version, key },
    });
  }

  // ---- experiments and runs ----

  async getExperimentByName(name: string): Promise<Experiment> {
    const r = await this.http.json('GET', `${API}/experiments/get-by-name`, ExperimentResponse, {
      query: { experiment_name: name },
    });
    return r.experiment;
  }

  /** Returns the new experiment's id. */
  async createExperiment(name: string, options: { tags?: Tags } = {}): Promise<string> {
    const r = await this.http.json('POST', `${API}/experiments/create`, CreateExperimentResponse, {
      body: { name, tags: tagList(options.tags) },
    });
    return r.experiment_id;
  }

  async getRun(runId: string): Promise<Run> {
    const r = await this.http.json('GET', `${API}/runs/get`, RunResponse, { query: { run_id: runId } });
    return r.run;
  }

  async createRun(
    experimentId: string,
    options: { name?: string; startTime?: number; tags?: Tags } = {},
  ): Promise<Run> {
    const body = {
      experiment_id: experimentId,
      run_name: options.name,
      start_time: options.startTime,
      tags: tagList(options.tags),
    };
    const r = await this.http.json('POST', `${API}/runs/create`, RunResponse, { body });
    return r.run;
  }

  /** Ends (or renames) a run; the server answers with its new info, which is not needed here. */
  async updateRun(
    runId: string,
    update: { status?: RunStatus; endTime?: number; name?: string },
  ): Promise<void> {
    const body = { run_id: runId, status: update.status, end_time: update.endTime, run_name: update.name };
    await this.http.json('POST', `${API}/runs/update`, z.unknown(), { body });
  }

  /** Runs of some experiments matching an MLflow filter (e.g. `tags.\`k\` = 'v'`), one page. */
  async searchRuns(experimentIds: readonly string[], options: SearchOptions = {}): Promise<Page<Run>> {
    const body = { experiment_ids: experimentIds, ...searchQuery(options) };
    const r = await this.http.json('POST', `${API}/runs/search`, RunsPage, { body });
    return page(r.runs, r.next_page_token);
  }

  /**
   * Params, metrics and tags in one call. The server takes at most 1000 metrics, 100 params and 100
   * tags a call (and 1000 items in all); callers split larger sets (see `logBatches`).
   */
  async logBatch(
    runId: string,
    batch: { metrics?: readonly MetricPoint[]; params?: Tags; tags?: Tags },
  ): Promise<void> {
    const body = {
      run_id: runId,
      metrics: batch.metrics ?? [],
      params: tagList(batch.params),
      tags: tagList(batch.tags),
    };
    await this.http.json('POST', `${API}/runs/log-batch`, Empty, { body });
  }

  async setRunTag(runId: string, key: string, value: string): Promise<void> {
    await this.http.json('POST', `${API}/runs/set-tag`, Empty, { body: { run_id: runId, key, value } });
  }

  /** Every logged point of one metric, oldest step first. */
  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const out: MetricPoint[] = [];
    let token: string | undefined;
    do {
      const r = await this.http.json('GET', `${API}/metrics/get-history`, MetricHistory, {
        query: { run_id: runId, metric_key: key, max_results: 25_000, page_token: token },
      });
      out.push(...r.metrics);
      token = r.next_page_token || undefined;
    } while (token);
    return out;
  }

  // ---- logged models (MLflow 3) ----

  async createLoggedModel(
    experimentId: string,
    options: { name?: string; sourceRunId?: string; tags?: Tags } = {},
  ): Promise<LoggedModel> {
    const body = {
      experiment_id: experimentId,
      name: options.name,
      source_run_id: options.sourceRunId,
      tags: tagList(options.tags),
    };
    const r = await this.http.json('POST', `${API}/logged-models`, LoggedModelResponse, { body });
    return r.model;
  }

  /** Marks a logged model's upload complete (`LOGGED_MODEL_READY`) or failed. */
  async finalizeLoggedModel(
    modelId: string,
    status: 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED' = 'LOGGED_MODEL_READY',
  ): Promise<LoggedModel> {
    const r = await this.http.json(
      'PATCH',
      `${API}/logged-models/${encodeURIComponent(modelId)}`,
      LoggedModelResponse,
      {
        body: { model_id: modelId, status },
      },
    );
    return r.model;
  }

  async getLoggedModel(modelId: string): Promise<LoggedModel> {
    const r = await this.http.json(
      'GET',
      `${API}/logged-models/${encodeURIComponent(modelId)}`,
      LoggedModelResponse,
    );
    return r.model;
  }

  // ---- proxied artifacts; paths are relative to the artifact root (see proxiedArtifactPath) ----

  async uploadArtifact(path: string, bytes: Uint8Array): Promise<void> {
    await this.http.put(artifactUrlPath(path), bytes);
  }

  /** Whole artifact in memory; use `downloadArtifactToFile` for model weights. */
  async downloadArtifact(path: string): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.http.stream(artifactUrlPath(path))) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** Streams an artifact into `file` (created or truncated), hashing it on the way. */
  async downloadArtifactToFile(path: string, file: string): Promise<DownloadedFile> {
    const out = createWriteStream(file, { flags: 'w' });
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of this.http.stream(artifactUrlPath(path))) {
        hash.update(chunk);
        size += chunk.byteLength;
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
      }
      out.end();
      await finished(out);
    } catch (e) {
      out.destroy();
      throw e;
    }
    return { size, sha256: hash.digest('hex') };
  }

  /** Direct children of `dir`; entry paths are relative to `dir`. A missing directory lists as empty. */
  async listArtifacts(dir: string): Promise<ArtifactEntry[]> {
    const r = await this.http.json('GET', ARTIFACTS, ArtifactListing, {
      query: { path: normaliseRelative(dir) },
    });
    return r.files;
  }

  /** Proxied path of a file inside `dir`. */
  static artifactPath(dir: string, rel: string): string {
    return joinArtifactPath(normaliseRelative(dir), normaliseRelative(rel));
  }
}

function searchQuery(o: SearchOptions): Record<string, string | number | readonly string[] | undefined> {
  return { filter: o.filter, max_results: o.maxResults, order_by: o.orderBy, page_token: o.pageToken };
}

function page<T>(items: T[], token: string | undefined): Page<T> {
  return token ? { items, nextPageToken: token } : { items };
}

function withToken(o: SearchOptions, pageToken: string | undefined): SearchOptions {
  return pageToken ? { ...o, pageToken } : o;
}

async function* paginate<T>(
  fetchPage: (pageToken: string | undefined) => Promise<Page<T>>,
): AsyncGenerator<T> {
  let token: string | undefined;
  do {
    const p = await fetchPage(token);
    yield* p.items;
    token = p.nextPageToken;
  } while (token);
}
