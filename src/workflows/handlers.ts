import { setDefaultSignalHandler, setHandler } from '@temporalio/workflow';
import type { Control } from './live';
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
import { DecisionRequestSchema, OperatorRequestSchema, parseArgs } from './payloads';
import type { PromotionRun } from './run';
import {
  decisionProblem,
  operatorProblem,
  type Decision,
  type DecisionRequest,
  type OperatorAction,
  type OperatorRequest,
  type PromotionState,
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
 */
export function registerHandlers(run: PromotionRun, control: Control, inbox: TurnInbox): void {
  setHandler(statusQuery, () => run.state);

  const decisionValidator = (...args: unknown[]): void => {
    const parsed = parseArgs(DecisionRequestSchema, args);
    if (!parsed.ok) throw new Error(`invalid request: ${parsed.problem}`);
    const problem = decisionProblem(run.state, parsed.value);
    if (problem) throw new Error(problem);
  };
  setHandler(approveUpdate, (req) => decide(run, 'approve', req, 'update'), {
    validator: decisionValidator,
    description: 'Approve the candidate',
  });
  setHandler(rejectUpdate, (req) => decide(run, 'reject', req, 'update'), {
    validator: decisionValidator,
    description: 'Reject the candidate',
  });
  const fromSignal =
    (decision: Decision['decision'], name: string) =>
    (...args: unknown[]): void => {
      const parsed = parseArgs(DecisionRequestSchema, args);
      if (!parsed.ok) return run.ignoreSignal(name, `invalid request: ${parsed.problem}`);
      const problem = decisionProblem(run.state, parsed.value);
      if (problem) return run.ignoreSignal(name, problem, parsed.value.approver);
      decide(run, decision, parsed.value, 'signal');
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
    handler: (req: OperatorRequest): PromotionState => {
      apply(req);
      run.audit(action, req.reason, req.operator);
      return run.state;
    },
    options: {
      validator: (...args: unknown[]): void => {
        const parsed = parseArgs(OperatorRequestSchema, args);
        if (!parsed.ok) throw new Error(`invalid request: ${parsed.problem}`);
        const problem = operatorProblem(run.state, action, parsed.value);
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
): PromotionState {
  const d: Decision = { decision, by: req.approver, reason: req.reason, at: run.now(), via };
  run.update({ approval: { ...run.state.approval, decision: d } });
  run.audit(decision === 'approve' ? 'approved' : 'rejected', req.reason, req.approver);
  return run.state;
}
