import { createHash } from 'node:crypto';
import type { MlflowClient } from '../mlflow/client';
import { proxiedArtifactPath } from '../mlflow/artifact-path';
import { isMlflowNotFound, MlflowError } from '../mlflow/errors';
import type { Run, RunStatus } from '../mlflow/schemas';
import type { PromotionState } from '../promotion/state';
import { renderHtml } from '../report/html';
import { buildReport, renderMarkdown } from '../report/report';
import { attemptsOf } from './attempts';
import { attemptTimes, batches, runLog, type SpecParams } from './run-metrics';

/**
 * One MLflow run per promotion attempt, in the experiment `prograde/<model>`, so the evidence sits
 * where ML teams look: params, every check's numbers as metrics (canary checks as step metrics across
 * the steps), and the report as report.json, report.md and a self-contained report.html.
 *
 * Linked both ways: the run carries the model, version, workflow and attempt as tags; the version
 * carries `prograde.mlflow_run_id` (and a link) naming the run of its latest recorded attempt.
 *
 * Idempotent: the run is found by its attempt key (a hash of workflow id and run id) before one is
 * created; metrics have fixed timestamps and steps, which MLflow stores once however often they are
 * logged; params are logged with the same values; artifacts overwrite themselves.
 */

export const RUN_TAG = {
  attemptKey: 'prograde.attempt_key',
  model: 'prograde.model',
  version: 'prograde.version',
  workflowId: 'prograde.workflow_id',
  workflowRunId: 'prograde.workflow_run_id',
  attempt: 'prograde.attempt',
  outcome: 'prograde.outcome',
} as const;

/** On the model version: the run of its latest recorded attempt. */
export const VERSION_RUN_TAG = 'prograde.mlflow_run_id';
export const VERSION_RUN_URL_TAG = 'prograde.mlflow_run_url';

export interface RecordEvidenceInput {
  readonly state: PromotionState;
  readonly workflowRunId: string;
  readonly spec: SpecParams;
  /** The attempt number recordOutcome gave; absent when it wrote nothing on the version. */
  readonly attempt?: number;
  /** Temporal UI link of the workflow, for the HTML report. */
  readonly temporalLink?: string;
}

export interface RecordEvidenceOptions {
  /**
   * This is the activity's first attempt, so no run of this attempt key can exist yet (the key names
   * the workflow run, and a run records its evidence once): the search for it is skipped. A retry,
   * which may follow an attempt that created the run, always searches.
   */
  readonly firstAttempt?: boolean;
}

export interface RecordEvidenceOutput {
  readonly runId: string;
  readonly experimentId: string;
  /** The run in the MLflow UI. */
  readonly url: string;
}

export const experimentName = (model: string): string => `prograde/${model}`;

/** Hex, so it can be quoted in an MLflow filter whatever the model is called. */
export function attemptKey(workflowId: string, workflowRunId: string): string {
  return createHash('sha256').update(`${workflowId}\n${workflowRunId}`).digest('hex').slice(0, 32);
}

export function runUrl(baseUrl: string, experimentId: string, runId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
}

const STATUS: Readonly<Record<string, RunStatus>> = {
  promoted: 'FINISHED',
  aborted: 'KILLED',
};

async function experimentFor(client: MlflowClient, model: string): Promise<string> {
  const name = experimentName(model);
  try {
    return (await client.getExperimentByName(name)).experimentId;
  } catch (e) {
    if (!isMlflowNotFound(e)) throw e;
  }
  try {
    return await client.createExperiment(name, { tags: { [RUN_TAG.model]: model } });
  } catch (e) {
    // Another worker created it between the two calls.
    if (e instanceof MlflowError && e.code === 'MLFLOW_RESOURCE_ALREADY_EXISTS')
      return (await client.getExperimentByName(name)).experimentId;
    throw e;
  }
}

