import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import { type Dataset } from '../../src/dataset/dataset';
import { registerOnnxModel } from '../../src/mlflow/register';
import { buildLogisticModel } from '../../src/onnx/build';
import type { PromotionState } from '../../src/promotion/state';
import type { GateVerdict } from '../../src/promotion/verdict';
import { TAG } from '../../src/records/outcome';
import { SAMPLE_FEATURES, writeDatasetCsv } from '../../src/samples/datasets';
import { seededRng } from '../../src/samples/rng';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';

/**
 * Fairness relative to the champion, through the real workflow, MLflow registry and ONNX scoring, on
 * data where the four-fifths rule is out of reach: group a's base rate is about 0.33, group b's 0.98,
 * so even a perfect classifier has a demographic parity ratio near 0.34.
 *
 * f0 carries the label (N(±1.5, 1)); f11 is a proxy for the group (N(±1.5, 0.5)) with no signal about
 * the label; f1..f10 are noise. The champion uses f0; the less fair candidate also leans on the proxy
 * against group a; the as-fair candidate is the champion with slightly different weights.
 */
const BASE_RATE = { a: 0.33, b: 0.98 } as const;

function skewedDataset(rows: number, seed: number): Dataset {
  const rng = seededRng(seed);
  const width = SAMPLE_FEATURES.length;
  const features = new Float32Array(rows * width);
  const labels = new Float64Array(rows);
  const gender: string[] = [];
  for (let r = 0; r < rows; r++) {
    const g = rng.uniform() < 0.5 ? 'a' : 'b';
    const y = rng.uniform() < BASE_RATE[g] ? 1 : 0;
    gender.push(g);
    labels[r] = y;
    for (let f = 0; f < width; f++) features[r * width + f] = rng.normal();
    features[r * width] = (y === 1 ? 1.5 : -1.5) + rng.normal();
    features[r * width + width - 1] = (g === 'a' ? 1.5 : -1.5) + 0.5 * rng.normal();
  }
  return {
    featureNames: SAMPLE_FEATURES,
    rows,
    features,
    labelName: 'is_fraud',
    labels,
    sensitive: { gender },
  };
}

const weights = (f0: number, proxy: number, noise = 0): number[] =>
  SAMPLE_FEATURES.map((_, i) => (i === 0 ? f0 : i === SAMPLE_FEATURES.length - 1 ? proxy : noise));
const MODELS = {
  champion: weights(2, 0),
  lessFair: weights(2, -1),
  asFair: weights(2.1, 0, 0.02),
};

const FAIRNESS = {
  minGroupSize: 30,
  checks: [
    { metric: 'demographic_parity_ratio', maxDropVsChampion: 0.02, confidence: 0.95 },
    { metric: 'equalized_odds_difference', maxRiseVsChampion: 0.05 },
  ],
} as const;

