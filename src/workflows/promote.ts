// Over 350 lines on purpose: the promotion's whole sequence (offline gates, approval, the live
// turn, the outcome) reads top to bottom here; the live phases and the handlers are already apart.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { replicasOf, type ModelKey, type RegistryVersion } from '../promotion/contracts';
import { exitClassOf, isErrorCode } from '../error-codes';
import { registerHandlers, decide, type TurnInbox } from './handlers';
import { abortable, GatewayDriver, LiveRollout, type Control } from './live';
import { evaluationOptions, PromotionRun, serviceOptions, Stop, type Activities } from './run';
import { OutcomeAttr } from '../promotion/search-attributes';
import type { PromotionInput, PromotionState } from '../promotion/state';
import { LiveTurn } from './turn';

const { resolveVersions, recordOutcome, readRouting, resolveTrust, recordEvidenceRun } =
  proxyActivities<Activities>(serviceOptions);
const { fetchModel, formatGate, performanceGate, fairnessGate, latencyGate } =
  proxyActivities<Activities>(evaluationOptions);

/** Tag the registry writes with the Temporal run that recorded an outcome (src/records/outcome.ts). */
const RUN_ID_TAG = 'prograde.run_id';

/** The candidate is already @champion: a finished promotion, not a new decision; nothing is written. */
class AlreadyPromoted extends Stop {
  constructor(candidate: RegistryVersion) {
    super('promoted', `already promoted by run ${candidate.tags[RUN_ID_TAG] ?? 'unknown'}`);
  }
}

/**
 * promote/<model>/<version>: resolve → fetch → format → performance → fairness → latency → approval
 * → shadow → canary → promote, or reject / roll back with evidence. Deterministic orchestration only;
 * every step that touches the world is an idempotent activity keyed by model, version and content
 * hashes, or by a routing generation the workflow chose.
 */
export async function promoteModel(input: PromotionInput): Promise<PromotionState> {
  const run = new PromotionRun(input);
  const { spec } = input;
  const { features } = run;
  const control: Control = {};
  const inbox: TurnInbox = {};
  registerHandlers(run, control, inbox);
  // Offline steps end at once on abort; before this patch they ran to their end first.
  const offline = <T>(work: () => Promise<T>): Promise<T> =>
    features.promptControls ? abortable(control, work) : work();
  const turn =
    spec.target && features.rolloutLock ? new LiveTurn(run, control, inbox, spec.target.url) : undefined;

  let live: LiveRollout | undefined;
  let alreadyPromoted = false;
  try {
    // Before anything else: a spec naming someone the worker's trust file does not trust is refused.
    if (run.state.identity?.mode === 'verified') await loadTrustedPeople(run);
    // refuse: the turn is taken at the start and held to the end, so a second promotion is refused at once.
    if (turn && spec.target?.whenBusy === 'refuse') await turn.acquire('try');
    const offlineResult = await offline(() => offlinePhases(run));
    const { candidate } = offlineResult;
    let { champion } = offlineResult;
    await offline(() => approvalPhase(run));
    if (turn && spec.target?.whenBusy !== 'refuse') {
      // queue: gates and approval ran beside other promotions; the live part waits its turn.
      await turn.acquire('queue');
      champion = await offline(() => rejudgeIfChampionMoved(run, candidate, champion));
    }

    if (spec.target && champion && (spec.shadow || spec.canary)) {
      live = new LiveRollout(
        run,
        control,
        { url: spec.target.url, ...tokenEnv(spec.target.tokenEnv), ...replicasOf(spec.target) },
        champion.version,
      );
      await live.runPhases();
    }

    run.enter('promoting', `moving @${spec.aliases.champion} to v${candidate.version}`);
    if (spec.target) {
      if (live) await live.promoteOnTarget();
      else await firstDeployment(run, candidate.version, champion?.version);
    }
    run.update({ outcome: 'promoted', reason: promotedReason(run.state) });
  } catch (err) {
    const { outcome, reason } = classify(err);
    alreadyPromoted = err instanceof AlreadyPromoted;
    run.update({ outcome, reason });
    if (live && outcome !== 'promoted') {
      // The rollback saga must finish even when the workflow itself is being cancelled.
      await CancellationScope.nonCancellable(async () => {
        run.enter('rolling-back', `sending all traffic back to the champion: ${reason}`);
        // false: the gateway refused it; the outcome is then failed, naming the routing left serving.
        if (await live?.rollback(reason)) run.audit('rolled-back', `traffic back on the champion: ${reason}`);
      });
    }
  }

  try {
    if (alreadyPromoted) {
      // A re-run of a finished promotion: the registry and the routing already say so; touch neither.
      upsertSearchAttributes([{ key: OutcomeAttr, value: 'promoted' }]);
      run.audit('already-promoted', `${run.state.reason ?? ''}; nothing written`);
    } else {
      await CancellationScope.nonCancellable(() => writeOutcome(run));
      // Only after a refused rollback: the champion is tried again, holding the turn meanwhile.
      await live?.keepRestoring();
    }
  } finally {
    // After the outcome is recorded (so the next in line reads the new @champion), on every path.
    await turn?.release();
  }

  if (run.state.outcome === 'promoted' && live) await retainPreviousChampion(run, live);
  run.enter('done');
  run.waitFor(undefined);
  return run.state;
}

