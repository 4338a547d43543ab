import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTrust } from '../../src/activities/trust';
import {
  isTrusted,
  loadTrustFile,
  modelMatches,
  parseTrustFile,
  resolvePeople,
  TRUST_FILE_ENV,
} from '../../src/config/trust';
import { ProgradeError } from '../../src/errors';
import { keyDir, writeIn, type KeyDir, type TestKey } from '../support/ssh-keys';

/** The trust file: the root of who may decide, pinned on the worker; a spec may only narrow it. */
describe('trust file', () => {
  let keys: KeyDir;
  let alice: TestKey;
  let bob: TestKey;
  let text: string;
  beforeAll(() => {
    keys = keyDir();
    alice = keys.key('alice');
    bob = keys.key('bob');
    text = [
      'people:',
      `  alice: ["${alice.publicLine}"]`,
      `  bob: ["${bob.publicLine}"]`,
      'models:',
      '  - { model: "fraud-*", approvers: [alice], operators: [bob] }',
      '  - { model: "*", operators: [alice] }',
    ].join('\n');
  });
  afterAll(() => keys.close());

  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      return e instanceof ProgradeError ? `${e.code}: ${e.message}` : String(e);
    }
    return undefined;
  };

  it('grants each role by the union of matching rules, * included', () => {
    const trust = parseTrustFile('t.yaml', text);
    expect(isTrusted(trust, 'fraud-detector', 'alice', 'approve')).toBe(true);
    expect(isTrusted(trust, 'fraud-detector', 'bob', 'operate')).toBe(true);
    expect(isTrusted(trust, 'fraud-detector', 'alice', 'operate')).toBe(true); // from "*"
    expect(isTrusted(trust, 'churn', 'alice', 'approve')).toBe(false);
    expect(isTrusted(trust, 'churn', 'bob', 'operate')).toBe(false);
    expect(modelMatches('fraud-?', 'fraud-1')).toBe(true);
    expect(modelMatches('fraud.x', 'fraudyx')).toBe(false); // a dot is a dot
  });

  it('resolves the people a spec names to their keys, and refuses anyone the file does not trust', () => {
    const trust = parseTrustFile('t.yaml', text);
    const people = resolvePeople(trust, { model: 'fraud-a', approvers: ['alice'], operators: ['bob'] });
    expect(people.map((p) => p.name)).toEqual(['alice', 'bob']);
    expect(people[0]?.fingerprints[0]).toMatch(/^SHA256:/);
    expect(
      codeOf(() => resolvePeople(trust, { model: 'churn', approvers: ['alice'], operators: ['mallory'] })),
    ).toMatch(/^IDENTITY_NOT_TRUSTED: .*'alice' may not approve, 'mallory' may not operate/);
  });

  it('says what is wrong with a bad file, naming the file', () => {
    const bad: Array<[string, RegExp]> = [
      ['people: [', /not YAML/],
      ['people:\n  alice: []\n', /people\.alice: list at least one key/],
      ['people:\n  alice: ["ssh-rsa AAAA x"]\n', /people\.alice\.0: only ssh-ed25519 keys/],
      [
        `people:\n  alice: ["${alice.publicLine}"]\nmodels:\n  - { model: m, approvers: [zed] }\n`,
        /'zed' is not listed under people/,
      ],
      [
        `people:\n  alice: ["${alice.publicLine}"]\n  al2: ["${alice.publicLine}"]\n`,
        /listed for both alice and al2/,
      ],
      ['people: {}\nextra: 1\n', /Unrecognized key/i],
    ];
    for (const [t, problem] of bad) {
      expect(codeOf(() => parseTrustFile('/etc/prograde/trust.yaml', t))).toMatch(
        new RegExp(`^TRUST_FILE_INVALID: trust file /etc/prograde/trust.yaml: .*${problem.source}`, 'i'),
      );
    }
  });

  it('a missing file is TRUST_FILE_INVALID; the activity needs no file when the spec names nobody', async () => {
    await expect(loadTrustFile('/nonexistent/trust.yaml')).rejects.toMatchObject({
      code: 'TRUST_FILE_INVALID',
    });
    await expect(resolveTrust({ model: 'm', approvers: [], operators: [] }, {})).resolves.toEqual({
      people: [],
    });
    const noFile = resolveTrust({ model: 'm', approvers: ['alice'], operators: [] }, {});
    await expect(noFile).rejects.toMatchObject({ code: 'IDENTITY_NOT_TRUSTED' });
    await expect(noFile).rejects.toThrow(/no trust file \(PROGRADE_TRUST_FILE\)/);
    const path = writeIn(keys.dir, 'trust.yaml', text);
    const out = await resolveTrust(
      { model: 'fraud-x', approvers: ['alice'], operators: [] },
      { [TRUST_FILE_ENV]: path },
    );
    expect(out).toMatchObject({ people: [{ name: 'alice' }], trustFile: path });
  });
});
