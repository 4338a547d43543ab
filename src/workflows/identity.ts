import { workflowInfo } from '@temporalio/workflow';
import type * as Identity from './identity-code';
import type { DecisionAction } from '../identity';
import type { DecisionRequest, SignedDecisionRecord } from '../promotion/state';
import {
  DecisionRequestSchema,
  OperatorRequestSchema,
  clip,
  isSigned,
  parseArgs,
  parseEither,
  type ParseResult,
  type SignedStatementPayload,
} from './payloads';
import type { PromotionRun } from './run';

/**
 * src/identity (statement schemas, SSH signatures over @noble/curves) is loaded on the first signed
 * decision, not with the workflow code: the sandbox evaluates every module a workflow imports again for
 * each new run, the promotion's and the rollout lock's alike. Replaying zero-bake histories (load ~20),
 * creating a run took 5.8 ms with it loaded up front and 4.1–4.5 ms without (a no-op workflow: 0.6 ms).
 * Loading code issues no command, so histories replay the same.
 */
let identityModule: typeof Identity | undefined;
function identity(): typeof Identity {
  // A lazy require (webpack resolves it when the bundle is built); see above.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  identityModule ??= require('./identity-code') as typeof Identity;
  return identityModule;
}

/** Who asks and why, as the promotion's rules see it, plus the signed record when there is one. */
export interface ResolvedRequest {
  readonly name: string;
  readonly reason: string;
  readonly signed?: Omit<SignedDecisionRecord, 'at' | 'via'>;
}

const CLI_NAME: Record<DecisionAction, string> = {
  approve: 'approve',
  reject: 'reject',
  pause: 'pause',
  resume: 'resume',
  abort: 'abort',
  promoteFull: 'promote --full',
  rollback: 'rollback',
};

/**
 * Turns the argument list of a decision or operator message into who and why. `verify` (validators,
 * signals): every check of src/identity, with workflow time. `read` (update handlers, after their
 * validator accepted the same argument in the same activation): the statement and the signer's key
 * are read, not checked again, so a later change to the checks cannot change how a recorded history
 * replays.
 *
 * Promotions started before signed decisions (no `identity` in state) take the named form only, as
 * they did. `unverified` takes the named form only; `verified` takes signed statements only.
 */
export function resolveRequest(
  run: PromotionRun,
  action: DecisionAction,
  args: readonly unknown[],
  mode: 'verify' | 'read',
): ParseResult<ResolvedRequest> {
  const decision = action === 'approve' || action === 'reject';
  const named = decision ? DecisionRequestSchema : OperatorRequestSchema;
  const identity = run.state.identity;
  const parsed = identity ? parseEither<unknown>(named, args) : parseArgs<unknown>(named, args);
  if (!parsed.ok) return { ok: false, problem: `invalid request: ${parsed.problem}` };
  const value = parsed.value as object;
  if (!isSigned(value)) {
    if (identity?.mode === 'verified') {
      return {
        ok: false,
        problem:
          `${run.state.model} takes signed decisions only (identity: verified): run \`prograde ${CLI_NAME[action]}\` ` +
          'with your SSH key; typed names (--as) are accepted only when the spec says identity: unverified',
      };
    }
    const req = value as { approver?: string; operator?: string; reason: string };
    return { ok: true, value: { name: req.approver ?? req.operator ?? '', reason: req.reason } };
  }
  if (identity?.mode !== 'verified') {
    return {
      ok: false,
      problem: `${run.state.model} is identity: unverified and trusts no keys; send a name (--as) and a reason instead`,
    };
  }
  return mode === 'verify' ? verified(run, action, value) : read(run, action, value);
}

function verified(
  run: PromotionRun,
  action: DecisionAction,
  signed: SignedStatementPayload,
): ParseResult<ResolvedRequest> {
  const info = workflowInfo();
  const result = identity().verifyDecision(signed, {
    workflowId: info.workflowId,
    runId: info.runId,
    action,
    // Workflow time: the same in every replay of this task.
    nowMs: Date.now(),
    people: run.state.identity?.people ?? [],
    used: (run.state.decisions ?? []).map((d) => d.digest),
  });
  if (!result.ok) return { ok: false, problem: `signed ${CLI_NAME[action]} refused: ${result.problem}` };
  const v = result.value;
  return {
    ok: true,
    value: {
      name: v.by,
      reason: v.statement.reason,
      signed: {
        action,
        by: v.by,
        fingerprint: v.fingerprint,
        statement: signed.statement,
        signature: signed.signature,
        digest: v.digest,
      },
    },
  };
}

function read(
  run: PromotionRun,
  action: DecisionAction,
  signed: SignedStatementPayload,
): ParseResult<ResolvedRequest> {
  const { parseArmored, parseStatement, statementDigest } = identity();
  const statement = parseStatement(signed.statement);
  const sig = parseArmored(signed.signature);
  if (!statement.ok) return statement;
  if (!sig.ok) return sig;
  const { fingerprint } = sig.value.signer;
  const person = (run.state.identity?.people ?? []).find((p) => p.fingerprints.includes(fingerprint));
  if (!person) return { ok: false, problem: `key ${fingerprint} is not trusted for this promotion` };
  const digest = statementDigest(fingerprint, signed.statement);
  return {
    ok: true,
    value: {
      name: person.name,
      reason: statement.value.reason,
      signed: {
        action,
        by: person.name,
        fingerprint,
        statement: signed.statement,
        signature: signed.signature,
        digest,
      },
    },
  };
}

export function toDecisionRequest(r: ResolvedRequest): DecisionRequest {
  return { approver: r.name, reason: r.reason };
}

/** The name a refused signal claimed, for its audit entry (never trusted, only clipped). */
export function namedIn(args: readonly unknown[]): string | undefined {
  const first = args[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const claimed = (first as { approver?: unknown }).approver;
  return typeof claimed === 'string' ? clip(claimed, 100) : undefined;
}