/**
 * The keys of the people the spec names, from the worker's trust file (never from the spec, which the
 * starter supplies). Kept in state, so every validator of this run verifies against the same keys.
 */
async function loadTrustedPeople(run: PromotionRun): Promise<void> {
  const { spec } = run;
  const pauseApprovers = (spec.canary?.steps ?? []).flatMap((s) =>
    'pause' in s && 'approvers' in s.pause ? s.pause.approvers : [],
  );
  const approvers = [...new Set([...spec.approval.approvers, ...pauseApprovers])];
  const trusted = await resolveTrust.executeWithOptions(
    { ...serviceOptions, summary: 'load the trusted keys of the approvers and operators' },
    [{ model: spec.model, approvers, operators: run.state.operators }],
  );
  run.update({ identity: { mode: 'verified', people: trusted.people } });
  run.audit(
    'identity',
    trusted.people.length === 0
      ? 'signed decisions; the spec names nobody, so nobody can approve or operate'
      : `signed decisions by ${trusted.people.map((p: { name: string }) => p.name).join(', ')} (keys from ${trusted.trustFile ?? 'the trust file'})`,
  );
}

function tokenEnv(name: string | undefined): { tokenEnv?: string } {
  return name === undefined ? {} : { tokenEnv: name };
}

async function offlinePhases(run: PromotionRun): Promise<{ candidate: ModelKey; champion: ModelKey | null }> {
  const { spec, input } = run;
  run.enter(
    'resolving',
    `resolving ${spec.model} v${input.candidateVersion} and @${spec.aliases.champion} in MLflow`,
  );
  const resolved = await resolveVersions.executeWithOptions(
    { ...serviceOptions, summary: `resolve v${input.candidateVersion} and @${spec.aliases.champion}` },
    [{ model: spec.model, candidateVersion: input.candidateVersion, championAlias: spec.aliases.champion }],
  );
  if (resolved.champion?.version === input.candidateVersion) {
    if (run.features.alreadyPromoted) throw new AlreadyPromoted(resolved.candidate);
    throw new Stop('rejected', `v${input.candidateVersion} is already @${spec.aliases.champion}`);
  }
  run.update({ champion: resolved.champion ? { version: resolved.champion.version } : null });
  run.audit(
    'resolved',
    resolved.champion
      ? `candidate v${input.candidateVersion} against champion v${resolved.champion.version}`
      : `candidate v${input.candidateVersion}; no @${spec.aliases.champion} yet, so comparisons with a champion are skipped`,
  );

  run.enter('fetching', 'downloading model files from MLflow (sha256 verified)');
  const fetchOne = (version: string) =>
    fetchModel.executeWithOptions({ ...evaluationOptions, summary: `fetch v${version}` }, [
      { model: spec.model, version },
    ]);
  const [candidate, champion] = await Promise.all([
    fetchOne(input.candidateVersion),
    resolved.champion ? fetchOne(resolved.champion.version) : Promise.resolve(null),
  ]);
  run.update({
    candidate: { version: candidate.version, sha256: candidate.sha256 },
    champion: champion ? { version: champion.version, sha256: champion.sha256 } : null,
  });
  const candidateKey: ModelKey = { model: spec.model, version: candidate.version, sha256: candidate.sha256 };
  const championKey: ModelKey | null = champion
    ? { model: spec.model, version: champion.version, sha256: champion.sha256 }
    : null;
  const context = evaluationContext(run);

  run.enter('format', 'checking the ONNX graph against the contract and the MLflow signature');
  run.recordGate(
    await formatGate.executeWithOptions({ ...evaluationOptions, summary: 'format gate' }, [
      { ...context, candidate: candidateKey, signature: candidate.signature },
    ]),
  );

  await runPerformanceGate(run, candidateKey, championKey);

  if (spec.gates.fairness) {
    run.enter('fairness', 'computing per-group rates on the sensitive columns');
    run.recordGate(
      await fairnessGate.executeWithOptions({ ...evaluationOptions, summary: 'fairness gate' }, [
        { ...context, candidate: candidateKey, champion: championKey, gate: spec.gates.fairness },
      ]),
    );
  }

  await runLatencyGate(run, candidateKey, championKey);
  return { candidate: candidateKey, champion: championKey };
}

