import { parseArmored, statementDigest, verifySshSignature } from '../identity/sshsig';
import { parseStatement, type Statement } from '../identity/statement';
import type { SignedDecisionRecord } from '../promotion/state';

/**
 * Signed decisions on the MLflow version, one tag each, so anyone who can read the registry can check
 * who decided with `prograde verify <model>@<version>`, long after the workflow's history is gone.
 *
 * The key is `prograde.decision.<16 hex of the statement digest>`: the same decision written twice (a
 * retried activity) lands on the same tag, and decisions of different runs never collide. The value
 * is three parts, one per line, no re-encoding of the signed text (JSON inside JSON would double its
 * escapes and could pass MLflow's length limit):
 *
 *     {"version":1,"workflowId":…}          ← the canonical statement, exactly as signed (one line)
 *     signed-by alice SHA256:…              ← who the workflow resolved the key to, for people reading tags
 *     -----BEGIN SSH SIGNATURE-----         ← the armored `ssh-keygen -Y sign` output
 *     …
 *     -----END SSH SIGNATURE-----
 *
 * The `signed-by` line is informative only: `prograde verify` trusts the signature and its own trust
 * file, never this line.
 */

export const DECISION_TAG_PREFIX = 'prograde.decision.';

export function decisionTag(digest: string): string {
  return `${DECISION_TAG_PREFIX}${digest.slice(0, 16)}`;
}

export function decisionTagValue(
  d: Pick<SignedDecisionRecord, 'statement' | 'by' | 'fingerprint' | 'signature'>,
): string {
  return `${d.statement}\nsigned-by ${d.by} ${d.fingerprint}\n${d.signature.trim()}`;
}

/** One decision as read back from a tag, before anyone trusts it. */
export interface RecordedDecision {
  readonly tag: string;
  readonly statementText: string;
  readonly statement?: Statement;
  readonly claimedBy?: string;
  readonly signature: string;
  /** Why it cannot even be read, when it cannot. */
  readonly unreadable?: string;
}

export function decisionsOf(tags: Readonly<Record<string, string>>): RecordedDecision[] {
  return Object.entries(tags)
    .filter(([k]) => k.startsWith(DECISION_TAG_PREFIX))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([tag, value]) => readDecision(tag, value));
}

function readDecision(tag: string, value: string): RecordedDecision {
  const [statementText = '', byLine = '', ...rest] = value.split('\n');
  const signature = rest.join('\n');
  const parsed = parseStatement(statementText);
  const claimedBy = /^signed-by (\S+) /.exec(byLine)?.[1];
  return {
    tag,
    statementText,
    signature,
    ...(parsed.ok ? { statement: parsed.value } : { unreadable: parsed.problem }),
    ...(claimedBy ? { claimedBy } : {}),
  };
}

/** The key fingerprint inside a recorded signature (not yet verified), for messages. */
export function signerOf(d: RecordedDecision): string | undefined {
  const sig = parseArmored(d.signature);
  return sig.ok ? sig.value.signer.fingerprint : undefined;
}

/** Signature check of a recorded decision; the tag must also be the one its content names. */
export function checkRecordedSignature(
  d: RecordedDecision,
): { ok: true; fingerprint: string } | { ok: false; problem: string } {
  const v = verifySshSignature(d.signature, d.statementText);
  if (!v.ok) return v;
  const expected = decisionTag(statementDigest(v.value.fingerprint, d.statementText));
  if (expected !== d.tag)
    return { ok: false, problem: `the tag name does not match its content (expected ${expected})` };
  return { ok: true, fingerprint: v.value.fingerprint };
}