describe('promotion workflow – fairness relative to the champion', () => {
  let h: Harness;
  let datasetPath: string;

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
    datasetPath = join(h.dir, 'skewed-base-rates.csv');
    await writeDatasetCsv(skewedDataset(2000, 23), datasetPath);
  });
  afterAll(async () => {
    await h?.close();
  });

  const register = async (model: string, w: number[], alias?: string): Promise<string> =>
    (
      await registerOnnxModel(h.mlflow, {
        name: model,
        onnxBytes: buildLogisticModel({ weights: w, bias: 0 }),
        ...(alias ? { alias } : {}),
      })
    ).version;

  function spec(model: string, fairness: unknown = FAIRNESS): PromotionSpecInput {
    const base = sampleSpec(model);
    return sampleSpec(model, {
      evaluation: { ...base.evaluation, dataset: datasetPath },
      gates: { performance: [], fairness } as PromotionSpecInput['gates'],
    });
  }

  async function promote(model: string, version: string, s = spec(model)): Promise<PromotionState> {
    const { handle } = await startPromotion(
      h.client,
      h.input(s, version, { kind: 'file', path: datasetPath }),
      h.taskQueue,
    );
    return handle.result();
  }

  const fairnessOf = (state: PromotionState): GateVerdict => {
    const gate = state.gates.find((g) => g.gate === 'fairness');
    if (gate === undefined) throw new Error(`no fairness gate in ${JSON.stringify(state.gates)}`);
    return gate;
  };

  it('rejects a candidate less fair than the champion, naming the metric, the CI and the margin', async () => {
    const model = uniqueModel('fair-less');
    const champion = await register(model, MODELS.champion, 'champion');
    const v = await register(model, MODELS.lessFair);
    const state = await promote(model, v);
    expect(state.outcome).toBe('rejected');
    const gate = fairnessOf(state);
    expect(gate.status).toBe('failed');
    const dp = gate.checks.find((c) => c.metric === 'demographic_parity_ratio');
    expect(dp?.status).toBe('failed');
    expect(dp?.threshold).toBe(-0.02);
    expect(dp?.interval?.confidence).toBe(0.95);
    expect(dp?.interval?.lower).toBeLessThan(-0.02);
    expect(dp?.message).toMatch(
      /demographic_parity_ratio\[gender\] may be less fair than the champion by more than the margin 0\.02 .*95% CI -[\d.]+…-[\d.]+; the lower bound -[\d.]+ is below -0\.02/,
    );
    // Each group's size and base rate, so "don't make it less fair" can be argued on this data.
    const [table] = gate.groups ?? [];
    expect(table?.column).toBe('gender');
    const byGroup = new Map(table?.groups.map((g) => [g.group, g]));
    expect(byGroup.get('a')?.baseRate).toBeGreaterThan(0.28);
    expect(byGroup.get('a')?.baseRate).toBeLessThan(0.38);
    expect(byGroup.get('b')?.baseRate).toBeGreaterThan(0.95);
    expect((byGroup.get('a')?.rows ?? 0) + (byGroup.get('b')?.rows ?? 0)).toBe(2000);
    expect(byGroup.get('a')?.champion).toBeDefined();
    expect(table?.perfectClassifier?.demographicParityRatio).toBeLessThan(0.4);

    const mv = await h.mlflow.getModelVersion(model, v);
    expect(mv.tags[TAG.failedGate]).toBe('fairness');
    expect(mv.tags[TAG.reason]).toMatch(/demographic_parity_ratio\[gender\]/);
    expect((await h.mlflow.getModelVersionByAlias(model, 'champion')).version).toBe(champion);
    const reportPath = (mv.tags[TAG.report] ?? '').replace('mlflow-artifacts:/', '');
    const markdown = (await h.mlflow.downloadArtifact(reportPath)).toString('utf8');
    expect(markdown).toMatch(/base rate/i);
  });

  it('promotes a candidate as fair as the champion, where the four-fifths rule would reject both', async () => {
    const model = uniqueModel('fair-same');
    await register(model, MODELS.champion, 'champion');
    const v = await register(model, MODELS.asFair);
    const state = await promote(model, v);
    const gate = fairnessOf(state);
    expect(gate.checks.map((c) => [c.metric, c.status])).toEqual([
      ['demographic_parity_ratio', 'passed'],
      ['equalized_odds_difference', 'passed'],
    ]);
    expect(gate.checks[0]?.message).toMatch(/within the allowed drop of 0\.02 vs the champion/);
    expect(state.outcome).toBe('promoted');
  });

  it('applies the absolute four-fifths rule as before, and says even a perfect classifier misses it', async () => {
    const model = uniqueModel('fair-absolute');
    await register(model, MODELS.champion, 'champion');
    const v = await register(model, MODELS.asFair);
    const state = await promote(
      model,
      v,
      spec(model, { checks: [{ metric: 'demographic_parity_ratio', min: 0.8 }] }),
    );
    expect(state.outcome).toBe('rejected');
    const dp = fairnessOf(state).checks[0];
    expect(dp?.status).toBe('failed');
    expect(dp?.message).toMatch(
      /even a perfect classifier scores 0\.3\d+ here \(base rates a 0\.3\d+, b 0\.9\d+\)/,
    );
  });

  it('skips a relative check for a first model, saying so', async () => {
    const model = uniqueModel('fair-first');
    const v = await register(model, MODELS.asFair);
    const state = await promote(model, v);
    expect(state.outcome).toBe('promoted');
    const gate = fairnessOf(state);
    expect(gate.status).toBe('passed');
    expect(gate.summary).toMatch(/skipped: no champion/);
    expect(gate.checks[0]?.message).toMatch(/no champion \(first model\): comparison skipped/);
    expect(gate.groups?.[0]?.groups.map((g) => g.group)).toEqual(['a', 'b']);
  });
});
