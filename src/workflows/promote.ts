import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ModelKey } from '../activities/contracts';
import { GatewayDriver, LiveRollout, type Control } from './live';
import {
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseUpdate,
  promoteFullUpdate,
  rejectSignal,
  rejectUpdate,
  resumeUpdate,
  statusQuery,
} from './messages';
import { evaluation, evaluationOptions, registry, registryOptions, Run, Stop } from './run';
import { OutcomeAttr } from './search-attributes';
import {
  decisionProblem,
  operatorProblem,
  type Decision,
  type DecisionRequest,
  type OperatorAction,
  type OperatorRequest,
  type PromotionInput,
  type PromotionState,
} from './state';

/**
 * promote/<model>/<version>: resolve → fetch → format → performance → fairness → latency → approval
 * → shadow → canary → promote, or reject / roll back with evidence. Deterministic orchestration only;
 * every step that touches the world is an idempotent activity keyed by model, version and content
 * hashes, or by a routing generation the workflow chose.
 */
export async function promoteModel(input: PromotionInput): Promise<PromotionState> {
  const run = new Run(input);
  const { spec } = input;
  const control: Control = {};
  registerHandlers(run, control);

  let live: LiveRollout | undefined;
  try {
    const { candidate, champion } = await offlinePhases(run);
    await approvalPhase(run);

    if (spec.target && champion && (spec.shadow || spec.canary)) {
      live = new LiveRollout(
        run,
        control,
        { url: spec.target.url, ...tokenEnv(spec.target.tokenEnv) },
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
    run.update({ outcome, reason });
    if (live && outcome !== 'promoted') {
      // The rollback saga must finish even when the workflow itself is being cancelled.
      await CancellationScope.nonCancellable(async () => {
        run.enter('rolling-back', `sending all traffic back to the champion: ${reason}`);
        await live?.rollback(reason);
        run.audit('rolled-back', `traffic back on the champion: ${reason}`);
      });
    }
  }

  await CancellationScope.nonCancellable(() => recordOutcome(run));

  if (run.state.outcome === 'promoted' && live) await retainPreviousChampion(run, live);
  run.enter('done');
  run.waitFor(undefined);
  return run.state;
}

function tokenEnv(name: string | undefined): { tokenEnv?: string } {
  return name === undefined ? {} : { tokenEnv: name };
}

async function offlinePhases(run: Run): Promise<{ candidate: ModelKey; champion: ModelKey | null }> {
  const { spec, input } = run;
  run.enter(
    'resolving',
    `resolving ${spec.model} v${input.candidateVersion} and @${spec.aliases.champion} in MLflow`,
  );
  const resolved = await registry.resolveVersions.executeWithOptions(
    { ...registryOptions, summary: `resolve v${input.candidateVersion} and @${spec.aliases.champion}` },
    [{ model: spec.model, candidateVersion: input.candidateVersion, championAlias: spec.aliases.champion }],
  );
  if (resolved.champion?.version === input.candidateVersion) {
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
    evaluation.fetchModel.executeWithOptions({ ...evaluationOptions, summary: `fetch v${version}` }, [
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
  const context = {
    model: spec.model,
    task: spec.task,
    contract: spec.contract,
    dataset: input.dataset,
    evaluation: spec.evaluation,
  };

  run.enter('format', 'checking the ONNX graph against the contract and the MLflow signature');
  run.recordGate(
    await evaluation.formatGate.executeWithOptions({ ...evaluationOptions, summary: 'format gate' }, [
      { ...context, candidate: candidateKey, signature: candidate.signature },
    ]),
  );

  run.enter('performance', 'scoring the holdout set with candidate and champion');
  run.recordGate(
    await evaluation.performanceGate.executeWithOptions(
      { ...evaluationOptions, summary: 'performance gate' },
      [{ ...context, candidate: candidateKey, champion: championKey, checks: spec.gates.performance }],
    ),
  );

  if (spec.gates.fairness) {
    run.enter('fairness', 'computing per-group rates on the sensitive columns');
    run.recordGate(
      await evaluation.fairnessGate.executeWithOptions({ ...evaluationOptions, summary: 'fairness gate' }, [
        { ...context, candidate: candidateKey, gate: spec.gates.fairness },
      ]),
    );
  }

  if (spec.gates.latency) {
    run.enter('latency', 'measuring p50/p95/p99 of candidate and champion on this worker');
    run.recordGate(
      await evaluation.latencyGate.executeWithOptions({ ...evaluationOptions, summary: 'latency gate' }, [
        { ...context, candidate: candidateKey, champion: championKey, gate: spec.gates.latency },
      ]),
    );
  }
  return { candidate: candidateKey, champion: championKey };
}

async function approvalPhase(run: Run): Promise<void> {
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
async function firstDeployment(run: Run, candidate: string, champion: string | undefined): Promise<void> {
  const target = run.spec.target;
  if (!target) return;
  const driver = new GatewayDriver(run, { url: target.url, ...tokenEnv(target.tokenEnv) });
  await driver.init(0);
  await driver.apply(
    { stable: { version: candidate }, ...(champion ? { retain: [champion] } : {}) },
    `stable v${candidate} at 100%${champion ? '' : ' (first model)'}`,
  );
}

async function recordOutcome(run: Run): Promise<void> {
  const outcome = run.state.outcome ?? 'failed';
  run.enter('recording', 'writing the outcome, tags and evidence report to MLflow');
  upsertSearchAttributes([{ key: OutcomeAttr, value: outcome }]);
  const recorded = await registry.recordOutcome.executeWithOptions(
    { ...registryOptions, summary: `record outcome: ${outcome}` },
    [{ state: run.state, championAlias: run.spec.aliases.champion, workflowRunId: workflowInfo().runId }],
  );
  run.update({ reportUri: recorded.reportUri });
  run.audit('recorded', `outcome ${outcome} written to MLflow (${recorded.reportUri})`);
}

/**
 * After promotion the previous champion stays loaded on the gateway for `keepPreviousFor`, so
 * `prograde rollback` is instant. Then it is unloaded — unless someone changed routing meanwhile
 * (a rollback), in which case the newer state wins and nothing is touched.
 */
async function retainPreviousChampion(run: Run, live: LiveRollout): Promise<void> {
  const keepFor = run.spec.rollback.keepPreviousFor;
  const until = new Date(Date.now() + keepFor).toISOString();
  run.enter(
    'retaining',
    `previous champion stays loaded until ${until} for an instant \`prograde rollback\``,
  );
  try {
    await sleep(keepFor, { summary: 'keep the previous champion loaded for instant rollback' });
  } catch (e) {
    if (isCancellation(e)) return;
    throw e;
  }
  const ours = run.state.live?.generation ?? null;
  const current = await registry.readRouting.executeWithOptions(
    { ...registryOptions, summary: 'read routing before releasing the previous champion' },
    [{ model: run.state.model, target: live.driver.target }],
  );
  if (current.generation !== ours) {
    run.audit(
      'retain-skipped',
      `routing changed since promotion (g${current.generation} ≠ g${ours ?? '?'}); leaving it as it is`,
    );
    return;
  }
  await live.driver.apply(
    { stable: { version: run.state.candidate.version } },
    'release the previous champion',
  );
}

function registerHandlers(run: Run, control: Control): void {
  setHandler(statusQuery, () => run.state);
  const validator = (req: DecisionRequest): void => {
    const problem = decisionProblem(run.state, req);
    if (problem) throw new Error(problem);
  };
  setHandler(approveUpdate, (req) => decide(run, 'approve', req, 'update'), {
    validator,
    description: 'Approve the candidate',
  });
  setHandler(rejectUpdate, (req) => decide(run, 'reject', req, 'update'), {
    validator,
    description: 'Reject the candidate',
  });
  const fromSignal = (decision: Decision['decision']) => (req: DecisionRequest) => {
    const problem = decisionProblem(run.state, req);
    if (problem) run.audit('ignored-signal', `${decision} signal ignored: ${problem}`, req.approver);
    else decide(run, decision, req, 'signal');
  };
  setHandler(approveSignal, fromSignal('approve'));
  setHandler(rejectSignal, fromSignal('reject'));

  const operator = (action: OperatorAction, apply: (req: OperatorRequest) => void, description: string) => ({
    handler: (req: OperatorRequest): PromotionState => {
      apply(req);
      run.audit(action, req.reason, req.operator);
      return run.state;
    },
    options: {
      validator: (req: OperatorRequest): void => {
        const problem = operatorProblem(run.state, action, req);
        if (problem) throw new Error(problem);
      },
      description,
    },
  });
  const pause = operator(
    'pause',
    (req) => run.updateLive({ paused: { by: req.operator, reason: req.reason, at: run.now() } }),
    'Hold the rollout at its current weights',
  );
  const resume = operator(
    'resume',
    (req) => {
      if (run.state.live?.paused) {
        const { paused: _cleared, ...rest } = run.state.live;
        run.update({ live: rest });
      } else {
        control.resume = req;
      }
    },
    'Continue a paused rollout, or give the go-ahead at a manual pause step',
  );
  const abort = operator('abort', (req) => (control.abort = req), 'Stop and roll back to the champion');
  const full = operator(
    'promoteFull',
    (req) => (control.promoteFull = req),
    'Skip the remaining steps and promote now',
  );
  setHandler(pauseUpdate, pause.handler, pause.options);
  setHandler(resumeUpdate, resume.handler, resume.options);
  setHandler(abortUpdate, abort.handler, abort.options);
  setHandler(promoteFullUpdate, full.handler, full.options);
}

function decide(
  run: Run,
  decision: Decision['decision'],
  req: DecisionRequest,
  via: Decision['via'],
): PromotionState {
  const d: Decision = { decision, by: req.approver, reason: req.reason, at: run.now(), via };
  run.update({ approval: { ...run.state.approval, decision: d } });
  run.audit(decision === 'approve' ? 'approved' : 'rejected', req.reason, req.approver);
  return run.state;
}

function classify(err: unknown): { outcome: NonNullable<PromotionState['outcome']>; reason: string } {
  if (err instanceof Stop) return { outcome: err.outcome, reason: err.reason };
  if (isCancellation(err)) return { outcome: 'aborted', reason: 'the promotion was cancelled' };
  return { outcome: 'failed', reason: failureMessage(err) };
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
