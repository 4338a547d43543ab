import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promotionHandle } from '../../src/client/promotions';
import { repoRoot } from '../../src/devstack/tools';
import type { PromotionState } from '../../src/workflows/state';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import {
  adminOf,
  backgroundTraffic,
  cleanRows,
  GATEWAY_TOKEN,
  liveSpec,
  startTestGateway,
} from '../support/live';
import type { GatewayHandle } from '../../src/serving/server';
import { stack } from '../support/stack';
import { untilStatus } from '../support/wait';

interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `prograde …` as CI would: its own process, environment only. Asynchronous, so the in-process worker keeps serving. */
function prograde(h: Harness, args: readonly string[]): Promise<CliResult> {
  const env = {
    ...process.env,
    CI: 'true',
    TEMPORAL_ADDRESS: stack.temporalAddress(),
    MLFLOW_TRACKING_URI: stack.mlflowUri(),
    PROGRADE_TASK_QUEUE: h.taskQueue,
    PROGRADE_GATEWAY_TOKEN: GATEWAY_TOKEN,
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/prograde.js', ...args],
      { cwd: repoRoot, env, encoding: 'utf8' },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Given the CLI a CI job runs, the exit code and the JSON tell the outcome. */
describe('prograde promote from CI', () => {
  let h: Harness;
  let gateway: GatewayHandle;

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
    gateway = await startTestGateway(h, mkdtempSync(join(h.dir, 'gateway-')));
  });
  afterAll(async () => {
    await gateway?.close();
    await h?.close();
  });

  function specFile(model: string, spec = sampleSpec(model)): string {
    const dir = mkdtempSync(join(h.dir, 'spec-'));
    // The spec names `holdout.csv` relative to itself, as a team's repository would.
    copyFileSync(h.datasetPath, join(dir, 'holdout.csv'));
    const file = join(dir, 'promotion.yaml');
    writeFileSync(file, stringify(spec));
    return file;
  }

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
