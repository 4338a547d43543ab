import { statementDigest, verifySshSignature } from './sshsig';
import { parseStatement, timeProblem, type DecisionAction, type Statement } from './statement';

/**
 * A person trusted for a promotion, with the keys that speak for them. Built by the worker from its
 * trust file (src/config/trust.ts) and handed to the workflow, which keeps it in its history.
 */
export interface TrustedPerson {
  readonly name: string;
  /** `SHA256:…` fingerprints of their ed25519 keys. */
  readonly fingerprints: readonly string[];
}

/** What a caller sends: the exact statement text and the armored `ssh-keygen -Y sign` output. */
export interface SignedStatement {
  readonly statement: string;
  readonly signature: string;
}

export interface VerifiedDecision {
  /** The trusted person the key belongs to. */
  readonly by: string;
  readonly fingerprint: string;
  readonly statement: Statement;
  /** Identifies this statement by this key; a second use of it is a replay. */
  readonly digest: string;
}

export interface DecisionContext {
  readonly workflowId: string;
  readonly runId: string;
  /** The action the message asks for; the statement must name the same one. */
  readonly action: DecisionAction;
  readonly nowMs: number;
  readonly people: readonly TrustedPerson[];
  /** Digests of statements already accepted in this run. */
  readonly used: readonly string[];
}

export type VerifyResult = { ok: true; value: VerifiedDecision } | { ok: false; problem: string };

/**
 * Every check of one signed decision except "may this person do this now" (the promotion's rules,
 * in src/promotion/state.ts): the signature, the signer's key among the trusted people, the statement
 * made for this workflow, this run and this action, within its time, and not used before. Pure and
 * synchronous: a Temporal update validator runs it, with workflow time as `nowMs`.
 */
export function verifyDecision(signed: SignedStatement, ctx: DecisionContext): VerifyResult {
  const parsed = parseStatement(signed.statement);
  if (!parsed.ok) return parsed;
  const s = parsed.value;
  const key = verifySshSignature(signed.signature, signed.statement);
  if (!key.ok) return key;
  const { fingerprint } = key.value;
  const person = ctx.people.find((p) => p.fingerprints.includes(fingerprint));
  if (!person) return { ok: false, problem: `key ${fingerprint} is not trusted for this promotion` };
  if (s.workflowId !== ctx.workflowId) {
    return { ok: false, problem: `the statement is for workflow '${s.workflowId}', not '${ctx.workflowId}'` };
  }
  if (s.runId !== ctx.runId) {
    return { ok: false, problem: `the statement is for run ${s.runId}, not this run (${ctx.runId})` };
  }
  if (s.action !== ctx.action) {
    return { ok: false, problem: `the statement is for '${s.action}', not '${ctx.action}'` };
  }
  const late = timeProblem(s, ctx.nowMs);
  if (late) return { ok: false, problem: late };
  const digest = statementDigest(fingerprint, signed.statement);
  if (ctx.used.includes(digest))
    return { ok: false, problem: 'this signed statement was already used in this run' };
  return { ok: true, value: { by: person.name, fingerprint, statement: s, digest } };
}
