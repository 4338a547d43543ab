import { z } from 'zod';
import type * as Identity from './identity-code';
import { UndecodablePayload } from './payload-converter';

/**
 * Every payload a promotion accepts from outside (update, signal, query arguments) is parsed here
 * before the workflow reads a single field. Anyone who can reach Temporal can send anything — no
 * argument, `null`, a 1 MB string, a 10,000-deep array, bytes that are not JSON — and a handler that
 * throws on it fails every workflow task of the run, which then never moves again. So parsing never
 * throws: it returns the value or one sentence that says what is wrong, short enough to record.
 *
 * Pure and synchronous (update validators must be), and sandbox-safe: the workflow, the CLI and the
 * tests share it.
 */

/** A name as the CLI's `--as` gives it: printable, no control characters, one line. */
const MAX_NAME = 100;
/** Reasons end up in MLflow tags and the report; MLflow caps a tag value at a few thousand chars. */
export const MAX_REASON = 1_000;

// Names are one line of printable text; reasons may span lines.
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_NEWLINES = /[\u0000-\u0008\u000b-\u001f\u007f]/;

const text = (what: string, max: number, forbidden: RegExp) =>
  z
    .string({ error: (i) => `${what} must be a string (got ${describe(i.input)})` })
    .max(max, `${what} is too long (at most ${max} characters)`)
    .refine((s) => s.trim() !== '', `${what} must not be empty`)
    .refine((s) => !forbidden.test(s), `${what} must not contain control characters`);

const objectOf = (fields: string) => ({
  error: (i: { code: string; input?: unknown }) =>
    i.code === 'invalid_type' ? `expected {${fields}} (got ${describe(i.input)})` : undefined,
});

export const DecisionRequestSchema = z.strictObject(
  { approver: text('approver', MAX_NAME, CONTROL), reason: text('reason', MAX_REASON, CONTROL_BUT_NEWLINES) },
  objectOf('approver, reason'),
);

export const OperatorRequestSchema = z.strictObject(
  { operator: text('operator', MAX_NAME, CONTROL), reason: text('reason', MAX_REASON, CONTROL_BUT_NEWLINES) },
  objectOf('operator, reason'),
);

/**
 * A signed decision: the canonical statement text and the armored `ssh-keygen -Y sign` output. Only
 * the shape is checked here; src/identity checks the content and the signature.
 *
 * Built on first use, with its limits read from src/identity then: importing those modules here would
 * load src/identity (its statement schemas, SSH signatures over @noble/curves) with the workflow code,
 * which the sandbox evaluates again for every new run (src/workflows/identity.ts loads the rest of
 * src/identity the same way, and says what it saves).
 */
export function signedStatementSchema(): z.ZodType<SignedStatementPayload> {
  if (signedSchema) return signedSchema;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  const { MAX_STATEMENT, MAX_ARMORED } = require('./identity-code') as typeof Identity;
  signedSchema = z.strictObject(
    {
      statement: z
        .string({ error: (i) => `statement must be a string (got ${describe(i.input)})` })
        .min(1, 'statement must not be empty')
        .max(MAX_STATEMENT, `statement is too long (at most ${MAX_STATEMENT} characters)`),
      signature: z
        .string({ error: (i) => `signature must be a string (got ${describe(i.input)})` })
        .min(1, 'signature must not be empty')
        .max(MAX_ARMORED, `signature is too long (at most ${MAX_ARMORED} characters)`),
    },
    objectOf('statement, signature'),
  );
  return signedSchema;
}
let signedSchema: z.ZodType<SignedStatementPayload> | undefined;

export interface SignedStatementPayload {
  statement: string;
  signature: string;
}

export function isSigned(v: object): v is SignedStatementPayload {
  return 'statement' in v && 'signature' in v;
}

/**
 * The argument list of a decision or operator message: a signed statement (it has a `statement`
 * field) or the named form. Which form a promotion accepts is its identity mode's question (handlers.ts).
 */
export function parseEither<T>(
  named: z.ZodType<T>,
  args: readonly unknown[],
): ParseResult<T | SignedStatementPayload> {
  const first = args[0];
  const signed = typeof first === 'object' && first !== null && 'statement' in first;
  return signed ? parseArgs(signedStatementSchema(), args) : parseArgs(named, args);
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * Parses the argument list of one message: exactly one argument, of the schema's shape. The whole
 * list is taken (not just the first) so a message with no argument or with extra ones is refused.
 */
export function parseArgs<T>(schema: z.ZodType<T>, args: readonly unknown[]): ParseResult<T> {
  const undecodable = args.find((a) => a instanceof UndecodablePayload);
  if (undecodable instanceof UndecodablePayload) {
    return {
      ok: false,
      problem: clip(
        `the payload could not be decoded (encoding '${undecodable.encoding}': ${undecodable.problem})`,
        300,
      ),
    };
  }
  if (args.length !== 1) {
    return { ok: false, problem: `expected exactly one argument, got ${args.length}` };
  }
  const parsed = schema.safeParse(args[0]);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, problem: problemOf(parsed.error) };
}

function problemOf(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid payload';
  // Field messages name their field already ("reason must be a string …").
  const message =
    first.code === 'unrecognized_keys'
      ? `unknown field(s) ${first.keys
          .slice(0, 5)
          .map((k) => `'${clip(k, 40)}'`)
          .join(', ')}`
      : first.message;
  return clip(message, 300);
}

/** A short, safe description of any value, for messages about it (never the value itself in full). */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : `'${clip(v, 40)}'`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${v}`;
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** Cuts any text to `max` characters, for audit entries and messages built from untrusted input. */
export function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