function evaluationContext(run: PromotionRun) {
  const { spec, input } = run;
  return {
    model: spec.model,
    task: spec.task,
    contract: spec.contract,
    dataset: input.dataset,
    evaluation: spec.evaluation,
  };
}

async function runPerformanceGate(
  run: PromotionRun,
  candidate: ModelKey,
  champion: ModelKey | null,
): Promise<void> {
  run.enter('performance', 'scoring the holdout set with candidate and champion');
  run.recordGate(
    await performanceGate.executeWithOptions({ ...evaluationOptions, summary: 'performance gate' }, [
      { ...evaluationContext(run), candidate, champion, checks: run.spec.gates.performance },
    ]),
  );
}

async function runLatencyGate(
  run: PromotionRun,
  candidate: ModelKey,
  champion: ModelKey | null,
): Promise<void> {
  const gate = run.spec.gates.latency;
  if (!gate) return;
  run.enter('latency', 'measuring p50/p95/p99 of candidate and champion on this worker');
  run.recordGate(
    await latencyGate.executeWithOptions({ ...evaluationOptions, summary: 'latency gate' }, [
      { ...evaluationContext(run), candidate, champion, gate },
    ]),
  );
}

/**
 * After waiting for the live turn, @champion may have moved (the promotion ahead was promoted). The
 * live rollout must start from the champion that serves now, and the candidate must have been
 * compared with it: the gates that compare with a champion run again against the new one.
 */
async function rejudgeIfChampionMoved(
  run: PromotionRun,
  candidate: ModelKey,
  champion: ModelKey | null,
): Promise<ModelKey | null> {
  const { spec } = run;
  const resolved = await resolveVersions.executeWithOptions(
    { ...serviceOptions, summary: `re-read @${spec.aliases.champion} after the wait for the live turn` },
    [{ model: spec.model, candidateVersion: candidate.version, championAlias: spec.aliases.champion }],
  );
  const now = resolved.champion?.version;
  if (now === champion?.version) return champion;
  if (now === candidate.version) throw new AlreadyPromoted(resolved.candidate);
  run.audit(
    'champion-changed',
    `@${spec.aliases.champion} moved from ${champion ? `v${champion.version}` : 'nobody'} to ${now ? `v${now}` : 'nobody'} while waiting for the live turn; judging again against it`,
  );
  if (!now) {
    run.update({ champion: null });
    return null;
  }
  run.enter('fetching', `downloading the new champion v${now} from MLflow (sha256 verified)`);
  const fetched = await fetchModel.executeWithOptions({ ...evaluationOptions, summary: `fetch v${now}` }, [
    { model: spec.model, version: now },
  ]);
  run.update({ champion: { version: fetched.version, sha256: fetched.sha256 } });
  const championKey: ModelKey = { model: spec.model, version: fetched.version, sha256: fetched.sha256 };
  await runPerformanceGate(run, candidate, championKey);
  await runLatencyGate(run, candidate, championKey);
  return championKey;
}

