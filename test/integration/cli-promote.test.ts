import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { promotionHandle } from '../../src/client/promotions';
import { repoRoot } from '../../src/devstack/tools';
import type { PromotionState } from '../../src/promotion/state';
import { sampleSpec, uniqueModel, type Harness } from '../support/harness';
import {
  adminOf,
  backgroundTraffic,
  cleanRows,
  liveSpec,
  startWorkerAndGateway,
  stopWorkerAndGateway,
} from '../support/live';
import type { GatewayHandle } from '../../src/serving/server';
import { prograde, specFile as writeSpec } from '../support/cli';
import { untilStatus } from '../support/wait';

/** Given the CLI a CI job runs, the exit code and the JSON tell the outcome. */
describe('prograde promote from CI', () => {
  let h: Harness;
  let gateway: GatewayHandle;

  beforeAll(async () => ({ h, gateway } = await startWorkerAndGateway()));
  afterAll(() => stopWorkerAndGateway(h, gateway));

  // The spec names `holdout.csv` relative to itself, as a team's repository would.
  const specFile = (model: string, spec = sampleSpec(model)): string => writeSpec(h, spec);

  it('--wait --json prints the final state and exits 0 when promoted', async () => {
    const model = uniqueModel('cli-ok');
    const v = await h.register(model, 'good');
    const r = await prograde(h, ['promote', '--spec', specFile(model), '--version', v, '--wait', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const state = JSON.parse(r.stdout) as PromotionState & { link: string };
    expect(state.outcome).toBe('promoted');
    expect(state.workflowId).toBe(`promote/${model}/${v}`);
    expect(state.link).toContain(encodeURIComponent(`promote/${model}/${v}`));
  });

  it('exits 1 with the reason when a gate rejects, printing plain progress lines in CI', async () => {
    const model = uniqueModel('cli-biased');
    await h.register(model, 'good', 'champion');
    const v = await h.register(model, 'biased');
    const r = await prograde(h, ['promote', '--spec', specFile(model), '--version', v, '--wait']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\] gate:performance: performance: all \d+ checks passed/);
    expect(r.stderr).toMatch(/\] gate:fairness: .*demographic_parity_ratio\[gender\]/);
    expect(r.stdout).toMatch(/outcome: REJECTED/);
    expect(r.stderr.split('\n').length).toBeGreaterThan(3);
  });

  it('--junit and the GitHub job summary show each gate the way CI shows tests', async () => {
    const model = uniqueModel('cli-junit');
    await h.register(model, 'good', 'champion');
    const v = await h.register(model, 'biased');
    const out = mkdtempSync(join(h.dir, 'ci-'));
    const junit = join(out, 'gates.xml');
    const summary = join(out, 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    const r = await prograde(
      h,
      ['promote', '--spec', specFile(model), '--version', v, '--wait', '--junit', junit],
      { GITHUB_STEP_SUMMARY: summary },
    );
    expect(r.status, r.stderr).toBe(1);

    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    const cases = [...xml.matchAll(/<testcase [^>]*name="([^"]*)"/g)].map((m) => m[1]);
    expect(cases.some((n) => n?.includes('demographic_parity_ratio'))).toBe(true);
    expect(cases.some((n) => n?.includes('auc') || n?.includes('performance'))).toBe(true);
    // The rejecting check is a failure carrying its message; the passing ones are not.
    expect(xml).toMatch(/<testcase [^>]*demographic_parity_ratio[^>]*>\s*<failure message="[^"]+"/);
    const failures = Number(/<testsuites [^>]*failures="(\d+)"/.exec(xml)?.[1] ?? 'NaN');
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(failures).toBeLessThan(cases.length);

    // Appended, not overwritten: GitHub gives every step the same file.
    // Text from the model and spec is entity-escaped against Markdown injection; read it decoded.
    const md = readFileSync(summary, 'utf8').replace(/&#(\d+);/g, (_, n: string) =>
      String.fromCharCode(Number(n)),
    );
    expect(md.startsWith('# earlier step\n')).toBe(true);
    expect(md).toMatch(/REJECTED|rejected/);
    expect(md).toContain(`${model}`);
    expect(md).toMatch(/\|.*demographic_parity_ratio.*\|/);
  });

  it('exits 2 with file:line:column when the spec is invalid, starting nothing', async () => {
    const r = await prograde(h, [
      'promote',
      '--spec',
      join(repoRoot, 'examples', 'invalid-promotion.yaml'),
      '--version',
      '1',
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid-promotion\.yaml:\d+:\d+ /);
  });

  async function expectNoWorkflow(model: string, version: string): Promise<void> {
    await expect(promotionHandle(h.client, model, version).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  }

  it('exits 2 before starting anything when the version does not exist', async () => {
    const model = uniqueModel('cli-missing');
    await h.register(model, 'good');
    const r = await prograde(h, ['promote', '--spec', specFile(model), '--version', '99', '--wait']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`'${model}' has no version 99 in MLflow`));
    await expectNoWorkflow(model, '99');
  });

  it('exits 2 before starting anything when the registered model does not exist', async () => {
    const model = uniqueModel('cli-nomodel');
    const r = await prograde(h, ['promote', '--spec', specFile(model), '--version', '1']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`no registered model '${model}'`));
    await expectNoWorkflow(model, '1');
  });

  it('without --version promotes the version behind aliases.candidate', async () => {
    const model = uniqueModel('cli-alias');
    await h.register(model, 'good');
    const v = await h.register(model, 'good', 'challenger', 5);
    const r = await prograde(h, ['promote', '--spec', specFile(model), '--wait', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const state = JSON.parse(r.stdout) as PromotionState;
    expect(state.workflowId).toBe(`promote/${model}/${v}`);
    expect(state.outcome).toBe('promoted');
    expect((await h.mlflow.getModelVersionByAlias(model, 'champion')).version).toBe(v);
  });

  it('without --version and without the candidate alias in MLflow, exits 2 naming the alias', async () => {
    const model = uniqueModel('cli-noalias');
    await h.register(model, 'good');
    const spec = sampleSpec(model, { aliases: { champion: 'champion', candidate: 'next' } });
    const r = await prograde(h, ['promote', '--spec', specFile(model, spec)]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/has no @next alias .*aliases\.candidate/);
    await expectNoWorkflow(model, '1');
  });

  it('`prograde rollback` puts the retained previous champion back at once and moves @champion back', async () => {
    const model = uniqueModel('cli-rollback');
    const champion = await h.register(model, 'good', 'champion');
    await adminOf(gateway).putRouting(model, { generation: 1, stable: { version: champion } }, 'test setup');
    const candidate = await h.register(model, 'good', undefined, 9);
    const spec = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '2s' });
    const traffic = backgroundTraffic(gateway, model, cleanRows(1500, 31), 30);
    const file = specFile(model, { ...spec, rollback: { automatic: true, keepPreviousFor: '10m' } });
    const started = await prograde(h, ['promote', '--spec', file, '--version', candidate, '--wait']);
    expect(started.status, started.stderr).toBe(0);
    // The promotion is final, but its workflow keeps running to retain the old champion: said so.
    expect(started.stdout).toMatch(/stays Running for rollback\.keepPreviousFor \(10m\)/);
    const handle = promotionHandle(h.client, model, candidate);
    await untilStatus(handle, (s) => s.phase === 'retaining', 'retaining');
    expect((await adminOf(gateway).getRouting(model))?.versions[champion]?.status).toBe('ready');

    const r = await prograde(h, [
      'rollback',
      model,
      '--spec',
      file,
      '--as',
      'alice',
      '--reason',
      'conversion dropped',
    ]);
    await traffic.stop();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`v${candidate} → v${champion}`));
    const routing = await adminOf(gateway).getRouting(model);
    expect(routing?.spec).toMatchObject({ stable: { version: champion }, retain: [candidate] });
    expect((await h.mlflow.getModelVersionByAlias(model, 'champion')).version).toBe(champion);
    expect((await h.mlflow.getModelVersion(model, candidate)).tags['prograde.outcome']).toBe('rolled-back');
    await handle.cancel();
    const final = await handle.result();
    // The promotion's own release step saw routing change and left the rollback alone.
    expect(final.outcome).toBe('promoted');
    expect((await adminOf(gateway).getRouting(model))?.spec.stable.version).toBe(champion);
  });
});
