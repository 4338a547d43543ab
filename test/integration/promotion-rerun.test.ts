import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promotionHandle, startPromotion } from '../../src/client/promotions';
import { attemptsOf } from '../../src/records/attempts';
import { TAG, attemptTag } from '../../src/records/tags';
import { sampleModel } from '../../src/samples/models';
import type { GatewayHandle } from '../../src/serving/server';
import type { PromotionSpecInput } from '../../src/spec/schema';
import type { PromotionState } from '../../src/promotion/state';
import { prograde, specFile } from '../support/cli';
import { sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { startWorkerAndGateway, stopWorkerAndGateway } from '../support/live';

/** Everything prograde may write about a version: its tags and aliases, the model's aliases, the report files. */
interface RegistrySnapshot {
  readonly tags: Readonly<Record<string, string>>;
  readonly aliases: readonly string[];
  readonly modelAliases: Readonly<Record<string, string>>;
  readonly updatedAt: number | undefined;
  readonly reports: readonly string[];
}

/**
 * Given CI that runs `prograde promote` again — after a success, after a rejection, after a rollback —
 * then a success is never redone or rewritten, a new attempt keeps the earlier ones reachable, and
 * the version's tags never contradict each other.
 */
describe('re-running a promotion', () => {
  let h: Harness;
  let gateway: GatewayHandle;

  beforeAll(async () => ({ h, gateway } = await startWorkerAndGateway()));
  afterAll(() => stopWorkerAndGateway(h, gateway));

  /** Every file under a proxied artifact folder, with its size. */
  async function listTree(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await h.mlflow.listArtifacts(dir)) {
      if (e.isDir) out.push(...(await listTree(`${dir}/${e.path}`)));
      else out.push(`${dir}/${e.path} ${e.size ?? '?'}`);
    }
    return out.sort();
  }

  async function snapshot(model: string, version: string): Promise<RegistrySnapshot> {
    const mv = await h.mlflow.getModelVersion(model, version);
    return {
      tags: mv.tags,
      aliases: [...mv.aliases].sort(),
      modelAliases: (await h.mlflow.getRegisteredModel(model)).aliases,
      updatedAt: mv.updatedAt,
      reports: await listTree(`prograde/reports/${encodeURIComponent(model)}/${version}`),
    };
  }

  async function download(uri: string): Promise<string> {
    return (await h.mlflow.downloadArtifact(uri.replace(/^mlflow-artifacts:\//, ''))).toString('utf8');
  }

  /** The plain tags agree with each other and with the aliases. */
  function expectConsistent(s: RegistrySnapshot): void {
    const outcome = s.tags[TAG.outcome];
    if (outcome === 'promoted') expect(s.tags[TAG.failedGate]).toBeUndefined();
    if (s.aliases.includes('champion')) expect(s.tags[TAG.replacedBy]).toBeUndefined();
    if (outcome !== 'promoted' && outcome !== 'rolled-back')
      expect(s.tags[TAG.previousChampion]).toBeUndefined();
    const attempts = attemptsOf(s.tags);
    if (outcome !== undefined) {
      // A judged version always counts its attempts: without this the checks below could pass vacuously.
      expect(s.tags[TAG.attempts], 'a judged version carries prograde.attempts').toBeDefined();
      expect(attempts.map((a) => a.attempt)).toEqual(
        Array.from({ length: Number(s.tags[TAG.attempts]) }, (_, i) => i + 1),
      );
      const last = attempts.at(-1);
      if (outcome !== 'rolled-back') expect(last?.outcome).toBe(outcome);
      expect(last?.runId).toBe(s.tags[TAG.runId]);
      expect(last?.report).toBe(s.tags[TAG.report]);
    }
  }

  it('after a success: exit 0, "already promoted by run <id>", no workflow started and nothing written', async () => {
    const model = uniqueModel('rerun-ok');
    const v = await h.register(model, 'good');
    const file = specFile(h, sampleSpec(model));
    const first = await prograde(h, ['promote', '--spec', file, '--version', v, '--wait']);
    expect(first.status, first.stderr).toBe(0);
    const handle = promotionHandle(h.client, model, v);
    const firstRun = (await handle.describe()).runId;
    const before = await snapshot(model, v);
    expect(before.tags[TAG.runId]).toBe(firstRun);
    expect(before.tags[TAG.attempts]).toBe('1');

    const again = await prograde(h, ['promote', '--spec', file, '--version', v, '--wait']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain(`already promoted by run ${firstRun}`);
    const json = await prograde(h, ['promote', '--spec', file, '--version', v, '--json']);
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      outcome: 'promoted',
      alreadyPromoted: true,
      started: false,
      runId: firstRun,
      reason: `already promoted by run ${firstRun}`,
    });

    expect(await snapshot(model, v)).toEqual(before);
    expect((await handle.describe()).runId).toBe(firstRun);
    expectConsistent(before);

    // Started past the CLI, a run of the champion still ends without touching the registry.
    const raw = await startPromotion(h.client, h.input(sampleSpec(model), v), h.taskQueue);
    const rawState = await raw.handle.result();
    expect(raw.runId).not.toBe(firstRun);
    expect(rawState.reportUri ?? '').not.toMatch(new RegExp(raw.runId));
    expect(await snapshot(model, v)).toEqual(before);
  });

  it('after a rejection: a fixed spec makes a second attempt with its own report; the first stays reachable and no tag contradicts', async () => {
    const model = uniqueModel('rerun-fixed');
    const champion = await h.register(model, 'good', 'champion');
    const v = await h.register(model, 'good', undefined, 7);
    // A size limit the model cannot meet: the format gate rejects it.
    const strict = sampleSpec(model);
    const broken: PromotionSpecInput = { ...strict, contract: { ...strict.contract, maxModelSize: '100B' } };
    const first = await prograde(h, ['promote', '--spec', specFile(h, broken), '--version', v, '--wait']);
    expect(first.status, first.stdout).toBe(1);
    const rejected = await snapshot(model, v);
    expect(rejected.tags[TAG.outcome]).toBe('rejected');
    expect(rejected.tags[TAG.failedGate]).toBe('format');
    const firstReport = rejected.tags[TAG.report] ?? '';
    const firstRun = rejected.tags[TAG.runId] ?? '';

    const second = await prograde(h, ['promote', '--spec', specFile(h, strict), '--version', v, '--wait']);
    expect(second.status, second.stdout).toBe(0);
    const promoted = await snapshot(model, v);
    expectConsistent(promoted);
    expect(promoted.tags[TAG.outcome]).toBe('promoted');
    expect(promoted.tags[TAG.failedGate]).toBeUndefined();
    expect(promoted.tags[TAG.previousChampion]).toBe(champion);
    expect(promoted.tags[TAG.runId]).not.toBe(firstRun);
    expect(promoted.tags[TAG.report]).not.toBe(firstReport);
    expect(promoted.tags[TAG.attempts]).toBe('2');
    const attempts = attemptsOf(promoted.tags);
    expect(attempts.map(({ at: _at, ...a }) => a)).toEqual([
      { attempt: 1, outcome: 'rejected', runId: firstRun, report: firstReport },
      { attempt: 2, outcome: 'promoted', runId: promoted.tags[TAG.runId], report: promoted.tags[TAG.report] },
    ]);
    expect(attempts.every((a) => a.at !== '')).toBe(true);
    // Both reports exist; the first still says what happened then, the second links back to it.
    expect(await download(firstReport)).toContain(`# ${model} v${v}: REJECTED`);
    const latest = await download(promoted.tags[TAG.report] ?? '');
    expect(latest).toContain(`# ${model} v${v}: PROMOTED`);
    expect(latest).toContain(`#1 rejected, run \`${firstRun}\``);
    expect(latest).toContain(firstReport);
    expect(promoted.reports.filter((r) => r.includes('/report.md'))).toHaveLength(2);

    // `prograde status` shows both attempts beside the workflow's latest run.
    const status = await prograde(h, ['status', `${model}@${v}`]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/outcome: PROMOTED/);
    expect(status.stdout).toMatch(new RegExp(`#1 rejected +run ${firstRun}`));
    expect(status.stdout).toMatch(/#2 promoted /);

    const old = await snapshot(model, champion);
    expect(old.tags[TAG.replacedBy]).toBe(v);
    expect(old.aliases).not.toContain('champion');
  });

  it('after a rollback: the restored champion carries no replaced_by, and re-running it writes nothing', async () => {
    const model = uniqueModel('rerun-rollback');
    const target = { type: 'gateway', url: gateway.url, tokenEnv: 'PROGRADE_GATEWAY_TOKEN' } as const;
    const file = specFile(h, sampleSpec(model, { target }));
    const v1 = await h.register(model, 'good');
    expect((await prograde(h, ['promote', '--spec', file, '--version', v1, '--wait'])).status).toBe(0);
    const v2 = await h.register(model, 'good', undefined, 3);
    expect((await prograde(h, ['promote', '--spec', file, '--version', v2, '--wait'])).status).toBe(0);
    expect((await snapshot(model, v1)).tags[TAG.replacedBy]).toBe(v2);

    const rolled = await prograde(h, [
      'rollback',
      model,
      '--spec',
      file,
      '--as',
      'alice',
      '--reason',
      'drop',
    ]);
    expect(rolled.status, rolled.stderr).toBe(0);
    const restored = await snapshot(model, v1);
    expect(restored.aliases).toContain('champion');
    expect(restored.tags[TAG.replacedBy]).toBeUndefined();
    expect(restored.tags[TAG.outcome]).toBe('promoted');
    expectConsistent(restored);
    const demoted = await snapshot(model, v2);
    expect(demoted.tags[TAG.outcome]).toBe('rolled-back');
    expect(demoted.aliases).not.toContain('champion');
    expectConsistent(demoted);

    // v1 is champion again, promoted by its own run: a CI retry of v1 changes nothing.
    const again = await prograde(h, ['promote', '--spec', file, '--version', v1, '--wait']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain(`already promoted by run ${restored.tags[TAG.runId] ?? '?'}`);
    expect(await snapshot(model, v1)).toEqual(restored);
  });

  it('a version deleted and registered again with other files is judged on the new files', async () => {
    const model = uniqueModel('rerun-recreated');
    const file = specFile(h, sampleSpec(model));
    const v = await h.register(model, 'good');
    const first = await prograde(h, ['promote', '--spec', file, '--version', v, '--wait', '--json']);
    expect(first.status, first.stderr).toBe(0);
    const good = JSON.parse(first.stdout) as PromotionState;
    const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
    expect(good.candidate.sha256).toBe(sha(sampleModel('good')));

    // Same name, same version number, other files: the worker's cache must not serve the old ones.
    await h.mlflow.deleteRegisteredModel(model);
    expect(await h.register(model, 'biased')).toBe(v);
    const second = await prograde(h, ['promote', '--spec', file, '--version', v, '--wait', '--json']);
    const biased = JSON.parse(second.stdout) as PromotionState;
    expect(biased.candidate.sha256).toBe(sha(sampleModel('biased')));
    expect(biased.outcome).toBe('rejected');
    expect(biased.gates.find((g) => g.gate === 'fairness')?.status).toBe('failed');
    expect(second.status).toBe(1);
    expect((await h.mlflow.getModelVersion(model, v)).tags[attemptTag(1)]).toContain('"rejected"');
  });
});
