import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canonicalStatement,
  newStatement,
  parseArmored,
  parseKeyLine,
  parseStatement,
  timeProblem,
  verifyDecision,
  verifySshSignature,
  type TrustedPerson,
} from '../../src/identity';
import { keyDir, writeIn, type KeyDir, type TestKey } from '../support/ssh-keys';

/** Interop with the real ssh-keygen: what it signs verifies here, and what is tampered with does not. */
describe('identity: SSH signatures (ssh-keygen -Y sign interop)', () => {
  let keys: KeyDir;
  let alice: TestKey;
  let bob: TestKey;
  beforeAll(() => {
    keys = keyDir();
    alice = keys.key('alice');
    bob = keys.key('bob');
  });
  afterAll(() => keys.close());

  const fingerprintBySshKeygen = (k: TestKey): string =>
    execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${k.privatePath}.pub`], {
      encoding: 'utf8',
    }).split(' ')[1] ?? '';

  it('parses public key lines and computes the same fingerprint as ssh-keygen -l', () => {
    const parsed = parseKeyLine(alice.publicLine);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.fingerprint).toBe(fingerprintBySshKeygen(alice));
    expect(parsed.value.comment).toBe('alice@test');
    expect(parseKeyLine('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x').ok).toBe(false);
    expect(parseKeyLine('ssh-ed25519 !!!!').ok).toBe(false);
    // An ed25519 label on a blob cut short.
    expect(parseKeyLine(`ssh-ed25519 ${alice.publicLine.split(' ')[1]?.slice(0, 40)}`).ok).toBe(false);
  });

  it('verifies a statement signed by ssh-keygen, and names the signer key', () => {
    const text = canonicalStatement(
      newStatement(
        { workflowId: 'promote/m/1', runId: 'r1', action: 'approve', reason: 'ok ✓ ünïcode' },
        Date.now(),
      ),
    );
    const sig = keys.sign(alice, text);
    const result = verifySshSignature(sig, text);
    expect(result).toMatchObject({ ok: true, value: { fingerprint: fingerprintBySshKeygen(alice) } });
    expect(parseArmored(sig)).toMatchObject({
      ok: true,
      value: { namespace: 'prograde-decision', hashAlgorithm: 'sha512' },
    });
  });

  it('refuses a changed message, another namespace, a flipped bit and garbage', () => {
    const text = '{"a":1}';
    const sig = keys.sign(alice, text);
    expect(verifySshSignature(sig, '{"a":2}')).toMatchObject({ ok: false, problem: /bad signature/ });
    expect(verifySshSignature(keys.sign(alice, text, 'file'), text)).toMatchObject({
      ok: false,
      problem: /namespace 'file'/,
    });
    const lines = sig.trim().split('\n');
    const body = lines.slice(1, -1).join('');
    // Flip a character near the end (inside the signature bytes).
    const i = body.length - 10;
    const flipped = body.slice(0, i) + (body[i] === 'A' ? 'B' : 'A') + body.slice(i + 1);
    const tampered = [lines[0], flipped, lines.at(-1)].join('\n');
    expect(verifySshSignature(tampered, text).ok).toBe(false);
    for (const junk of [
      '',
      'x'.repeat(5000),
      '-----BEGIN SSH SIGNATURE-----\n!!\n-----END SSH SIGNATURE-----',
    ]) {
      expect(verifySshSignature(junk, text).ok).toBe(false);
    }
  });

  it('what it accepts, ssh-keygen -Y verify accepts too (allowed signers file)', () => {
    const text = 'hello';
    const sig = keys.sign(bob, text);
    const sigPath = writeIn(keys.dir, 'msg.sig', sig);
    const allowed = writeIn(keys.dir, 'allowed', `bob ${bob.publicLine}\n`);
    const out = execFileSync(
      'ssh-keygen',
      ['-Y', 'verify', '-f', allowed, '-I', 'bob', '-n', 'prograde-decision', '-s', sigPath],
      { input: text, encoding: 'utf8' },
    );
    expect(out).toMatch(/Good "prograde-decision" signature for bob/);
    expect(verifySshSignature(sig, text).ok).toBe(true);
  });
});

describe('identity: statements and decisions', () => {
  let keys: KeyDir;
  let alice: TestKey;
  let eve: TestKey;
  let people: TrustedPerson[];
  beforeAll(() => {
    keys = keyDir();
    alice = keys.key('alice');
    eve = keys.key('eve');
    const fp = parseKeyLine(alice.publicLine);
    people = fp.ok ? [{ name: 'alice', fingerprints: [fp.value.fingerprint] }] : [];
  });
  afterAll(() => keys.close());

  const now = Date.parse('2026-01-01T12:00:00.000Z');
  const ctx = { workflowId: 'promote/m/1', runId: 'run-1', action: 'approve' as const, nowMs: now, used: [] };
  const signed = (
    k: TestKey,
    fields: Partial<Parameters<typeof newStatement>[0]> = {},
    at = now,
    life?: number,
  ) => {
    const statement = canonicalStatement(
      newStatement(
        { workflowId: 'promote/m/1', runId: 'run-1', action: 'approve', reason: 'fine', ...fields },
        at,
        life,
      ),
    );
    return { statement, signature: keys.sign(k, statement) };
  };

  it('accepts a fresh statement for this run from a trusted key', () => {
    const r = verifyDecision(signed(alice), { ...ctx, people });
    expect(r).toMatchObject({ ok: true, value: { by: 'alice', statement: { reason: 'fine' } } });
  });

  it('refuses each wrong thing with a reason', () => {
    const cases: Array<[ReturnType<typeof signed>, RegExp, object?]> = [
      [signed(eve), /not trusted/],
      [signed(alice, { runId: 'run-0' }), /for run run-0, not this run/],
      [signed(alice, { workflowId: 'promote/m/2' }), /for workflow 'promote\/m\/2'/],
      [signed(alice, { action: 'reject' }), /for 'reject', not 'approve'/],
      [signed(alice, {}, now - 10 * 60_000), /expired/],
      [signed(alice, {}, now + 5 * 60_000), /in the future/],
      [signed(alice, {}, now, 60 * 60_000), /longer than 15 minutes/],
    ];
    for (const [s, problem] of cases) {
      expect(verifyDecision(s, { ...ctx, people })).toMatchObject({ ok: false, problem });
    }
    const ok = signed(alice);
    const r = verifyDecision(ok, { ...ctx, people });
    if (!r.ok) throw new Error(r.problem);
    expect(verifyDecision(ok, { ...ctx, people, used: [r.value.digest] })).toMatchObject({
      ok: false,
      problem: /already used/,
    });
    // A modified reason: the signature no longer covers the text.
    const modified = { ...ok, statement: ok.statement.replace('"fine"', '"other"') };
    expect(verifyDecision(modified, { ...ctx, people })).toMatchObject({
      ok: false,
      problem: /bad signature/,
    });
  });

  it('accepts only the canonical text of a statement', () => {
    const s = newStatement({ workflowId: 'w', runId: 'r', action: 'abort', reason: 'x' }, now);
    expect(parseStatement(canonicalStatement(s)).ok).toBe(true);
    expect(parseStatement(JSON.stringify(s, null, 1))).toMatchObject({ ok: false, problem: /canonical/ });
    expect(parseStatement(JSON.stringify({ ...s, extra: 1 })).ok).toBe(false);
    expect(parseStatement('not json').ok).toBe(false);
    expect(timeProblem(s, now)).toBeUndefined();
  });
});
