import type {
  RecordOutcomeInput,
  RecordOutcomeOutput,
  RegistryVersion,
  ResolveInput,
  ResolveOutput,
} from '../activities/contracts';
import { ProgradeError } from '../errors';
import { isMlflowNotFound } from '../mlflow/errors';
import type { MlflowClient } from '../mlflow/client';
import type { ModelVersion } from '../mlflow/schemas';
import { buildReport, renderMarkdown } from '../report/report';

/** MLflow caps tag values; reasons longer than this are cut with a pointer to the full report. */
const MAX_TAG_VALUE = 4_000;

export const TAG = {
  outcome: 'prograde.outcome',
  reason: 'prograde.reason',
  workflowId: 'prograde.workflow_id',
  runId: 'prograde.run_id',
  report: 'prograde.report',
  approvedBy: 'prograde.approved_by',
  previousChampion: 'prograde.previous_champion',
  replacedBy: 'prograde.replaced_by',
  failedGate: 'prograde.failed_gate',
} as const;

function toRegistryVersion(v: ModelVersion): RegistryVersion {
  return {
    version: v.version,
    status: v.status,
    source: v.source,
    ...(v.runId ? { runId: v.runId } : {}),
    ...(v.modelId ? { modelId: v.modelId } : {}),
    aliases: v.aliases,
    tags: v.tags,
  };
}

/** Candidate by number and champion by alias; no champion alias yet means a first model. */
export async function resolveVersions(client: MlflowClient, input: ResolveInput): Promise<ResolveOutput> {
  const candidate = await client.getModelVersion(input.model, input.candidateVersion);
  if (candidate.status !== 'READY') {
    throw new ProgradeError(
      candidate.status === 'FAILED_REGISTRATION' ? 'MODEL_VERSION_FAILED' : 'MODEL_VERSION_NOT_READY',
      `${input.model} v${input.candidateVersion} is ${candidate.status}, not READY`,
      candidate.status === 'FAILED_REGISTRATION' ? 'terminal' : 'retryable',
      { ...input },
    );
  }
  let champion: ModelVersion | null = null;
  try {
    champion = await client.getModelVersionByAlias(input.model, input.championAlias);
  } catch (e) {
    if (!isMlflowNotFound(e)) throw e;
  }
  return { candidate: toRegistryVersion(candidate), champion: champion ? toRegistryVersion(champion) : null };
}

export function reportArtifactDir(model: string, version: string, runId: string): string {
  return `prograde/reports/${encodeURIComponent(model)}/${version}/${runId}`;
}

/**
 * Writes the outcome of a promotion to the registry: the evidence report (JSON + Markdown) as
 * proxied artifacts, the outcome as version tags and, for a promotion, the champion alias — last,
 * so a crash part-way never shows a half-recorded version as champion. Every write is a set that
 * is skipped when the registry already holds the value, so a retried call makes no second write.
 */
export async function recordOutcome(
  client: MlflowClient,
  input: RecordOutcomeInput,
): Promise<RecordOutcomeOutput> {
  const { state, championAlias, workflowRunId } = input;
  const report = buildReport(state, workflowRunId);
  const dir = reportArtifactDir(state.model, state.candidate.version, workflowRunId);
  await client.uploadArtifact(`${dir}/report.json`, Buffer.from(JSON.stringify(report, null, 2)));
  await client.uploadArtifact(`${dir}/report.md`, Buffer.from(renderMarkdown(report)));
  const reportUri = `mlflow-artifacts:/${dir}/report.md`;

  let current: ModelVersion;
  try {
    current = await client.getModelVersion(state.model, state.candidate.version);
  } catch (e) {
    // Nothing to tag when the version never existed (a mistyped --version): the report still records it.
    if (isMlflowNotFound(e) && state.outcome === 'failed') return { reportUri, writes: 0 };
    throw e;
  }
  const have = current.tags;
  let writes = 0;
  const setTag = async (
    version: string,
    key: string,
    value: string,
    existing: Readonly<Record<string, string>>,
  ): Promise<void> => {
    const v =
      value.length > MAX_TAG_VALUE
        ? `${value.slice(0, MAX_TAG_VALUE - 40)}… (full text in ${TAG.report})`
        : value;
    if (existing[key] === v) return;
    await client.setModelVersionTag(state.model, version, key, v);
    writes++;
  };

  const outcome = state.outcome ?? 'failed';
  const failedGate = state.gates.find((g) => g.status !== 'passed');
  const tags: [string, string][] = [
    [TAG.outcome, outcome],
    [TAG.reason, state.reason ?? ''],
    [TAG.workflowId, state.workflowId],
    [TAG.runId, workflowRunId],
    [TAG.report, reportUri],
  ];
  if (failedGate && outcome !== 'promoted') tags.push([TAG.failedGate, failedGate.gate]);
  const decision = state.approval.decision;
  if (decision?.decision === 'approve')
    tags.push([TAG.approvedBy, `${decision.by} (${decision.via}) at ${decision.at}: ${decision.reason}`]);
  const champion = state.champion;
  if (outcome === 'promoted' && champion) tags.push([TAG.previousChampion, champion.version]);
  for (const [k, v] of tags) await setTag(state.candidate.version, k, v, have);

  if (outcome === 'promoted') {
    if (champion) {
      const old = await client.getModelVersion(state.model, champion.version);
      await setTag(champion.version, TAG.replacedBy, state.candidate.version, old.tags);
    }
    if (!current.aliases.includes(championAlias)) {
      await client.setAlias(state.model, championAlias, state.candidate.version);
      writes++;
    }
  }
  return { reportUri, writes };
}
