import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/spec/load';
import { canaryStepKind, PromotionSpec, type PromotionSpecInput } from '../../src/spec/schema';
import { SpecError, type SpecProblem } from '../../src/spec/spec-error';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const minimal: PromotionSpecInput = {
  apiVersion: 'prograde/v1',
  model: 'fraud-detector',
  contract: {
    inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 3] }],
    outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
  },
  evaluation: { dataset: 'data/holdout.csv', label: 'is_fraud', features: ['f0', 'f1', 'f2'] },
};

/** Problems for a spec given as data: the YAML text of it goes through the real loader. */
function problemsOf(input: unknown): SpecProblem[] {
  try {
    parseSpec(JSON.stringify(input, null, 2), 'promotion.yaml');
  } catch (e) {
    if (e instanceof SpecError) return [...e.problems];
    throw e;
  }
  throw new Error('expected the spec to be rejected');
}

function messages(input: unknown): string[] {
  return problemsOf(input).map((p) => `${p.path}: ${p.message}`);
}

describe('promotion spec schema – defaults', () => {
  it('fills every default into a minimal spec', () => {
    const spec = PromotionSpec.parse(minimal);
    expect(spec).toStrictEqual({
      apiVersion: 'prograde/v1',
      model: 'fraud-detector',
      aliases: { champion: 'champion', candidate: 'challenger' },
      task: 'binary-classification',
      contract: minimal.contract,
      evaluation: {
        dataset: 'data/holdout.csv',
        label: 'is_fraud',
        features: ['f0', 'f1', 'f2'],
        sensitive: [],
        threshold: 0.5,
        seed: 42,
        bootstrapResamples: 1000,
      },
      gates: { performance: [] },
      approval: { required: false, approvers: [], timeout: 86_400_000, onTimeout: 'reject' },
      operators: [],
      identity: 'verified',
      rollback: { automatic: true, keepPreviousFor: 3_600_000 },
    });
  });

  it('fills shadow and canary analysis defaults, in milliseconds', () => {
    const spec = PromotionSpec.parse({ ...minimal, shadow: {}, canary: { steps: [{ setWeight: 20 }] } });
    expect(spec.shadow).toStrictEqual({
      sampleRate: 100,
      minRequests: 200,
      minDuration: 30_000,
      maxDuration: 600_000,
      checks: {
        minAgreement: 0.7,
        maxErrorRate: 0.01,
        skew: { maxPsiVsOwnHoldout: 0.25, maxExcessOverChampion: 0.2 },
      },
    });
    expect(spec.canary?.analysis).toStrictEqual({
      mode: 'sequential',
      interval: 5000,
      minSamples: 50,
      maxErrorRateIncrease: 0.01,
      errorRateAlpha: 0.05,
      latency: { alpha: 0.02, maxIncreaseRatio: 1.2, maxIncreaseMs: 0.5 },
      prediction: { maxPsi: 3, ksAlpha: 0.01 },
      onInconclusive: { extendBy: 30_000, maxExtensions: 3, then: 'fail' },
    });
  });

  it('defaults the target type to the gateway', () => {
    const spec = PromotionSpec.parse({ ...minimal, target: { url: 'http://127.0.0.1:8080' } });
    expect(spec.target).toStrictEqual({ type: 'gateway', url: 'http://127.0.0.1:8080' });
  });

  it('expands a feature range into column names', () => {
    const spec = PromotionSpec.parse({
      ...minimal,
      evaluation: { ...minimal.evaluation, features: { prefix: 'f', from: 0, to: 2 } },
    });
    expect(spec.evaluation.features).toEqual(['f0', 'f1', 'f2']);
  });
});

