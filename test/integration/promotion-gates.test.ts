import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import { TAG } from '../../src/records/outcome';
import type { PromotionState } from '../../src/promotion/state';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';

/**
 * Given a real MLflow registry and a real Temporal dev server, when a version is promoted, then the
 * right gate decides — and the decision, with its evidence, lands in the registry.
 */
describe('promotion workflow – offline gates', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function promote(model: string, version: string, spec = sampleSpec(model)): Promise<PromotionState> {
    const { handle } = await startPromotion(h.client, h.input(spec, version), h.taskQueue);
    return handle.result();
  }

  it('promotes a first model with no champion, says comparisons were skipped, and moves @champion', async () => {
    const model = uniqueModel('first');
    const v = await h.register(model, 'good');
    const state = await promote(model, v);
    expect(state.outcome).toBe('promoted');
    expect(state.champion).toBeNull();
    expect(state.gates.map((g) => [g.gate, g.status])).toEqual([
      ['format', 'passed'],
      ['performance', 'passed'],
      ['fairness', 'passed'],
      ['latency', 'passed'],
    ]);
    const perf = state.gates.find((g) => g.gate === 'performance');
    expect(JSON.stringify(perf)).toMatch(/no champion/i);
    const mv = await h.mlflow.getModelVersion(model, v);
    expect(mv.aliases).toContain('champion');
    expect(mv.tags[TAG.outcome]).toBe('promoted');
    expect(mv.tags[TAG.workflowId]).toBe(`promote/${model}/${v}`);
    expect(mv.tags[TAG.report]).toMatch(/^mlflow-artifacts:\/prograde\/reports\//);
    const reportPath = (mv.tags[TAG.report] ?? '').replace('mlflow-artifacts:/', '');
    const markdown = (await h.mlflow.downloadArtifact(reportPath)).toString('utf8');
    expect(markdown).toContain(`# ${model} v${v}: PROMOTED`);
    const json = JSON.parse(
      (await h.mlflow.downloadArtifact(reportPath.replace(/\.md$/, '.json'))).toString('utf8'),
    ) as {
      outcome: string;
      gates: unknown[];
    };
    expect(json.outcome).toBe('promoted');
    expect(json.gates).toHaveLength(4);
  });

  it('replaces a champion with a better candidate, keeping the previous champion in a tag', async () => {
    const model = uniqueModel('replace');
    const v1 = await h.register(model, 'regressed', 'champion');
    const v2 = await h.register(model, 'good');
    const state = await promote(model, v2);
    expect(state.outcome).toBe('promoted');
    expect(state.champion?.version).toBe(v1);
    const perf = state.gates.find((g) => g.gate === 'performance');
    const drop = perf?.checks.find((c) => c.metric === 'auc' && c.interval !== undefined);
    expect(drop?.status).toBe('passed');
    expect(drop?.interval?.confidence).toBe(0.95);
    const mv2 = await h.mlflow.getModelVersion(model, v2);
    expect(mv2.aliases).toContain('champion');
    expect(mv2.tags[TAG.previousChampion]).toBe(v1);
    const mv1 = await h.mlflow.getModelVersion(model, v1);
    expect(mv1.aliases).not.toContain('champion');
    expect(mv1.tags[TAG.replacedBy]).toBe(v2);
  });

  it('rejects a regressed candidate at the performance gate with the metric and threshold as evidence', async () => {
    const model = uniqueModel('regressed');
    const v1 = await h.register(model, 'good', 'champion');
    const v2 = await h.register(model, 'regressed');
    const state = await promote(model, v2);
    expect(state.outcome).toBe('rejected');
    const perf = state.gates.at(-1);
    expect(perf?.gate).toBe('performance');
    expect(perf?.status).toBe('failed');
    const failed = perf?.checks.filter((c) => c.status === 'failed') ?? [];
    expect(failed.length).toBeGreaterThan(0);
    expect(
      failed.some((c) => c.metric === 'auc' && c.threshold !== undefined && c.interval !== undefined),
    ).toBe(true);
    const mv2 = await h.mlflow.getModelVersion(model, v2);
    expect(mv2.tags[TAG.outcome]).toBe('rejected');
    expect(mv2.tags[TAG.failedGate]).toBe('performance');
    expect(mv2.tags[TAG.reason]).toMatch(/auc/);
    expect(mv2.aliases).not.toContain('champion');
    expect((await h.mlflow.getModelVersionByAlias(model, 'champion')).version).toBe(v1);
  });

  it('rejects a biased candidate at the fairness gate, naming the sensitive column and threshold', async () => {
    const model = uniqueModel('biased');
    await h.register(model, 'good', 'champion');
    const v2 = await h.register(model, 'biased');
    const state = await promote(
      model,
      v2,
      sampleSpec(model, { gates: { ...sampleSpec(model).gates, performance: [] } }),
    );
    expect(state.outcome).toBe('rejected');
    const fairness = state.gates.at(-1);
    expect(fairness?.gate).toBe('fairness');
    expect(fairness?.status).toBe('failed');
    const dp = fairness?.checks.find((c) => c.metric === 'demographic_parity_ratio');
    expect(dp?.status).toBe('failed');
    expect(dp?.threshold).toBe(0.8);
    expect(dp?.name).toMatch(/gender/);
    expect((await h.mlflow.getModelVersion(model, v2)).tags[TAG.failedGate]).toBe('fairness');
  });

  it('rejects a candidate whose signature breaks the contract at the format gate', async () => {
    const model = uniqueModel('signature');
    const v = await h.register(model, 'wrong-signature');
    const state = await promote(model, v);
    expect(state.outcome).toBe('rejected');
    expect(state.gates).toHaveLength(1);
    const format = state.gates[0];
    expect(format?.gate).toBe('format');
    expect(format?.status).toBe('failed');
    expect(format?.summary).toMatch(/features|input/);
  });

  it('rejects a corrupt model file at the format gate with a clear message', async () => {
    const model = uniqueModel('corrupt');
    const v = await h.registerRaw(model, Buffer.from('this is not an onnx model, just bytes'));
    const state = await promote(model, v);
    expect(state.outcome).toBe('rejected');
    expect(state.gates[0]?.gate).toBe('format');
    expect(state.gates[0]?.status).toBe('failed');
    expect(state.reason).toMatch(/corrupt|not a valid ONNX/i);
    expect((await h.mlflow.getModelVersion(model, v)).tags[TAG.outcome]).toBe('rejected');
  });

  it('ends failed, not rejected, when the candidate version does not exist', async () => {
    const model = uniqueModel('missing');
    await h.register(model, 'good');
    const state = await promote(model, '99');
    expect(state.outcome).toBe('failed');
    expect(state.reason).toMatch(/RESOURCE_DOES_NOT_EXIST|not found|does not exist/i);
  });
});
