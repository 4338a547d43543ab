import type { core, z } from 'zod';
import { quote } from './spec-error';
import { Duration, Size } from './units';

/**
 * Turns zod issues into plain-language problems, each with the path of the value it is about.
 * Messages are written for a person editing YAML: they quote the offending value and say what to
 * write instead, instead of zod's developer-facing defaults.
 */

export type IssuePath = readonly (string | number)[];

export interface Issue {
  path: IssuePath;
  message: string;
  /** True when the problem is the key itself (an unknown key), so the location is the key, not its value. */
  atKey: boolean;
  /** For an unknown key: the keys its mapping accepts. */
  allowed?: readonly string[];
}

type RawIssue = core.$ZodRawIssue;

/** Parse options whose error map writes plain messages; `allowedKeys` remembers each object's keys. */
export function plainErrors(): {
  params: z.core.ParseContext<core.$ZodIssue>;
  allowedKeys: WeakMap<object, string[]>;
} {
  const allowedKeys = new WeakMap<object, string[]>();
  const error = (iss: RawIssue): string | undefined => {
    if (iss.code === 'unrecognized_keys') {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod
        ?.def?.shape;
      // The finalized issue keeps the same `keys` array, so it can find the allowed keys again.
      if (shape !== undefined) allowedKeys.set(iss.keys, Object.keys(shape));
      return `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map(quote).join(', ')}`;
    }
    return messageFor(iss);
  };
  return { params: { error }, allowedKeys };
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (an empty value)';
  if (typeof v === 'string') return `the text ${quote(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `the ${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

/** A number written as text, the way people write it: quoted, or with a percent sign. */
function numberHint(expected: string, input: unknown): string {
  if ((expected !== 'number' && expected !== 'int') || typeof input !== 'string') return '';
  const text = input.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)\s*%$/.test(text)) return ' (write a plain number, without %)';
  if (text !== '' && Number.isFinite(Number(text))) return ' (write it without quotes)';
  return '';
}

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
};

function messageFor(iss: RawIssue): string | undefined {
  const input: unknown = iss.input;
  switch (iss.code) {
    case 'invalid_type': {
      if (input === undefined) return 'is required';
      if (iss.inst === Duration.in)
        return `expected a duration such as 30s or 5m, got ${describeValue(input)}`;
      if (iss.inst === Size.in) return `expected a size such as 200MB, got ${describeValue(input)}`;
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeValue(input)}${numberHint(iss.expected, input)}`;
    }
    case 'invalid_value': {
      const values = iss.values.map((v) => String(v));
      if (values.length === 1) return `must be '${values[0]}', got ${describeValue(input)}`;
      return `${typeof input === 'string' ? quote(input) : describeValue(input)} is not one of: ${values.join(', ')}`;
    }
    case 'too_small':
      if (iss.origin === 'array')
        return `needs at least ${String(iss.minimum)} item${Number(iss.minimum) === 1 ? '' : 's'}`;
      if (iss.origin === 'string')
        return Number(iss.minimum) === 1
          ? 'must not be empty'
          : `must be at least ${String(iss.minimum)} characters`;
      return `must be ${iss.inclusive ? 'at least' : 'greater than'} ${String(iss.minimum)}, got ${String(input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `may have at most ${String(iss.maximum)} items`;
      if (iss.origin === 'string') return `must be at most ${String(iss.maximum)} characters`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${String(iss.maximum)}, got ${String(input)}`;
    case 'invalid_format':
      return `${describeValue(input)} is not a valid ${iss.format === 'regex' ? 'value' : iss.format}`;
    default:
      return undefined;
  }
}

type FinalIssue = core.$ZodIssue;

function unknownKey(path: IssuePath, allowed: readonly string[] | undefined): Issue {
  const hint = allowed === undefined ? '' : ` (allowed: ${allowed.join(', ')})`;
  return {
    path,
    message: `unknown key ${quote(String(path.at(-1)))}${hint}`,
    atKey: true,
    ...(allowed && { allowed }),
  };
}

const pathKey = (path: IssuePath): string => path.map(String).join('\u0000');

/** Flattens zod issues into problems: one per unknown key, and the likeliest branch of each failed union. */
export function toIssues(
  issues: readonly FinalIssue[],
  allowedKeys: WeakMap<object, string[]>,
  base: IssuePath = [],
): Issue[] {
  const out: Issue[] = [];
  for (const iss of issues) {
    const path = [...base, ...iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (iss.code === 'unrecognized_keys') {
      const allowed = allowedKeys.get(iss.keys);
      for (const key of iss.keys) out.push(unknownKey([...path, key], allowed));
    } else if (iss.code === 'invalid_union' && iss.errors.length > 0) {
      out.push(...unionIssues(iss.errors, allowedKeys, path));
    } else {
      out.push({ path, message: iss.message, atKey: false });
    }
  }
  return out;
}

/**
 * A union failed in every branch. When all branches reject the value itself (an enum of enums),
 * one merged message lists every accepted value; otherwise the branch the author most likely meant
 * — fewest unknown keys, then fewest problems — speaks, since listing every branch's complaints
 * buries the real one.
 */
function unionIssues(
  branches: readonly (readonly FinalIssue[])[],
  allowedKeys: WeakMap<object, string[]>,
  path: IssuePath,
): Issue[] {
  const scalarValues = branches.every(
    (b) => b.length > 0 && b.every((i) => i.path.length === 0 && i.code === 'invalid_value'),
  )
    ? branches.flatMap((b) =>
        b.flatMap((i) => (i.code === 'invalid_value' ? i.values.map((v) => String(v)) : [])),
      )
    : undefined;
  if (scalarValues !== undefined) {
    const got = /^'(.*)' is not one of/.exec(branches[0]?.[0]?.message ?? '')?.[1];
    return [
      {
        path,
        message: `${got === undefined ? 'value' : `'${got}'`} is not one of: ${scalarValues.join(', ')}`,
        atKey: false,
      },
    ];
  }
  const flattened = branches.map((b) => toIssues(b, allowedKeys, path));
  const cost = (issues: Issue[]): number => issues.reduce((sum, i) => sum + (i.atKey ? 3 : 1), 0);
  let best = flattened[0] ?? [];
  for (const candidate of flattened) if (cost(candidate) < cost(best)) best = candidate;
  // A key no branch knows: every branch's keys are fair suggestions, not just the chosen one's.
  // Indexed by path so that thousands of unknown keys stay linear.
  const unknownIn = flattened.map((b) => {
    const byPath = new Map<string, Issue[]>();
    for (const i of b) {
      if (!i.atKey) continue;
      const key = pathKey(i.path);
      const list = byPath.get(key);
      if (list === undefined) byPath.set(key, [i]);
      else list.push(i);
    }
    return byPath;
  });
  return best.map((issue) => {
    if (!issue.atKey) return issue;
    const key = pathKey(issue.path);
    if (!unknownIn.every((b) => b.has(key))) return issue;
    const allowed = new Set(unknownIn.flatMap((b) => (b.get(key) ?? []).flatMap((i) => i.allowed ?? [])));
    return unknownKey(issue.path, [...allowed]);
  });
}