async function findOrCreateRun(
  client: MlflowClient,
  experimentId: string,
  input: RecordEvidenceInput,
  start: number,
  search: boolean,
): Promise<Run> {
  const { state, workflowRunId } = input;
  const key = attemptKey(state.workflowId, workflowRunId);
  if (search) {
    const found = await client.searchRuns([experimentId], {
      filter: `tags.\`${RUN_TAG.attemptKey}\` = '${key}'`,
      maxResults: 1,
    });
    const existing = found.items[0];
    if (existing) return existing;
  }
  const attempt = input.attempt === undefined ? '' : ` #${input.attempt}`;
  return client.createRun(experimentId, {
    name: `${state.model} v${state.candidate.version}${attempt}`.slice(0, 250),
    startTime: start,
    tags: {
      [RUN_TAG.attemptKey]: key,
      [RUN_TAG.model]: state.model,
      [RUN_TAG.version]: state.candidate.version,
      [RUN_TAG.workflowId]: state.workflowId,
      [RUN_TAG.workflowRunId]: workflowRunId,
      ...(input.attempt === undefined ? {} : { [RUN_TAG.attempt]: String(input.attempt) }),
    },
  });
}

/** Markdown the MLflow UI shows as the run's description. */
function note(state: PromotionState, links: readonly string[]): string {
  const reason = (state.reason ?? '').slice(0, 2000);
  return [
    `**${state.outcome ?? 'failed'}**: ${reason}`,
    '',
    'Charts: the metrics tab; the full report: Artifacts → report.html.',
    ...links.map((l) => `- ${l}`),
  ].join('\n');
}

/**
 * MLflow calls: experiment lookup, run search (retries only), run creation, one log-batch per 1000
 * metrics / 100 params (one for a typical attempt), the version, three uploads, the outcome tags, up
 * to two version tags and the run's end: 10–12 for an offline promotion (13–15 before the search was
 * skipped on first attempts and params, metrics and the outcome tags were sent together).
 */
export async function recordEvidenceRun(
  client: MlflowClient,
  input: RecordEvidenceInput,
  now: number = Date.now(),
  options: RecordEvidenceOptions = {},
): Promise<RecordEvidenceOutput> {
  const { state, workflowRunId } = input;
  const { start, end } = attemptTimes(state, now);
  const experimentId = await experimentFor(client, state.model);
  const run = await findOrCreateRun(client, experimentId, input, start, options.firstAttempt !== true);
  const url = runUrl(client.baseUrl, experimentId, run.runId);

  const log = runLog(state, input.spec, now);
  for (const b of batches(log)) await client.logBatch(run.runId, b);

  let version: Awaited<ReturnType<MlflowClient['getModelVersion']>> | undefined;
  try {
    version = await client.getModelVersion(state.model, state.candidate.version);
  } catch (e) {
    if (!isMlflowNotFound(e)) throw e;
  }
  const earlier = version ? attemptsOf(version.tags).filter((a) => a.runId !== workflowRunId) : [];
  const report = buildReport(state, workflowRunId, { attempt: input.attempt ?? earlier.length + 1, earlier });
  const dir = proxiedArtifactPath(run.artifactUri);
  const files: [string, string][] = [
    ['report.json', JSON.stringify(report, null, 2)],
    ['report.md', renderMarkdown(report)],
    [
      'report.html',
      renderHtml(report, { mlflowRun: url, ...(input.temporalLink ? { temporal: input.temporalLink } : {}) }),
    ],
  ];
  for (const [name, text] of files) await client.uploadArtifact(`${dir}/${name}`, Buffer.from(text));

  await client.logBatch(run.runId, {
    tags: {
      [RUN_TAG.outcome]: state.outcome ?? 'failed',
      'mlflow.note.content': note(state, input.temporalLink ? [`Temporal: ${input.temporalLink}`] : []),
    },
  });
  // Only the run of an attempt that was recorded on the version is linked from it (a run that did
  // not promote a version another run made champion must not take its link).
  if (version && input.attempt !== undefined) {
    if (version.tags[VERSION_RUN_TAG] !== run.runId)
      await client.setModelVersionTag(state.model, state.candidate.version, VERSION_RUN_TAG, run.runId);
    if (version.tags[VERSION_RUN_URL_TAG] !== url)
      await client.setModelVersionTag(state.model, state.candidate.version, VERSION_RUN_URL_TAG, url);
  }
  if (run.status === 'RUNNING')
    await client.updateRun(run.runId, {
      status: STATUS[state.outcome ?? 'failed'] ?? 'FAILED',
      endTime: end,
    });
  return { runId: run.runId, experimentId, url };
}
