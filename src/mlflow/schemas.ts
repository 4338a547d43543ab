import { z } from 'zod';

/**
 * Zod schemas of MLflow REST answers, turned into camelCase domain objects. The server omits empty
 * lists and empty strings (a version without tags has no `tags` key), so those default here.
 */

const Int64 = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform(Number);
const KeyValues = z
  .array(z.object({ key: z.string(), value: z.string().default('') }))
  .default([])
  .transform((tags): Record<string, string> => Object.fromEntries(tags.map((t) => [t.key, t.value])));

export const ModelVersionStatus = z.enum(['PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY']);
export type ModelVersionStatus = z.infer<typeof ModelVersionStatus>;

export const ModelVersion = z
  .object({
    name: z.string(),
    version: z.union([z.string(), z.number()]).transform(String),
    creation_timestamp: Int64.optional(),
    last_updated_timestamp: Int64.optional(),
    description: z.string().default(''),
    source: z.string().default(''),
    run_id: z.string().default(''),
    status: ModelVersionStatus.default('READY'),
    status_message: z.string().default(''),
    tags: KeyValues,
    aliases: z.array(z.string()).default([]),
    model_id: z.string().optional(),
  })
  .transform((v) => ({
    name: v.name,
    version: v.version,
    createdAt: v.creation_timestamp,
    updatedAt: v.last_updated_timestamp,
    description: v.description,
    source: v.source,
    /** '' when the version was not created from a run. */
    runId: v.run_id,
    status: v.status,
    statusMessage: v.status_message,
    tags: v.tags,
    aliases: v.aliases,
    /** The MLflow 3 logged model behind the version, when the server reports it. */
    modelId: v.model_id,
  }));
export type ModelVersion = z.output<typeof ModelVersion>;

export const RegisteredModel = z
  .object({
    name: z.string(),
    creation_timestamp: Int64.optional(),
    last_updated_timestamp: Int64.optional(),
    description: z.string().default(''),
    tags: KeyValues,
    aliases: z
      .array(z.object({ alias: z.string(), version: z.union([z.string(), z.number()]).transform(String) }))
      .default([]),
    latest_versions: z.array(ModelVersion).default([]),
  })
  .transform((m) => ({
    name: m.name,
    createdAt: m.creation_timestamp,
    updatedAt: m.last_updated_timestamp,
    description: m.description,
    tags: m.tags,
    /** alias → version */
    aliases: Object.fromEntries(m.aliases.map((a) => [a.alias, a.version])),
    latestVersions: m.latest_versions,
  }));
export type RegisteredModel = z.output<typeof RegisteredModel>;

export const Experiment = z
  .object({
    experiment_id: z.string(),
    name: z.string(),
    artifact_location: z.string().default(''),
    lifecycle_stage: z.string().default('active'),
  })
  .transform((e) => ({
    experimentId: e.experiment_id,
    name: e.name,
    artifactLocation: e.artifact_location,
    lifecycleStage: e.lifecycle_stage,
  }));
export type Experiment = z.output<typeof Experiment>;

export const LoggedModelStatus = z.enum([
  'LOGGED_MODEL_STATUS_UNSPECIFIED',
  'LOGGED_MODEL_PENDING',
  'LOGGED_MODEL_READY',
  'LOGGED_MODEL_UPLOAD_FAILED',
]);
export type LoggedModelStatus = z.infer<typeof LoggedModelStatus>;

export const LoggedModel = z
  .object({
    info: z.object({
      model_id: z.string(),
      experiment_id: z.string(),
      name: z.string().default(''),
      artifact_uri: z.string(),
      status: LoggedModelStatus.default('LOGGED_MODEL_STATUS_UNSPECIFIED'),
      source_run_id: z.string().default(''),
      creation_timestamp_ms: Int64.optional(),
      tags: KeyValues,
    }),
  })
  .transform(({ info }) => ({
    modelId: info.model_id,
    experimentId: info.experiment_id,
    name: info.name,
    artifactUri: info.artifact_uri,
    status: info.status,
    sourceRunId: info.source_run_id,
    createdAt: info.creation_timestamp_ms,
    tags: info.tags,
  }));
export type LoggedModel = z.output<typeof LoggedModel>;

export const ArtifactEntry = z
  .object({ path: z.string(), is_dir: z.boolean().default(false), file_size: Int64.optional() })
  .transform((f) => ({ path: f.path, isDir: f.is_dir, size: f.file_size }));
export type ArtifactEntry = z.output<typeof ArtifactEntry>;

export const RunStatus = z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']);
export type RunStatus = z.infer<typeof RunStatus>;

const Metric = z.object({
  key: z.string(),
  value: z.union([z.number(), z.string()]).transform(Number),
  timestamp: Int64.default(0),
  step: Int64.default(0),
});

export const Run = z
  .object({
    info: z.object({
      run_id: z.string(),
      experiment_id: z.string(),
      artifact_uri: z.string(),
      run_name: z.string().default(''),
      status: RunStatus.default('RUNNING'),
      start_time: Int64.optional(),
      end_time: Int64.optional(),
    }),
    data: z
      .object({
        metrics: z.array(Metric).default([]),
        params: KeyValues,
        tags: KeyValues,
      })
      .prefault({}),
  })
  .transform(({ info, data }) => ({
    runId: info.run_id,
    experimentId: info.experiment_id,
    artifactUri: info.artifact_uri,
    name: info.run_name,
    status: info.status,
    startTime: info.start_time,
    endTime: info.end_time,
    /** Each metric's latest value, by key. */
    metrics: Object.fromEntries(data.metrics.map((m) => [m.key, m.value])),
    params: data.params,
    tags: data.tags,
  }));
export type Run = z.output<typeof Run>;

export type MetricPoint = z.output<typeof Metric>;
export const MetricHistory = z.object({
  metrics: z.array(Metric).default([]),
  next_page_token: z.string().optional(),
});
export const RunsPage = z.object({
  runs: z.array(Run).default([]),
  next_page_token: z.string().optional(),
});

// Response envelopes, one per endpoint shape.
export const RegisteredModelResponse = z.object({ registered_model: RegisteredModel });
export const RegisteredModelsPage = z.object({
  registered_models: z.array(RegisteredModel).default([]),
  next_page_token: z.string().optional(),
});
export const ModelVersionResponse = z.object({ model_version: ModelVersion });
export const ModelVersionsPage = z.object({
  model_versions: z.array(ModelVersion).default([]),
  next_page_token: z.string().optional(),
});
export const DownloadUriResponse = z.object({ artifact_uri: z.string().min(1) });
export const ExperimentResponse = z.object({ experiment: Experiment });
export const CreateExperimentResponse = z.object({ experiment_id: z.string().min(1) });
export const LoggedModelResponse = z.object({ model: LoggedModel });
export const RunResponse = z.object({ run: Run });
export const ArtifactListing = z.object({ files: z.array(ArtifactEntry).default([]) });
/** Mutations that answer `{}`. */
export const Empty = z.object({});