describe('promotion spec schema – workflow input', () => {
  it('survives JSON serialisation unchanged', () => {
    const text = readFileSync(path.join(__dirname, '../../examples/promotion.yaml'), 'utf8');
    const spec = parseSpec(text, 'promotion.yaml');
    expect(JSON.parse(JSON.stringify(spec))).toStrictEqual(spec);
  });

  it('resolves the approvers of a manual pause so the workflow need not', () => {
    const spec = PromotionSpec.parse({
      ...minimal,
      approval: { approvers: ['alice', 'bob'] },
      canary: {
        steps: [
          { setWeight: 10 },
          { pause: {} },
          { pause: { approvers: ['carol'] } },
          { pause: { duration: '1m' } },
        ],
      },
    });
    expect(spec.canary?.steps).toStrictEqual([
      { setWeight: 10 },
      { pause: { approvers: ['alice', 'bob'] } },
      { pause: { approvers: ['carol'] } },
      { pause: { duration: 60_000 } },
    ]);
    expect(spec.canary?.steps.map(canaryStepKind)).toEqual(['setWeight', 'pause', 'pause', 'pause']);
  });

  it('names each step kind', () => {
    const spec = PromotionSpec.parse({
      ...minimal,
      canary: { steps: [{ setWeight: 10 }, { bake: '30s' }, { analysis: { maxDuration: '2m' } }] },
    });
    expect(spec.canary?.steps.map(canaryStepKind)).toEqual(['setWeight', 'bake', 'analysis']);
    expect(spec.canary?.steps[2]).toStrictEqual({ analysis: { maxDuration: 120_000 } });
  });

  it('reads a bake as a fixed duration or as { min, max }', () => {
    const spec = PromotionSpec.parse({
      ...minimal,
      canary: { steps: [{ setWeight: 10 }, { bake: '30s' }, { bake: { min: '30s', max: '5m' } }] },
    });
    expect(spec.canary?.steps.slice(1)).toStrictEqual([{ bake: 30_000 }, { bake: 300_000, minBake: 30_000 }]);
    expect(spec.canary?.steps.map(canaryStepKind)).toEqual(['setWeight', 'bake', 'bake']);
    const bad = PromotionSpec.safeParse({
      ...minimal,
      canary: { steps: [{ setWeight: 10 }, { bake: { min: '5m', max: '30s' } }] },
    });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('min must not be longer than max');
  });
});

