import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ProgradeError } from '../errors';

/**
 * Named secrets the gateway accepts (inference keys, admin tokens) and their constant-time lookup.
 *
 * Only SHA-256 digests are kept and compared: the digest of any presented token is 32 bytes, so
 * comparing digests with `timingSafeEqual` leaks neither a secret's content nor its length, and a
 * lookup checks every credential without stopping at the first match. A file may hold a digest
 * (`sha256:<hex>`) instead of the token itself, so the gateway's host need not store the secret.
 */

export interface Credential {
  /** The key's name in logs; for an admin token, the actor recorded in the audit log. */
  readonly name: string;
  readonly digest: Buffer;
}

export function digestOf(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** A credential from a plain secret (the single `--token`, tests). */
export function credentialOf(name: string, secret: string): Credential {
  return { name, digest: digestOf(secret) };
}

/**
 * The credential whose digest equals `given`'s, looking at every one: the time taken depends on how
 * many credentials there are, never on which one matched or how much of a wrong token was right.
 */
export function findCredential(given: Buffer, credentials: readonly Credential[]): Credential | undefined {
  let found: Credential | undefined;
  for (const credential of credentials) {
    const same = timingSafeEqual(given, credential.digest);
    found = same && found === undefined ? credential : found;
  }
  return found;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined without one. */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

export const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/;
const DIGEST = /^sha256:([0-9a-fA-F]{64})$/;
/** Plain tokens this short are guessable; a file is read by people who generate them, so ask for more. */
const MIN_TOKEN_CHARS = 16;

const Line = z.object({
  name: z
    .string()
    .regex(
      CREDENTIAL_NAME,
      'a name is 1–64 characters from [A-Za-z0-9._@:-], starting with a letter or digit',
    ),
  secret: z.union([
    z
      .string()
      .regex(DIGEST)
      .transform((s) => Buffer.from(s.slice('sha256:'.length), 'hex')),
    z
      .string()
      .refine((s) => !s.startsWith('sha256:'), 'a digest is sha256: followed by 64 hex digits')
      .refine((s) => s.length >= MIN_TOKEN_CHARS, `a token has at least ${MIN_TOKEN_CHARS} characters`)
      .transform((s) => digestOf(s)),
  ]),
});

/** A credentials file that cannot be used; the message names the file and line. */
export class CredentialsFileError extends ProgradeError {
  override readonly name = 'CredentialsFileError';
  constructor(file: string, line: number | undefined, reason: string) {
    super(
      'GATEWAY_CREDENTIALS_INVALID',
      `${file}${line !== undefined ? `:${line}` : ''}: ${reason}`,
      'terminal',
      { file, ...(line !== undefined ? { line } : {}) },
    );
  }
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  // A union reports "invalid input": the plain-token branch's message says more.
  const nested = issue.code === 'invalid_union' ? issue.errors.at(-1)?.[0]?.message : undefined;
  return nested ?? issue.message;
}

/**
 * Parses a credentials file: one `<name> <secret>` per line, where the secret is a token (at least 16
 * characters, no spaces) or `sha256:<64 hex digits>`; blank lines and lines starting with `#` are
 * skipped. Names and secrets must be unique, and the file must hold at least one credential.
 */
export function parseCredentials(file: string, text: string): Credential[] {
  const credentials: Credential[] = [];
  const names = new Map<string, number>();
  const digests = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/[ \t]+/);
    if (fields.length !== 2)
      throw new CredentialsFileError(
        file,
        lineNo,
        `expected "<name> <token>" or "<name> sha256:<hex>", found ${fields.length} field${fields.length === 1 ? '' : 's'}`,
      );
    const parsed = Line.safeParse({ name: fields[0], secret: fields[1] });
    if (!parsed.success) throw new CredentialsFileError(file, lineNo, firstIssue(parsed.error));
    const { name, secret } = parsed.data;
    const sameName = names.get(name);
    if (sameName !== undefined)
      throw new CredentialsFileError(file, lineNo, `name '${name}' is already used on line ${sameName}`);
    const hex = secret.toString('hex');
    const sameSecret = digests.get(hex);
    if (sameSecret !== undefined)
      throw new CredentialsFileError(file, lineNo, `the same secret is already on line ${sameSecret}`);
    names.set(name, lineNo);
    digests.set(hex, lineNo);
    credentials.push({ name, digest: secret });
  });
  if (credentials.length === 0)
    throw new CredentialsFileError(file, undefined, 'holds no credential (one "<name> <token>" per line)');
  return credentials;
}
