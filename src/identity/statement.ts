import { z } from 'zod';
import type { Parsed } from './sshsig';

/**
 * The statement a person signs for one decision. Canonical JSON: these keys, in this order, no
 * whitespace, as JSON.stringify writes them. A statement is accepted only in exactly that form, so one
 * decision has one text, and the text recorded in history and on the MLflow version is the text signed.
 */

export const DECISION_ACTIONS = [
  'approve',
  'reject',
  'pause',
  'resume',
  'abort',
  'promoteFull',
  'rollback',
] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

export const STATEMENT_VERSION = 1;
/** Longest statement accepted: a 1,000-character reason, escaped, plus the rest, with room to spare. */
export const MAX_STATEMENT = 3_000;
/** How long a signed statement may be valid at most; the CLI signs for 5 minutes by default. */
export const MAX_LIFETIME_MS = 15 * 60_000;
export const DEFAULT_LIFETIME_MS = 5 * 60_000;
/** How far the signer's clock may run ahead of the workflow's. */
export const MAX_CLOCK_SKEW_MS = 60_000;

export interface Statement {
  readonly version: typeof STATEMENT_VERSION;
  /** The workflow the decision is for (`promote/<model>/<version>`, or `rollback/<model>`). */
  readonly workflowId: string;
  /** The run it is for; for a rollback, the version rolled back from (`v<n>`). */
  readonly runId: string;
  readonly action: DecisionAction;
  readonly reason: string;
  /** ISO 8601 UTC, milliseconds included, as Date.toISOString writes it. */
  readonly issuedAt: string;
  readonly expiresAt: string;
}

const IsoTime = z.iso.datetime({ offset: false, precision: 3 });
const Field = (max: number) => z.string().min(1).max(max);

const StatementSchema = z.strictObject({
  version: z.literal(STATEMENT_VERSION),
  workflowId: Field(400),
  runId: Field(200),
  action: z.enum(DECISION_ACTIONS),
  reason: Field(1_000),
  issuedAt: IsoTime,
  expiresAt: IsoTime,
});

/** The one text of a statement that is signed and accepted. */
export function canonicalStatement(s: Statement): string {
  return JSON.stringify({
    version: s.version,
    workflowId: s.workflowId,
    runId: s.runId,
    action: s.action,
    reason: s.reason,
    issuedAt: s.issuedAt,
    expiresAt: s.expiresAt,
  });
}

/** A statement issued now, valid for `lifetimeMs`. */
export function newStatement(
  fields: Pick<Statement, 'workflowId' | 'runId' | 'action' | 'reason'>,
  nowMs: number,
  lifetimeMs = DEFAULT_LIFETIME_MS,
): Statement {
  return {
    version: STATEMENT_VERSION,
    ...fields,
    issuedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + lifetimeMs).toISOString(),
  };
}

export function parseStatement(text: string): Parsed<Statement> {
  if (text.length > MAX_STATEMENT) return { ok: false, problem: 'the statement is too long' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'the statement is not JSON' };
  }
  const parsed = StatementSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return {
      ok: false,
      problem: `invalid statement: ${where}${issue?.message ?? 'unreadable'}`.slice(0, 300),
    };
  }
  const statement = parsed.data as Statement;
  if (canonicalStatement(statement) !== text) {
    return { ok: false, problem: 'the statement is not in canonical form (fixed key order, no whitespace)' };
  }
  return { ok: true, value: statement };
}

/**
 * Why a statement is not valid at `nowMs`, or undefined. Issued in the future (beyond the allowed
 * skew), expired, or valid for longer than MAX_LIFETIME_MS: a long-lived statement is a bearer token.
 */
export function timeProblem(s: Statement, nowMs: number): string | undefined {
  const issued = Date.parse(s.issuedAt);
  const expires = Date.parse(s.expiresAt);
  if (!(expires > issued)) return 'the statement expires before it is issued';
  if (expires - issued > MAX_LIFETIME_MS) {
    return `the statement is valid for longer than ${MAX_LIFETIME_MS / 60_000} minutes`;
  }
  if (issued > nowMs + MAX_CLOCK_SKEW_MS) return `the statement is issued in the future (${s.issuedAt})`;
  if (expires <= nowMs) return `the statement expired at ${s.expiresAt}`;
  return undefined;
}
