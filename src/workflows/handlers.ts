import { ApplicationFailure, setDefaultSignalHandler, setHandler } from '@temporalio/workflow';
import type { Control } from './live';
import { namedIn, resolveRequest, toDecisionRequest } from './identity';
import { LockAnswerSchema, lockAnswerSignal, type LockAnswer } from '../promotion/lock-protocol';
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
import { parseArgs, type SignedStatementPayload } from './payloads';
import type { PromotionRun } from './run';
import {
  decisionProblem,
  operatorProblem,
  type Decision,
  type DecisionRequest,
  type OperatorAction,
  type OperatorRequest,
  type PromotionState,
  type SignedDecisionRecord,
} from '../promotion/state';

/** Where the rollout lock's answers for this promotion land; read by the turn (turn.ts). */
export interface TurnInbox {
  /** Set once this promotion asks for its turn; answers for any other request are ignored. */
  expect?: { lockId: string; requestId: string };
  answer?: LockAnswer | undefined;
}

/**
 * Every message handler of a promotion. Every argument list is parsed before use (payloads.ts):
 * an update with a bad payload is refused by its validator, so the caller learns why and nothing
 * enters history; a bad signal is recorded as `ignored-signal` and changes nothing else. The status
 * query takes no arguments and ignores any it is given.
 *
 * Who decides (identity.ts): with signed decisions, the validator verifies the signature against the
 * keys the trust activity loaded into state at the start, the statement's workflow, run, action and
 * time window, and that it was not used before; the name and the reason come from the verified
 * statement only. Validators are synchronous and read workflow time only, so they are deterministic.
 */
export function registerHandlers(run: PromotionRun, control: Control, inbox: TurnInbox): void {
  setHandler(statusQuery, () => run.state);

  const decisionValidator =
    (action: Decision['decision']) =>
    (...args: unknown[]): void => {
      const resolved = resolveRequest(run, action, args, 'verify');
      if (!resolved.ok) throw new Error(resolved.problem);
      const problem = decisionProblem(run.state, {
        approver: resolved.value.name,
        reason: resolved.value.reason,
      });
      if (problem) throw new Error(problem);
    };
  const fromUpdate = (decision: Decision['decision']) => (arg: DecisionRequest | SignedStatementPayload) => {
    // The validator has verified this exact argument in this activation; the handler only reads it.
    const resolved = resolveRequest(run, decision, [arg], 'read');
    if (!resolved.ok) throw ApplicationFailure.nonRetryable(resolved.problem, 'DECISION_REFUSED');
    return decide(run, decision, toDecisionRequest(resolved.value), 'update', resolved.value.signed);
  };
  setHandler(approveUpdate, fromUpdate('approve'), {
    validator: decisionValidator('approve'),
    description: 'Approve the candidate',
  });
  setHandler(rejectUpdate, fromUpdate('reject'), {
    validator: decisionValidator('reject'),
    description: 'Reject the candidate',
  });
  const fromSignal =
    (decision: Decision['decision'], name: string) =>
    (...args: unknown[]): void => {
      const resolved = resolveRequest(run, decision, args, 'verify');
      if (!resolved.ok) return run.ignoreSignal(name, resolved.problem, namedIn(args));
      const req = toDecisionRequest(resolved.value);
      const problem = decisionProblem(run.state, req);
      if (problem) return run.ignoreSignal(name, problem, req.approver);
      decide(run, decision, req, 'signal', resolved.value.signed);
    };
  setHandler(approveSignal, fromSignal('approve', approveSignal.name), {
    description: 'Approve the candidate (for clients that can only signal)',
  });
  setHandler(rejectSignal, fromSignal('reject', rejectSignal.name), {
    description: 'Reject the candidate (for clients that can only signal)',
  });

  setHandler(
    lockAnswerSignal,
    (...args: unknown[]): void => {
      const parsed = parseArgs(LockAnswerSchema, args);
      if (!parsed.ok) return run.ignoreSignal(lockAnswerSignal.name, `invalid answer: ${parsed.problem}`);
      const answer = parsed.value;
      const { expect } = inbox;
      if (!expect || answer.lockId !== expect.lockId || answer.requestId !== expect.requestId) {
        return run.ignoreSignal(lockAnswerSignal.name, 'not an answer to a request of this promotion');
      }
      // A late `queued` notice never overrides the grant or denial it preceded.
      if (inbox.answer?.answer === 'granted' || inbox.answer?.answer === 'denied') return;
      inbox.answer = answer;
    },
    { description: 'Internal: the rollout lock answers a request for the live turn' },
  );

  // Signals to names nobody handles would otherwise wait in a buffer for the rest of the run.
  setDefaultSignalHandler((name: string) => run.ignoreSignal(name, 'no such signal'));

  const operator = (action: OperatorAction, apply: (req: OperatorRequest) => void, description: string) => ({
    handler: (arg: OperatorRequest | SignedStatementPayload): PromotionState => {
      const resolved = resolveRequest(run, action, [arg], 'read');
      if (!resolved.ok) throw ApplicationFailure.nonRetryable(resolved.problem, 'DECISION_REFUSED');
      const req: OperatorRequest = { operator: resolved.value.name, reason: resolved.value.reason };
      apply(req);
      if (resolved.value.signed) run.recordSigned({ ...resolved.value.signed, at: run.now(), via: 'update' });
      run.audit(action, req.reason, req.operator);
      return run.state;
    },
    options: {
      validator: (...args: unknown[]): void => {
        const resolved = resolveRequest(run, action, args, 'verify');
        if (!resolved.ok) throw new Error(resolved.problem);
        const req = { operator: resolved.value.name, reason: resolved.value.reason };
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

export function decide(
  run: PromotionRun,
  decision: Decision['decision'],
  req: DecisionRequest,
  via: Decision['via'],
  signed?: Omit<SignedDecisionRecord, 'at' | 'via'>,
): PromotionState {
  const at = run.now();
  const d: Decision = {
    decision,
    by: req.approver,
    reason: req.reason,
    at,
    via,
    ...(signed ? { signedBy: signed.fingerprint } : {}),
  };
  run.update({ approval: { ...run.state.approval, decision: d } });
  if (signed && via !== 'timeout') run.recordSigned({ ...signed, at, via });
  run.audit(decision === 'approve' ? 'approved' : 'rejected', req.reason, req.approver);
  return run.state;
}
