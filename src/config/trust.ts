import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ProgradeError } from '../errors';
import { readInputFile } from '../input-file';
import { parseKeyLine, type TrustedPerson } from '../identity';

/**
 * The trust file: who may decide, pinned where whoever starts a promotion cannot change it. The
 * worker reads it (PROGRADE_TRUST_FILE), not the spec: a spec is supplied by the starter, who could
 * list their own key. A spec may only narrow what this file allows: each person its `approval.approvers`
 * (and canary pause approvers) or `operators` names must be trusted here for that role and model.
 *
 *     people:
 *       alice: ["ssh-ed25519 AAAA… alice@laptop"]
 *       sre-oncall: ["ssh-ed25519 AAAA… oncall-1", "ssh-ed25519 AAAA… oncall-2"]
 *     models:
 *       - model: "fraud-*"           # exact name, or a glob with * and ?
 *         approvers: [alice]
 *         operators: [alice, sre-oncall]
 *       - model: "*"
 *         operators: [sre-oncall]
 *
 * Every rule whose pattern matches the model grants its roles (the union): `*` means every model.
 * The file is read again at each promotion start, so adding or revoking a key needs no restart.
 */

export const TRUST_FILE_ENV = 'PROGRADE_TRUST_FILE';
const MAX_TRUST_FILE = 1024 * 1024;

const PersonName = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'a name is letters, digits and . _ @ - (no spaces)');

const TrustFileSchema = z.strictObject({
  people: z.record(PersonName, z.array(z.string()).min(1, 'list at least one key')),
  models: z
    .array(
      z.strictObject({
        model: z.string().min(1).max(300),
        approvers: z.array(PersonName).default([]),
        operators: z.array(PersonName).default([]),
      }),
    )
    .default([]),
});

export interface TrustRule {
  readonly model: string;
  readonly approvers: readonly string[];
  readonly operators: readonly string[];
}

export interface TrustFile {
  readonly path: string;
  readonly people: readonly TrustedPerson[];
  readonly rules: readonly TrustRule[];
}

export type Role = 'approve' | 'operate';

function invalid(path: string, problem: string): ProgradeError {
  return new ProgradeError('TRUST_FILE_INVALID', `trust file ${path}: ${problem}`, 'terminal', { path });
}

/** Parses the text of a trust file; every problem names the file and where in it. */
export function parseTrustFile(path: string, text: string): TrustFile {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw invalid(path, `not YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  const parsed = TrustFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw invalid(
      path,
      parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
        .join('; '),
    );
  }
  const owner = new Map<string, string>();
  const people: TrustedPerson[] = Object.entries(parsed.data.people).map(([name, lines]) => ({
    name,
    fingerprints: lines.map((line, i) => {
      const key = parseKeyLine(line);
      if (!key.ok) throw invalid(path, `people.${name}.${i}: ${key.problem}`);
      const fp = key.value.fingerprint;
      const other = owner.get(fp);
      // One key speaking for two people would make "who decided" ambiguous.
      if (other !== undefined && other !== name)
        throw invalid(path, `key ${fp} is listed for both ${other} and ${name}`);
      owner.set(fp, name);
      return fp;
    }),
  }));
  const known = new Set(people.map((p) => p.name));
  parsed.data.models.forEach((rule, i) => {
    for (const role of ['approvers', 'operators'] as const) {
      for (const n of rule[role]) {
        if (!known.has(n)) throw invalid(path, `models.${i}.${role}: '${n}' is not listed under people`);
      }
    }
  });
  return { path, people, rules: parsed.data.models };
}

export async function loadTrustFile(path: string): Promise<TrustFile> {
  let bytes: Buffer;
  try {
    bytes = await readInputFile(path, MAX_TRUST_FILE);
  } catch (e) {
    throw invalid(path, e instanceof Error ? e.message : String(e));
  }
  return parseTrustFile(path, bytes.toString('utf8'));
}

/** The trust file the environment names, or undefined when none is configured. */
export async function trustFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<TrustFile | undefined> {
  const path = env[TRUST_FILE_ENV];
  return path ? loadTrustFile(path) : undefined;
}

/** `fraud-*` matches `fraud-detector`; `*` matches every name; anything else must be equal. */
export function modelMatches(pattern: string, model: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === model;
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(model);
}

/** Whether `name` may take `role` on `model`, by any matching rule. */
export function isTrusted(trust: TrustFile, model: string, name: string, role: Role): boolean {
  return trust.rules.some(
    (r) => modelMatches(r.model, model) && (role === 'approve' ? r.approvers : r.operators).includes(name),
  );
}

export interface NamedPeople {
  readonly model: string;
  /** Everyone who may approve or reject, or give the go-ahead at a manual pause step. */
  readonly approvers: readonly string[];
  readonly operators: readonly string[];
}

/**
 * The people a spec names, each with the keys the trust file pins for them. Refuses (exit 2) when the
 * spec names anyone the file does not trust for that role on that model: a spec may only narrow.
 */
export function resolvePeople(trust: TrustFile, named: NamedPeople): TrustedPerson[] {
  const problems: string[] = [];
  for (const [role, names] of [
    ['approve', named.approvers],
    ['operate', named.operators],
  ] as const) {
    for (const n of names) {
      if (!isTrusted(trust, named.model, n, role)) problems.push(`'${n}' may not ${role}`);
    }
  }
  if (problems.length > 0) {
    throw new ProgradeError(
      'IDENTITY_NOT_TRUSTED',
      `the spec names people the trust file ${trust.path} does not trust for ${named.model}: ${problems.join(', ')}`,
      'terminal',
      { model: named.model, path: trust.path },
    );
  }
  const wanted = new Set([...named.approvers, ...named.operators]);
  return trust.people.filter((p) => wanted.has(p.name));
}

/** The person a key fingerprint belongs to, when the file lists it. */
export function personOfKey(trust: TrustFile, fingerprint: string): TrustedPerson | undefined {
  return trust.people.find((p) => p.fingerprints.includes(fingerprint));
}
