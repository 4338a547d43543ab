import type { DecisionAction, TrustedPerson } from '../identity';
import type { GateVerdict } from './verdict';
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
  'queued',
  'shadow',
  'canary',
  'promoting',
  'rolling-back',
  'recording',
  'retaining',
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
  /** Fingerprint of the key that signed it, when the promotion takes signed decisions. */
  readonly signedBy?: string;
}

/**
 * One accepted signed decision, kept in history (the state) and written to the MLflow version
 * (src/records/decisions.ts) so anyone can check it later with `prograde verify`.
 */
export interface SignedDecisionRecord {
  readonly action: DecisionAction;
  /** The trusted person the key belongs to (from the worker's trust file, never from the caller). */
  readonly by: string;
  readonly fingerprint: string;
  /** The exact canonical statement text that was signed. */
  readonly statement: string;
  /** The armored `ssh-keygen -Y sign` output. */
  readonly signature: string;
  /** sha256 of fingerprint and statement: a second use in this run is refused as a replay. */
  readonly digest: string;
  /** Workflow time it was accepted. */
  readonly at: string;
  readonly via: 'update' | 'signal';
}

/**
 * How this promotion knows who decides. `verified`: signed statements, checked against the keys the
 * worker's trust file pins for the people the spec names. `unverified`: the spec said so; names are
 * typed and nothing proves them. Absent in promotions started before signed decisions existed.
 */
export interface IdentityState {
  readonly mode: 'verified' | 'unverified';
  /** The people the spec names, with their trusted key fingerprints (verified mode; loaded at start). */
  readonly people?: readonly TrustedPerson[];
}

export interface AuditEntry {
  readonly at: string;
  readonly kind: string;
  readonly message: string;
  readonly by?: string;
}

/** Where live traffic stands, while the promotion drives the serving target. */
export interface LiveState {
  /** Routing generation the promotion last applied on the target (null before the first change). */
  readonly generation: number | null;
  /** Percent of traffic on the candidate. */
  readonly weight: number;
  /** Index of the canary step running now, or null outside the canary. */
  readonly step: number | null;
  readonly steps: number;
  /** Set while an operator (or a verdict with automatic rollback off) holds the rollout. */
  readonly paused?: { readonly by: string; readonly reason: string; readonly at: string };
  /** Set while a manual pause step waits for a go-ahead from one of these people. */
  readonly awaitingGoAhead?: readonly string[];
}

export interface OperatorRequest {
  readonly operator: string;
  readonly reason: string;
}

export type OperatorAction = 'pause' | 'resume' | 'abort' | 'promoteFull';

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
  /** Malformed or refused signals received (each of the first few also has an audit entry). */
  readonly ignoredSignals?: number;
  /** What the workflow waits for right now, in words (also the UI's current details). */
  readonly waitingFor?: string;
  readonly audit: readonly AuditEntry[];
  readonly reportUri?: string;
  /** The attempt's MLflow run (metrics, charts, report.html), once recorded (src/records/run-evidence.ts). */
  readonly evidenceRun?: { readonly runId: string; readonly url: string };
  readonly live?: LiveState;
  /**
   * Who may pause, resume, abort or force promotion: the spec's `operators` (none: nobody). In
   * promotions started before signed decisions, the approvers, and empty meant anyone named.
   */
  readonly operators: readonly string[];
  readonly identity?: IdentityState;
  /** Accepted signed decisions, oldest first. */
  readonly decisions?: readonly SignedDecisionRecord[];
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

const LIVE_PHASES: readonly Phase[] = ['shadow', 'canary'];
/** Past these, an accepted abort would change nothing; refusing says so instead of pretending. */
const TOO_LATE_TO_ABORT: readonly Phase[] = ['promoting', 'rolling-back', 'recording', 'retaining', 'done'];

/**
 * Why an operator action would be refused, or undefined. Same discipline as decisions: the update
 * validator refuses bad calls before anything enters history.
 */
export function operatorProblem(
  state: PromotionState,
  action: OperatorAction,
  req: OperatorRequest,
): string | undefined {
  if (typeof req.operator !== 'string' || req.operator.trim() === '')
    return 'an operator name is required (--as <name>)';
  if (typeof req.reason !== 'string' || req.reason.trim() === '')
    return 'a reason is required (--reason <text>)';
  if (state.outcome !== undefined) return `the promotion has ended (${state.outcome})`;
  const goAhead = state.live?.awaitingGoAhead;
  const allowed = action === 'resume' && goAhead ? goAhead : state.operators;
  if (allowed.length === 0 && state.identity) {
    return `no operators are configured for ${state.model} (spec: operators), so nobody may ${action} it`;
  }
  if (allowed.length > 0 && !allowed.includes(req.operator)) {
    return `'${req.operator}' may not ${action} ${state.model} (allowed: ${allowed.join(', ')})`;
  }
  const live = LIVE_PHASES.includes(state.phase);
  switch (action) {
    case 'abort':
      return TOO_LATE_TO_ABORT.includes(state.phase)
        ? `too late to abort: the promotion is in phase ${state.phase} and its outcome is being decided`
        : undefined;
    case 'pause':
      if (!live) return `nothing to pause: the promotion is in phase ${state.phase}, not shadow or canary`;
      return state.live?.paused ? `already paused by ${state.live.paused.by}` : undefined;
    case 'resume':
      return state.live?.paused || goAhead ? undefined : 'the rollout is not paused';
    case 'promoteFull':
      return live ? undefined : `promote --full applies during shadow or canary, not in phase ${state.phase}`;
  }
}

export const workflowIdFor = (model: string, version: string): string => `promote/${model}/${version}`;