async function approvalPhase(run: PromotionRun): Promise<void> {
  const { approval } = run.spec;
  if (!approval.required) return;
  const deadline = new Date(Date.now() + approval.timeout).toISOString();
  run.update({ approval: { ...run.state.approval, deadline } });
  run.enter('approval', `approval by one of ${approval.approvers.join(', ')} until ${deadline}`);
  const decided = await condition(() => run.state.approval.decision !== undefined, approval.timeout, {
    summary: `wait for approval (${approval.approvers.join(', ')})`,
  });
  if (!decided) {
    decide(
      run,
      approval.onTimeout,
      {
        approver: 'prograde',
        reason: `no decision within the approval timeout; spec says ${approval.onTimeout}`,
      },
      'timeout',
    );
  }
  const decision = run.state.approval.decision;
  if (decision?.decision === 'reject')
    throw new Stop('rejected', `rejected by ${decision.by}: ${decision.reason}`);
}

/** A first model (no champion) or a spec without live phases goes straight to 100% on the target. */
async function firstDeployment(
  run: PromotionRun,
  candidate: string,
  champion: string | undefined,
): Promise<void> {
  const target = run.spec.target;
  if (!target) return;
  const driver = new GatewayDriver(run, {
    url: target.url,
    ...tokenEnv(target.tokenEnv),
    ...replicasOf(target),
  });
  await driver.init(0);
  await driver.apply(
    { stable: { version: candidate }, ...(champion ? { retain: [champion] } : {}) },
    `stable v${candidate} at 100%${champion ? '' : ' (first model)'}`,
  );
}

async function writeOutcome(run: PromotionRun): Promise<void> {
  const outcome = run.state.outcome ?? 'failed';
  run.enter('recording', 'writing the outcome, tags and evidence report to MLflow');
  upsertSearchAttributes([{ key: OutcomeAttr, value: outcome }]);
  // The outcome must be written whatever MLflow does meanwhile: a promotion that ended without one is
  // lost (chaos). A retryable failure (MLflow down or frozen) is retried without a maximum, at most a
  // minute apart, and the run shows phase `recording` while it waits; a terminal one still fails.
  // Retry policies are not part of the command sequence, so no patch is needed.
  // Behind a busy MLflow its calls queue in the worker (src/mlflow/http.ts): the two writes heartbeat and
  // get 10 minutes an attempt, so a slow server no longer times attempts out into retries that redo them.
  const slowMlflow = patched(MLFLOW_HEARTBEAT_PATCH) ? MLFLOW_WRITE_TIMEOUTS : {};
  const recorded = await recordOutcome.executeWithOptions(
    {
      ...serviceOptions,
      ...slowMlflow,
      retry: {
        ...serviceOptions.retry,
        maximumInterval: '1 minute',
        maximumAttempts: Number.POSITIVE_INFINITY,
      },
      summary: `record outcome: ${outcome}`,
    },
    [{ state: run.state, championAlias: run.spec.aliases.champion, workflowRunId: workflowInfo().runId }],
  );
  run.update({ reportUri: recorded.reportUri });
  run.audit('recorded', `outcome ${outcome} written to MLflow (${recorded.reportUri})`);
  if (patched(EVIDENCE_RUN_PATCH)) await recordEvidence(run, recorded.attempt, slowMlflow);
}

/** The attempt's MLflow run (metrics, charts, report.html); added after recordOutcome, hence the patch. */
const EVIDENCE_RUN_PATCH = 'mlflow-evidence-run';
const MLFLOW_HEARTBEAT_PATCH = 'mlflow-writes-heartbeat';
/** A dead worker is still noticed within a minute; a live one waiting on MLflow is not cut off. */
const MLFLOW_WRITE_TIMEOUTS = { startToCloseTimeout: '10 minutes', heartbeatTimeout: '1 minute' } as const;

/**
 * Evidence for people, not a decision: if MLflow cannot take it after the retries, the outcome already
 * written stands and the audit says the run is missing.
 */