describe('promotion spec schema – rules across fields', () => {
  it('requires the exact apiVersion', () => {
    expect(messages({ ...minimal, apiVersion: 'prograde/v2' })).toEqual([
      "apiVersion: must be 'prograde/v1', got the text 'prograde/v2'",
    ]);
  });

  it('requires approvers when approval is required', () => {
    expect(messages({ ...minimal, approval: { required: true } })).toEqual([
      'approval.approvers: approval is required but no approvers are given',
    ]);
    expect(
      PromotionSpec.parse({ ...minimal, approval: { required: true, approvers: ['alice'] } }).approval
        .required,
    ).toBe(true);
  });

  it('rejects canary weights that decrease', () => {
    expect(
      messages({ ...minimal, canary: { steps: [{ setWeight: 50 }, { bake: '1s' }, { setWeight: 20 }] } }),
    ).toEqual([
      'canary.steps[2].setWeight: weight 20 is below the earlier weight 50 (steps[0]); weights may not decrease',
    ]);
  });

  it('caps the steps and extensions that would grow a canary history without bound', () => {
    const steps = Array.from({ length: 101 }, (_, i) => ({ setWeight: Math.min(100, i) }));
    expect(messages({ ...minimal, canary: { steps } })).toEqual(['canary.steps: at most 100 steps']);
    const analysis = { onInconclusive: { maxExtensions: 11 } };
    expect(messages({ ...minimal, canary: { steps: [{ setWeight: 10 }], analysis } })).toEqual([
      'canary.analysis.onInconclusive.maxExtensions: at most 10 extensions per step',
    ]);
  });

  it('requires at least one setWeight in a canary', () => {
    expect(messages({ ...minimal, canary: { steps: [{ bake: '10s' }] } })).toEqual([
      'canary.steps: a canary needs at least one setWeight step',
    ]);
  });

  it('requires each step to have exactly one known key', () => {
    expect(
      messages({ ...minimal, canary: { steps: [{ setWeight: 10, bake: '5s' }, { wait: '5s' }, {}] } }),
    ).toEqual([
      'canary.steps[0]: a step has exactly one key (setWeight, bake, pause, analysis); this one has 2: setWeight, bake',
      "canary.steps[1].wait: unknown step 'wait' (allowed: setWeight, bake, pause, analysis)",
      'canary.steps[2]: a step needs one key: setWeight, bake, pause, analysis',
    ]);
  });

  it('suggests the keys of every step shape for a key none of them knows', () => {
    expect(
      messages({ ...minimal, canary: { steps: [{ setWeight: 10 }, { pause: { duraton: '1m' } }] } }),
    ).toEqual(["canary.steps[1].pause.duraton: unknown key 'duraton' (allowed: duration, approvers)"]);
  });

  it('suggests the keys of every check shape when no shape fits', () => {
    expect(messages({ ...minimal, gates: { performance: [{ metric: 'xyz', foo: 1 }] } })).toEqual([
      "gates.performance[0].metric: 'xyz' is not one of: accuracy, precision, recall, f1, auc, log_loss, brier, rmse, mae",
      "gates.performance[0].foo: unknown key 'foo' (allowed: metric, maxDropVsChampion, confidence, maxRiseVsChampion, min, max)",
    ]);
  });

  it('requires someone to resume a manual pause', () => {
    expect(messages({ ...minimal, canary: { steps: [{ setWeight: 10 }, { pause: {} }] } })).toEqual([
      'canary.steps[1].pause: a manual pause needs someone to resume it; give pause.approvers, approval.approvers, or a duration',
    ]);
  });

  it('requires scoreOutput to name an output', () => {
    expect(messages({ ...minimal, contract: { ...minimal.contract, scoreOutput: 'label' } })).toEqual([
      "contract.scoreOutput: scoreOutput 'label' is not an output (outputs: probability)",
    ]);
  });

  it('rejects repeated names', () => {
    const tensor = { name: 'x', dtype: 'float32', shape: [-1, 3] };
    expect(
      messages({
        ...minimal,
        contract: { ...minimal.contract, inputs: [tensor, tensor] },
        evaluation: { ...minimal.evaluation, features: ['f0', 'f1', 'f0'], sensitive: ['g', 'g'] },
        approval: { approvers: ['alice', 'alice'] },
      }),
    ).toEqual([
      'contract.inputs[1]: prograde feeds the evaluation.features to one input tensor [N, k]; a model with 2 inputs cannot be gated: export it with one input (in skl2onnx, one initial_types entry for all feature columns)',
      "contract.inputs[1].name: tensor 'x' is listed more than once",
      "evaluation.features[2]: feature column 'f0' is listed more than once",
      "evaluation.sensitive[1]: sensitive column 'g' is listed more than once",
      "approval.approvers[1]: approver 'alice' is listed more than once",
    ]);
  });

  it('rejects a shadow that must end before it may', () => {
    expect(messages({ ...minimal, shadow: { minDuration: '5m', maxDuration: '1m' } })).toEqual([
      'shadow.maxDuration: maxDuration is shorter than minDuration',
    ]);
  });

  it('rejects a feature list that does not fit the model input', () => {
    expect(messages({ ...minimal, evaluation: { ...minimal.evaluation, features: ['f0', 'f1'] } })).toEqual([
      "evaluation.features: 2 feature columns are listed but contract input 'features' takes 3",
    ]);
  });

  it('rejects the label listed as a feature', () => {
    expect(
      messages({
        ...minimal,
        evaluation: { ...minimal.evaluation, label: 'f2', features: ['f0', 'f1', 'f2'] },
      }),
    ).toEqual(["evaluation.label: the label column 'f2' is also listed as a feature"]);
  });

  it('rejects metrics that do not fit the task', () => {
    expect(
      messages({ ...minimal, task: 'regression', gates: { performance: [{ metric: 'auc', min: 0.8 }] } }),
    ).toEqual(["gates.performance[0].metric: metric 'auc' does not apply to task regression"]);
    expect(
      PromotionSpec.parse({
        ...minimal,
        task: 'regression',
        gates: { performance: [{ metric: 'rmse', max: 3 }] },
      }).task,
    ).toBe('regression');
  });

  it('rejects dataset URIs MLflow cannot serve', () => {
    expect(
      messages({ ...minimal, evaluation: { ...minimal.evaluation, dataset: 's3://bucket/holdout.csv' } }),
    ).toEqual([
      "evaluation.dataset: 's3:' is not a supported dataset location; use a path relative to the spec or a mlflow-artifacts:, runs:, models: URI",
    ]);
  });

  it('rejects reserved or identical aliases', () => {
    expect(messages({ ...minimal, aliases: { champion: 'latest' } })).toEqual([
      "aliases.champion: 'latest' and v<number> are reserved by MLflow and cannot be aliases",
    ]);
    expect(messages({ ...minimal, aliases: { champion: 'prod', candidate: 'prod' } })).toEqual([
      'aliases.candidate: the champion and candidate aliases must differ',
    ]);
  });

  it('rejects a canary analysis tick faster than a second', () => {
    expect(
      messages({ ...minimal, canary: { steps: [{ setWeight: 5 }], analysis: { interval: '500ms' } } }),
    ).toEqual(['canary.analysis.interval: must be at least 1s']);
  });

  it('reports problems in several sections at once', () => {
    const paths = problemsOf({
      ...minimal,
      evaluation: { ...minimal.evaluation, threshold: 2 },
      gates: { fairness: { checks: [{ metric: 'demographic_parity_ratio', min: 0.8 }] } },
      shadow: { sampleRate: -1 },
    }).map((p) => p.path);
    expect(paths).toEqual(['evaluation.threshold', 'gates.fairness', 'shadow.sampleRate']);
  });
});
