import type { GateVerdict } from '../gates/verdict';
import type { PromotionSpec } from '../spec/schema';

/**
 * The promotion's state as the workflow keeps it and the `status` query returns it. Pure data and
 * pure functions only: the workflow sandbox, the CLI and the tests all import this file.
 */

export const PHASES = [
  'resolving',
  'fetching',
  'format',
  'performance',
  'fairness',
  'latency',
  'approval',
  'shadow',
  'canary',
  'promoting',
  'rolling-back',
  'recording',
  'done',
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * How a promotion ended. `rejected`: a gate, an approver or an approval timeout said no.
 * `rolled-back`: live traffic judged it and traffic went back to the champion. `aborted`: an operator
 * stopped it. `failed`: something could not be done at all (bad input, a corrupt artifact that is not
 * a model decision, an unreachable service after retries).
 */
export type Outcome = 'promoted' | 'rejected' | 'rolled-back' | 'aborted' | 'failed';

export type DatasetRef =
  { readonly kind: 'file'; readonly path: string } | { readonly kind: 'uri'; readonly uri: string };

export interface PromotionInput {
  readonly spec: PromotionSpec;
  /** Where the spec came from and its sha256, so the run records exactly which rules judged it. */
  readonly specFile: string;
  readonly specSha256: string;
  readonly candidateVersion: string;
  /** Resolved by the CLI: an absolute path on the worker's machine, or a URI MLflow can serve. */
  readonly dataset: DatasetRef;
  /** Who or what started the promotion (CI job, user). */
  readonly requestedBy: string;
}

export interface VersionRef {
  readonly version: string;
  /** sha256 of the ONNX file, once fetched. */
  readonly sha256?: string;
}

export interface Decision {
  readonly decision: 'approve' | 'reject';
  readonly by: string;
  readonly reason: string;
  /** ISO time (workflow time) the decision was taken. */
  readonly at: string;
  readonly via: 'update' | 'signal' | 'timeout';
}

export interface AuditEntry {
  readonly at: string;
  readonly kind: string;
  readonly message: string;
  readonly by?: string;
}

export interface PromotionState {
  readonly workflowId: string;
  readonly model: string;
  readonly candidate: VersionRef;
  /** null: there is no champion yet (first model); undefined: not resolved yet. */
  readonly champion: VersionRef | null | undefined;
  readonly phase: Phase;
  readonly outcome?: Outcome;
  /** One sentence: why it ended the way it did. */
  readonly reason?: string;
  readonly gates: readonly GateVerdict[];
  readonly approval: {
    readonly required: boolean;
    readonly approvers: readonly string[];
    readonly deadline?: string;
    readonly decision?: Decision;
  };
  /** What the workflow waits for right now, in words (also the UI's current details). */
  readonly waitingFor?: string;
  readonly audit: readonly AuditEntry[];
  readonly reportUri?: string;
  readonly specFile: string;
  readonly specSha256: string;
  readonly requestedBy: string;
}

export interface DecisionRequest {
  readonly approver: string;
  readonly reason: string;
}

/**
 * Why a decision would be refused, or undefined when it is acceptable. Used as the synchronous
 * update validator (so a refused caller gets the reason and nothing enters history) and again by
 * the signal handler (signals cannot be refused, so an invalid one is recorded and ignored).
 */
export function decisionProblem(state: PromotionState, req: DecisionRequest): string | undefined {
  if (typeof req.approver !== 'string' || req.approver.trim() === '')
    return 'an approver name is required (--as <name>)';
  if (typeof req.reason !== 'string' || req.reason.trim() === '')
    return 'a reason is required (--reason <text>)';
  if (state.approval.decision) {
    const d = state.approval.decision;
    return `a decision was already made: ${d.decision} by ${d.by} at ${d.at}`;
  }
  if (state.phase !== 'approval') {
    return state.outcome
      ? `the promotion has ended (${state.outcome}); nothing is waiting for approval`
      : `the promotion is not waiting for approval (phase: ${state.phase})`;
  }
  if (!state.approval.approvers.includes(req.approver)) {
    return `'${req.approver}' is not an approver for ${state.model} (approvers: ${state.approval.approvers.join(', ')})`;
  }
  return undefined;
}

export const workflowIdFor = (model: string, version: string): string => `promote/${model}/${version}`;
