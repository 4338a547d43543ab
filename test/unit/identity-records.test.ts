/* eslint-disable @typescript-eslint/require-await -- fakes stand in for clients, which return promises */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDecision } from '../../src/cli/commands/verify';
import { signDecision } from '../../src/client/signing';
import { parseTrustFile, type TrustFile } from '../../src/config/trust';
import { statementDigest } from '../../src/identity';
import type { MlflowClient } from '../../src/mlflow/client';
import type { ModelVersion } from '../../src/mlflow/schemas';
import { decisionTag, decisionTagValue, decisionsOf } from '../../src/records/decisions';
import { rollbackStatementIds, rollbackToPrevious } from '../../src/records/rollback';
import { TAG } from '../../src/records/tags';
import type { GatewayAdminClient } from '../../src/serving/admin-client';
import { keyDir, type KeyDir, type TestKey } from '../support/ssh-keys';

/**
 * The record of signed decisions on a version and what `prograde verify` makes of it: a signed
 * rollback (which no workflow checks) is kept on the version it leaves and verifies; a record
 * moved to another version, edited, or signed by an untrusted key does not.
 */
describe('decision records and prograde verify', () => {
  let keys: KeyDir;
  let ops: TestKey;
  let eve: TestKey;
  let trust: TrustFile;
  beforeAll(() => {
    keys = keyDir();
    ops = keys.key('ops');
    eve = keys.key('eve');
    trust = parseTrustFile(
      'trust.yaml',
      `people:\n  ops: ["${ops.publicLine}"]\n  eve: ["${eve.publicLine}"]\nmodels:\n  - { model: m, operators: [ops] }\n`,
    );
  });
  afterAll(() => keys.close());

  /** An in-memory registry with versions 1 (previous champion) and 2 (champion). */
  function fakes() {
    const versions = new Map<string, { tags: Record<string, string>; aliases: string[] }>([
      ['1', { tags: { [TAG.replacedBy]: '2' }, aliases: [] }],
      ['2', { tags: { [TAG.previousChampion]: '1' }, aliases: ['champion'] }],
    ]);
    const view = (v: string): ModelVersion => ({ version: v, ...versions.get(v) }) as unknown as ModelVersion;
    const mlflow = {
      getModelVersionByAlias: async (_m: string, alias: string) =>
        view([...versions].find(([, x]) => x.aliases.includes(alias))?.[0] ?? ''),
      getModelVersion: async (_m: string, v: string) => view(v),
      setAlias: async (_m: string, alias: string, v: string) => {
        for (const x of versions.values()) x.aliases = x.aliases.filter((a) => a !== alias);
        versions.get(v)?.aliases.push(alias);
      },
      setModelVersionTag: async (_m: string, v: string, k: string, value: string) => {
        const x = versions.get(v);
        if (x) x.tags[k] = value;
      },
      deleteModelVersionTag: async (_m: string, v: string, k: string) => {
        delete versions.get(v)?.tags[k];
      },
    } as unknown as MlflowClient;
    const actors: string[] = [];
    const gateway = {
      getRouting: async () => ({ generation: 4 }),
      putRouting: async (_m: string, _d: unknown, actor?: string) => {
        actors.push(actor ?? '');
        return {};
      },
    } as unknown as GatewayAdminClient;
    return { versions, mlflow, gateway, actors };
  }

  it('a signed rollback is recorded on the version it leaves, and verifies there only', async () => {
    const { versions, mlflow, gateway, actors } = fakes();
    const result = await rollbackToPrevious(mlflow, gateway, {
      model: 'm',
      championAlias: 'champion',
      operator: '',
      reason: 'latency regression',
      sign: async (from) => {
        const s = await signDecision(
          { ...rollbackStatementIds('m', from), action: 'rollback', reason: 'latency regression' },
          ops.privatePath,
        );
        return {
          operator: 'ops',
          record: { ...s, by: 'ops', digest: statementDigest(s.fingerprint, s.statement) },
        };
      },
    });
    expect(result).toMatchObject({ from: '2', to: '1' });
    expect(actors[0]).toMatch(/^ops \(prograde rollback, signed SHA256:.*\): latency regression$/);
    const tags = versions.get('2')?.tags ?? {};
    const recorded = decisionsOf(tags);
    expect(recorded).toHaveLength(1);
    const [d] = recorded;
    if (!d) return;
    expect(checkDecision(trust, 'm', '2', d)).toMatchObject({ ok: true, action: 'rollback', by: 'ops' });
    // The same record copied onto another version does not verify there.
    expect(checkDecision(trust, 'm', '1', d)).toMatchObject({ ok: false, problem: /not m v1/ });
    // Nor for another model, where ops is not trusted.
    expect(checkDecision(trust, 'other', '2', d)).toMatchObject({
      ok: false,
      problem: /not trusted to operate other/,
    });
  });

  it('an edited, re-keyed or untrusted record does not verify; the signed-by line is never believed', async () => {
    const s = await signDecision(
      { workflowId: 'promote/m/3', runId: 'r', action: 'abort', reason: 'x' },
      eve.privatePath,
    );
    const record = { ...s, by: 'ops', digest: statementDigest(s.fingerprint, s.statement) };
    const tags = { [decisionTag(record.digest)]: decisionTagValue(record) };
    const [d] = decisionsOf(tags);
    if (!d) throw new Error('no record');
    expect(d.claimedBy).toBe('ops');
    expect(checkDecision(trust, 'm', '3', d)).toMatchObject({
      ok: false,
      by: 'eve',
      problem: /eve is not trusted to operate m/,
    });
    const moved = decisionsOf({ 'prograde.decision.0000000000000000': decisionTagValue(record) })[0];
    if (!moved) throw new Error('no record');
    expect(checkDecision(trust, 'm', '3', moved)).toMatchObject({
      ok: false,
      problem: /tag name does not match/,
    });
    const garbage = decisionsOf({ 'prograde.decision.x': 'not a statement' })[0];
    if (!garbage) throw new Error('no record');
    expect(checkDecision(trust, 'm', '3', garbage)).toMatchObject({ ok: false, problem: /not JSON/ });
  });
});
