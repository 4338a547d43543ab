import {
  ApplicationFailure,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  CancellationScope,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type { GateVerdict } from '../gates/verdict';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate, statusQuery } from './messages';
import { OutcomeAttr, PhaseAttr } from './search-attributes';
import {
  decisionProblem,
  type AuditEntry,
  type Decision,
  type DecisionRequest,
  type Outcome,
  type Phase,
  type PromotionInput,
  type PromotionState,
} from './state';

type Activities = ReturnType<typeof activities.createActivities>;

// Infrastructure errors (MLflow down, timeouts) are retried with backoff; ProgradeErrors marked
// terminal arrive as non-retryable ApplicationFailures and end the attempt at once.
const registryOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
} as const;
const evaluationOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;
const registry = proxyActivities<Activities>(registryOptions);
const evaluation = proxyActivities<Activities>(evaluationOptions);

/** Ends the promotion early with a decided outcome; caught once at the top. */
class Stop extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * promote/<model>/<version>: resolve → fetch → format → performance → fairness → latency → approval
 * → (live phases) → promote, or reject with evidence. Deterministic orchestration only; every step
 * that touches the world is an idempotent activity keyed by model, version and content hashes.
 */
export async function promoteModel(input: PromotionInput): Promise<PromotionState> {
  const { spec } = input;
  const info = workflowInfo();
  let state: PromotionState = {
    workflowId: info.workflowId,
    model: spec.model,
    candidate: { version: input.candidateVersion },
    champion: undefined,
    phase: 'resolving',
    gates: [],
    approval: { required: spec.approval.required, approvers: spec.approval.approvers },
    audit: [],
    specFile: input.specFile,
    specSha256: input.specSha256,
    requestedBy: input.requestedBy,
  };
  const now = (): string => new Date().toISOString();
  const audit = (kind: string, message: string, by?: string): void => {
    const entry: AuditEntry =
      by === undefined ? { at: now(), kind, message } : { at: now(), kind, message, by };
    state = { ...state, audit: [...state.audit, entry] };
  };
  const waitFor = (what: string | undefined): void => {
    state = what === undefined ? omitWaiting(state) : { ...state, waitingFor: what };
    setCurrentDetails(detailsMarkdown(state));
  };
  const enter = (phase: Phase, waiting?: string): void => {
    state = { ...state, phase };
    upsertSearchAttributes([{ key: PhaseAttr, value: phase }]);
    waitFor(waiting ?? `${phase}…`);
    log.info('phase', { phase });
  };

  // --- messages ------------------------------------------------------------------------------
  setHandler(statusQuery, () => state);
  const decide = (
    decision: Decision['decision'],
    req: DecisionRequest,
    via: Decision['via'],
  ): PromotionState => {
    const d: Decision = { decision, by: req.approver, reason: req.reason, at: now(), via };
    state = { ...state, approval: { ...state.approval, decision: d } };
    audit(decision === 'approve' ? 'approved' : 'rejected', req.reason, req.approver);
    return state;
  };
  const validator = (req: DecisionRequest): void => {
    const problem = decisionProblem(state, req);
    if (problem) throw new Error(problem);
  };
  setHandler(approveUpdate, (req) => decide('approve', req, 'update'), {
    validator,
    description: 'Approve the candidate',
  });
  setHandler(rejectUpdate, (req) => decide('reject', req, 'update'), {
    validator,
    description: 'Reject the candidate',
  });
  const fromSignal = (decision: Decision['decision']) => (req: DecisionRequest) => {
    const problem = decisionProblem(state, req);
    if (problem) audit('ignored-signal', `${decision} signal ignored: ${problem}`, req.approver);
    else decide(decision, req, 'signal');
  };
  setHandler(approveSignal, fromSignal('approve'));
  setHandler(rejectSignal, fromSignal('reject'));

  const recordGate = (verdict: GateVerdict): void => {
    state = { ...state, gates: [...state.gates, verdict] };
    audit(`gate:${verdict.gate}`, verdict.summary);
    if (verdict.status === 'failed') throw new Stop('rejected', verdict.summary);
    if (verdict.status === 'inconclusive') {
      throw new Stop('rejected', `${verdict.gate} gate was inconclusive: ${verdict.summary}`);
    }
  };

  try {
    // --- resolve & fetch -------------------------------------------------------------------------
    enter(
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
    state = { ...state, champion: resolved.champion ? { version: resolved.champion.version } : null };
    audit(
      'resolved',
      resolved.champion
        ? `candidate v${input.candidateVersion} against champion v${resolved.champion.version}`
        : `candidate v${input.candidateVersion}; no @${spec.aliases.champion} yet, so comparisons with a champion are skipped`,
    );

    enter('fetching', 'downloading model files from MLflow (sha256 verified)');
    const fetchOne = (version: string) =>
      evaluation.fetchModel.executeWithOptions({ ...evaluationOptions, summary: `fetch v${version}` }, [
        { model: spec.model, version },
      ]);
    const [candidate, champion] = await Promise.all([
      fetchOne(input.candidateVersion),
      resolved.champion ? fetchOne(resolved.champion.version) : Promise.resolve(null),
    ]);
    state = {
      ...state,
      candidate: { version: candidate.version, sha256: candidate.sha256 },
      champion: champion ? { version: champion.version, sha256: champion.sha256 } : null,
    };
    const candidateKey = { model: spec.model, version: candidate.version, sha256: candidate.sha256 };
    const championKey = champion
      ? { model: spec.model, version: champion.version, sha256: champion.sha256 }
      : null;
    const context = {
      model: spec.model,
      task: spec.task,
      contract: spec.contract,
      dataset: input.dataset,
      evaluation: spec.evaluation,
    };

    // --- offline gates ---------------------------------------------------------------------------
    enter('format', 'checking the ONNX graph against the contract and the MLflow signature');
    recordGate(
      await evaluation.formatGate.executeWithOptions({ ...evaluationOptions, summary: 'format gate' }, [
        { ...context, candidate: candidateKey, signature: candidate.signature },
      ]),
    );

    enter('performance', 'scoring the holdout set with candidate and champion');
    recordGate(
      await evaluation.performanceGate.executeWithOptions(
        { ...evaluationOptions, summary: 'performance gate' },
        [{ ...context, candidate: candidateKey, champion: championKey, checks: spec.gates.performance }],
      ),
    );

    if (spec.gates.fairness) {
      enter('fairness', 'computing per-group rates on the sensitive columns');
      recordGate(
        await evaluation.fairnessGate.executeWithOptions({ ...evaluationOptions, summary: 'fairness gate' }, [
          { ...context, candidate: candidateKey, gate: spec.gates.fairness },
        ]),
      );
    }

    if (spec.gates.latency) {
      enter('latency', 'measuring p50/p95/p99 of candidate and champion on this worker');
      recordGate(
        await evaluation.latencyGate.executeWithOptions({ ...evaluationOptions, summary: 'latency gate' }, [
          { ...context, candidate: candidateKey, champion: championKey, gate: spec.gates.latency },
        ]),
      );
    }

    // --- approval --------------------------------------------------------------------------------
    if (spec.approval.required) {
      const deadline = new Date(Date.now() + spec.approval.timeout).toISOString();
      state = { ...state, approval: { ...state.approval, deadline } };
      enter('approval', `approval by one of ${spec.approval.approvers.join(', ')} until ${deadline}`);
      const decided = await condition(() => state.approval.decision !== undefined, spec.approval.timeout, {
        summary: `wait for approval (${spec.approval.approvers.join(', ')})`,
      });
      if (!decided) {
        const onTimeout = spec.approval.onTimeout;
        decide(
          onTimeout,
          { approver: 'prograde', reason: `no decision within the approval timeout; spec says ${onTimeout}` },
          'timeout',
        );
      }
      const decision = state.approval.decision;
      if (decision?.decision === 'reject') {
        throw new Stop('rejected', `rejected by ${decision.by}: ${decision.reason}`);
      }
    }

    // --- promote ---------------------------------------------------------------------------------
    enter('promoting', `moving @${spec.aliases.champion} to v${input.candidateVersion}`);
    state = { ...state, outcome: 'promoted', reason: promotedReason(state) };
  } catch (err) {
    if (err instanceof Stop) {
      state = { ...state, outcome: err.outcome, reason: err.reason };
    } else if (isCancellation(err)) {
      state = { ...state, outcome: 'aborted', reason: 'the promotion was cancelled' };
    } else {
      state = { ...state, outcome: 'failed', reason: failureMessage(err) };
    }
  }

  // Recording the outcome must happen even when the workflow is being cancelled.
  await CancellationScope.nonCancellable(async () => {
    enter('recording', 'writing the outcome, tags and evidence report to MLflow');
    upsertSearchAttributes([{ key: OutcomeAttr, value: state.outcome ?? 'failed' }]);
    const recorded = await registry.recordOutcome.executeWithOptions(
      { ...registryOptions, summary: `record outcome: ${state.outcome ?? 'failed'}` },
      [{ state, championAlias: spec.aliases.champion, workflowRunId: info.runId }],
    );
    state = { ...state, reportUri: recorded.reportUri };
    audit('recorded', `outcome ${state.outcome ?? 'failed'} written to MLflow (${recorded.reportUri})`);
  });
  enter('done');
  waitFor(undefined);
  return state;
}

function omitWaiting(state: PromotionState): PromotionState {
  const { waitingFor: _omit, ...rest } = state;
  return rest;
}

function promotedReason(state: PromotionState): string {
  const passed = state.gates.map((g) => g.gate).join(', ');
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

/** The "current details" panel in the Temporal UI: where the promotion is and what it waits for. */
function detailsMarkdown(state: PromotionState): string {
  const lines = [
    `**${state.model}** v${state.candidate.version}` +
      (state.champion
        ? ` vs champion v${state.champion.version}`
        : state.champion === null
          ? ' (no champion yet)'
          : ''),
    `Phase: **${state.phase}**${state.outcome ? ` — outcome **${state.outcome}**` : ''}`,
  ];
  if (state.waitingFor) lines.push(`Waiting for: ${state.waitingFor}`);
  for (const g of state.gates) lines.push(`- ${g.gate}: ${g.status} — ${g.summary}`);
  return lines.join('\n\n');
}
