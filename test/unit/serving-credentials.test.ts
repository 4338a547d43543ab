import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  bearerOf,
  credentialOf,
  digestOf,
  findCredential,
  parseCredentials,
} from '../../src/serving/credentials';

const TOKEN = 'a-token-of-enough-length';
const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('credentials file', () => {
  it('reads "<name> <token>" and "<name> sha256:<hex>" lines, skipping comments and blanks', () => {
    const creds = parseCredentials(
      'keys',
      `# who  secret\n\nci-bot ${TOKEN}\r\n  alice\tsha256:${hex('alice-secret-0123456789').toUpperCase()}  \n`,
    );
    expect(creds.map((c) => c.name)).toEqual(['ci-bot', 'alice']);
    expect(creds[0]?.digest.equals(digestOf(TOKEN))).toBe(true);
    expect(creds[1]?.digest.equals(digestOf('alice-secret-0123456789'))).toBe(true);
  });

  it.each([
    [`ci-bot`, 1, /expected "<name> <token>".*found 1 field$/],
    [`ci-bot ${TOKEN} extra`, 1, /found 3 fields$/],
    [`# ok\nci-bot short`, 2, /a token has at least 16 characters$/],
    [`ci-bot sha256:abc`, 1, /a digest is sha256: followed by 64 hex digits$/],
    [`-bad ${TOKEN}`, 1, /a name is 1–64 characters/],
    [`a ${TOKEN}\na ${TOKEN}x`, 2, /name 'a' is already used on line 1$/],
    [`a ${TOKEN}\nb ${TOKEN}`, 2, /the same secret is already on line 1$/],
    [`a ${TOKEN}\nb sha256:${hex(TOKEN)}`, 2, /the same secret is already on line 1$/],
  ])('refuses %j at line %i with a clear reason', (text, line, reason) => {
    let error: unknown;
    try {
      parseCredentials('/etc/prograde/keys', text);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({
      code: 'GATEWAY_CREDENTIALS_INVALID',
      details: { file: '/etc/prograde/keys', line },
    });
    expect((error as Error).message).toMatch(new RegExp(`^/etc/prograde/keys:${line}: `));
    expect((error as Error).message).toMatch(reason);
  });

  it('refuses a file without a credential, and never puts a secret in a message', () => {
    expect(() => parseCredentials('k', '# nothing\n\n')).toThrow(/^k: holds no credential/);
    try {
      parseCredentials('k', 'x short-secret');
    } catch (e) {
      expect((e as Error).message).not.toContain('short-secret');
    }
  });
});

describe('credential lookup', () => {
  const creds = ['a', 'b', 'c'].map((n) => credentialOf(n, `${n}-secret-0123456789`));

  it('finds the credential whose digest matches, whatever its position', () => {
    for (const n of ['a', 'b', 'c'])
      expect(findCredential(digestOf(`${n}-secret-0123456789`), creds)?.name).toBe(n);
    expect(findCredential(digestOf('a-secret-012345678'), creds)).toBeUndefined();
    expect(findCredential(digestOf(''), creds)).toBeUndefined();
    expect(findCredential(digestOf('x'), [])).toBeUndefined();
  });

  it('compares digests of one length, whatever the presented token’s length', () => {
    for (const t of ['', 'x', 'y'.repeat(10_000)]) expect(digestOf(t)).toHaveLength(32);
  });

  it('reads a bearer token and nothing else', () => {
    expect(bearerOf(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerOf(`bearer ${TOKEN} `)).toBe(TOKEN);
    expect(bearerOf(undefined)).toBeUndefined();
    expect(bearerOf('Bearer ')).toBeUndefined();
    expect(bearerOf(`Basic ${TOKEN}`)).toBeUndefined();
    expect(bearerOf(`Bearer ${TOKEN} more`)).toBeUndefined();
  });
});
