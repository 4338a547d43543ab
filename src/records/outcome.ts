import type {
  RecordOutcomeInput,
  RecordOutcomeOutput,
  RegistryVersion,
  ResolveInput,
  ResolveOutput,
} from '../promotion/contracts';
import { ProgradeError } from '../errors';
import { isMlflowNotFound } from '../mlflow/errors';
import type { MlflowClient } from '../mlflow/client';
import type { ModelVersion } from '../mlflow/schemas';
import { buildReport, renderMarkdown } from '../report/report';
import { attemptTag, attemptValue, attemptsOf, placeAttempt, type Attempt } from './attempts';
import { decisionTag, decisionTagValue } from './decisions';
import { TAG } from './tags';

/** MLflow caps tag values; reasons longer than this are cut with a pointer to the full report. */
const MAX_TAG_VALUE = 4_000;

export { TAG };

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
 * Writes the outcome of one promotion attempt to the registry: the evidence report (JSON + Markdown)
 * as proxied artifacts under the run's own folder, the attempt as `prograde.attempt.<n>`, the
 * outcome as version tags and, for a promotion, the champion alias — last, so a crash part-way never
 * shows a half-recorded version as champion. The plain `prograde.*` tags describe this attempt only:
 * those that do not hold for it are deleted, so they never contradict each other, while earlier
 * attempts stay reachable through their attempt tags and this report. Every tag, tag deletion and
 * alias write is skipped when the registry already holds it, so a retried call repeats none of them.
 * The two report files are uploaded on every call, a retry included: they go to this run's own
 * folder, so a retry overwrites the same paths with the same run's report and touches no other
 * attempt's. They are not counted in `writes`.
 */
export async function recordOutcome(
  client: MlflowClient,
  input: RecordOutcomeInput,
): Promise<RecordOutcomeOutput> {
  const { state, championAlias, workflowRunId } = input;
  const model = state.model;
  const version = state.candidate.version;
  const outcome = state.outcome ?? 'failed';

  let current: ModelVersion | undefined;
  try {
    current = await client.getModelVersion(model, version);
  } catch (e) {
    // Nothing to tag when the version never existed (a mistyped --version): the report still records it.
    if (!(isMlflowNotFound(e) && outcome === 'failed')) throw e;
  }
  if (current && outcome !== 'promoted' && promotedByAnotherRun(current, championAlias, workflowRunId)) {
    // A run that did not promote a version another run already made champion (a re-run) must not
    // overwrite that run's record.
    return { reportUri: current.tags[TAG.report] ?? '', writes: 0 };
  }

  const earlier = current ? attemptsOf(current.tags) : [];
  const n = placeAttempt(earlier, workflowRunId);
  const dir = reportArtifactDir(model, version, workflowRunId);
  const reportUri = `mlflow-artifacts:/${dir}/report.md`;
  const report = buildReport(state, workflowRunId, {
    attempt: n,
    earlier: earlier.filter((a) => a.runId !== workflowRunId),
  });
  await client.uploadArtifact(`${dir}/report.json`, Buffer.from(JSON.stringify(report, null, 2)));
  await client.uploadArtifact(`${dir}/report.md`, Buffer.from(renderMarkdown(report)));
  if (!current) return { reportUri, writes: 0 };

  const have = current.tags;
  let writes = 0;
  const setTag = async (
    v: string,
    key: string,
    value: string,
    existing: Readonly<Record<string, string>>,
  ): Promise<void> => {
    const cut =
      value.length > MAX_TAG_VALUE
        ? `${value.slice(0, MAX_TAG_VALUE - 40)}… (full text in ${TAG.report})`
        : value;
    if (existing[key] === cut) return;
    await client.setModelVersionTag(model, v, key, cut);
    writes++;
  };
  const deleteTag = async (v: string, key: string, existing: Readonly<Record<string, string>>) => {
    if (!(key in existing)) return;
    await client.deleteModelVersionTag(model, v, key);
    writes++;
  };

  const attempt: Attempt = {
    attempt: n,
    outcome,
    runId: workflowRunId,
    report: reportUri,
    at: state.audit.at(-1)?.at ?? '',
  };
  const legacy = earlier.filter((a) => a.legacy && a.runId !== workflowRunId);
  const attempts = [...legacy, attempt];
  for (const a of attempts) {
    if (!(attemptTag(a.attempt) in have)) await setTag(version, attemptTag(a.attempt), attemptValue(a), have);
  }
  const count = Math.max(n, ...earlier.map((a) => a.attempt));
  await setTag(version, TAG.attempts, String(count), have);

  const failedGate = state.gates.find((g) => g.status !== 'passed');
  const decision = state.approval.decision;
  const champion = state.champion;
  const desired = new Map<string, string>([
    [TAG.outcome, outcome],
    [TAG.reason, state.reason ?? ''],
    [TAG.workflowId, state.workflowId],
    [TAG.runId, workflowRunId],
    [TAG.report, reportUri],
  ]);
  if (failedGate && outcome !== 'promoted') desired.set(TAG.failedGate, failedGate.gate);
  if (decision?.decision === 'approve') {
    const how = decision.signedBy ? `${decision.via}, signed by key ${decision.signedBy}` : decision.via;
    desired.set(TAG.approvedBy, `${decision.by} (${how}) at ${decision.at}: ${decision.reason}`);
  }
  // Every signed decision of this run, verifiable later with `prograde verify` (decisions.ts).
  for (const d of state.decisions ?? []) desired.set(decisionTag(d.digest), decisionTagValue(d));
  if (outcome === 'promoted' && champion) desired.set(TAG.previousChampion, champion.version);
  for (const [k, v] of desired) await setTag(version, k, v, have);

  // Tags of an earlier attempt that do not hold for this one. `replaced_by` stays on a version that
  // lost the champion alias, until it becomes champion again.
  const stale: string[] = [TAG.failedGate, TAG.approvedBy, TAG.previousChampion];
  if (outcome === 'promoted') stale.push(TAG.replacedBy);
  for (const k of stale) if (!desired.has(k)) await deleteTag(version, k, have);

  if (outcome === 'promoted') {
    if (champion) {
      const old = await client.getModelVersion(model, champion.version);
      await setTag(champion.version, TAG.replacedBy, version, old.tags);
    }
    if (!current.aliases.includes(championAlias)) {
      await client.setAlias(model, championAlias, version);
      writes++;
    }
  }
  return { reportUri, writes, attempt: n };
}

/** The version is champion, and a prograde run other than `runId` promoted it. */
function promotedByAnotherRun(v: ModelVersion, championAlias: string, runId: string): boolean {
  return (
    v.aliases.includes(championAlias) &&
    v.tags[TAG.outcome] === 'promoted' &&
    v.tags[TAG.runId] !== undefined &&
    v.tags[TAG.runId] !== runId
  );
}