async function recordEvidence(
  run: PromotionRun,
  attempt: number | undefined,
  timeouts: Partial<typeof MLFLOW_WRITE_TIMEOUTS>,
): Promise<void> {
  const { evaluation } = run.spec;
  try {
    const evidence = await recordEvidenceRun.executeWithOptions(
      {
        startToCloseTimeout: '2 minutes',
        ...timeouts,
        retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
        summary: 'log the attempt as an MLflow run (metrics, report.html)',
      },
      [
        {
          state: run.state,
          workflowRunId: workflowInfo().runId,
          spec: {
            seed: evaluation.seed,
            bootstrapResamples: evaluation.bootstrapResamples,
            decisionThreshold: evaluation.threshold,
          },
          ...(attempt === undefined ? {} : { attempt }),
        },
      ],
    );
    run.update({ evidenceRun: { runId: evidence.runId, url: evidence.url } });
    run.audit('evidence-run', `MLflow run ${evidence.runId}: ${evidence.url}`);
  } catch (e) {
    if (isCancellation(e)) throw e;
    run.audit('evidence-run-missing', `the attempt's MLflow run was not written: ${failureMessage(e)}`);
  }
}

/**
 * After promotion the previous champion stays loaded on the gateway for `keepPreviousFor`, so
 * `prograde rollback` is instant. Then it is unloaded — unless someone changed routing meanwhile
 * (a rollback), in which case the newer state wins and nothing is touched.
 */
async function retainPreviousChampion(run: PromotionRun, live: LiveRollout): Promise<void> {
  const keepFor = run.spec.rollback.keepPreviousFor;
  const until = new Date(Date.now() + keepFor).toISOString();
  const previous = run.state.champion ? `v${run.state.champion.version}` : 'the previous champion';
  // Said plainly, because a run that stays Running for an hour after "promoted" looks hung.
  run.enter(
    'retaining',
    `nothing: promoted, and the outcome is final. This run stays Running until ${until} ` +
      `(rollback.keepPreviousFor ${humanDuration(keepFor)}) only to keep ${previous} loaded for an instant \`prograde rollback\``,
  );
  try {
    await sleep(keepFor, { summary: 'keep the previous champion loaded for instant rollback' });
  } catch (e) {
    if (isCancellation(e)) return;
    throw e;
  }
  const ours = run.state.live?.generation ?? null;
  const current = await readRouting.executeWithOptions(
    { ...serviceOptions, summary: 'read routing before releasing the previous champion' },
    [{ model: run.state.model, target: live.driver.target }],
  );
  if (current.generation !== ours) {
    run.audit(
      'retain-skipped',
      `routing changed since promotion (g${current.generation} ≠ g${ours ?? '?'}); leaving it as it is`,
    );
    return;
  }
  try {
    await live.driver.apply(
      { stable: { version: run.state.candidate.version } },
      'release the previous champion',
    );
  } catch (e) {
    // The next promotion in line may have changed routing between the read and this write (the
    // gateway then refuses a stale generation); its state wins, and it no longer has the old champion.
    if (isCancellation(e)) return;
    run.audit(
      'retain-skipped',
      `routing changed while releasing the previous champion: ${failureMessage(e)}`,
    );
  }
}

function humanDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 100) / 10}s`;
}

/**
 * Failures that judge the candidate itself, not the machinery: the version can never pass however often
 * it is retried (a model logged with a non-ONNX flavour), so it is rejected (exit 1), not failed (exit 3).
 * Which codes those are is the catalogue's `rejected` class (src/error-codes.ts).
 */
function candidateUnfit(type: string | undefined): boolean {
  return isErrorCode(type) && exitClassOf(type) === 'rejected';
}

function classify(err: unknown): { outcome: NonNullable<PromotionState['outcome']>; reason: string } {
  if (err instanceof Stop) return { outcome: err.outcome, reason: err.reason };
  if (isCancellation(err)) return { outcome: 'aborted', reason: 'the promotion was cancelled' };
  const type = failureType(err);
  if (candidateUnfit(type)) return { outcome: 'rejected', reason: failureMessage(err) };
  return { outcome: 'failed', reason: failureMessage(err) };
}

function failureType(err: unknown): string | undefined {
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function promotedReason(state: PromotionState): string {
  const passed = [...new Set(state.gates.map((g) => g.gate))].join(', ');
  const approval = state.approval.decision ? `; approved by ${state.approval.decision.by}` : '';
  return `passed ${passed || 'all'} gates${approval}`;
}

function failureMessage(err: unknown): string {
  if (err instanceof ApplicationFailure) return `${err.type ?? 'Error'}: ${err.message}`;
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
    if (cause instanceof Error) return cause.message;
    return err.message;
  }
  return String(err);
}
