import type { PromotionSpecInput } from '../../src/spec/schema';

/**
 * Specs the tests (and the history recorder) promote with. Kept free of vitest imports so that
 * plain scripts such as test/fixtures/histories/record.ts can use them too.
 */

/**
 * The smallest valid promotion.yaml (11 lines, no gates): spec tests splice one mistake into it so that
 * each problem is seen alone, at a line they can predict.
 */
export const MINIMAL_SPEC_YAML = `apiVersion: prograde/v1
model: fraud-detector
contract:
  inputs:
    - { name: features, dtype: float32, shape: [-1, 3] }
  outputs:
    - { name: probability, dtype: float32, shape: [-1, 1] }
evaluation:
  dataset: data/holdout.csv
  label: is_fraud
  features: [f0, f1, f2]
`;

/** The sample spec of the fraud-detector demo, with per-test overrides. */
export function sampleSpec(model: string, overrides: Partial<PromotionSpecInput> = {}): PromotionSpecInput {
  return {
    apiVersion: 'prograde/v1',
    model,
    contract: {
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }],
      outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
      maxModelSize: '10MB',
    },
    evaluation: {
      dataset: 'holdout.csv',
      label: 'is_fraud',
      features: { prefix: 'f', from: 0, to: 11 },
      sensitive: ['gender'],
      bootstrapResamples: 300,
    },
    gates: {
      performance: [
        { metric: 'auc', min: 0.75 },
        { metric: 'auc', maxDropVsChampion: 0.02 },
        { metric: 'log_loss', maxRiseVsChampion: 0.05 },
      ],
      fairness: {
        minGroupSize: 30,
        checks: [
          { metric: 'demographic_parity_ratio', min: 0.8 },
          { metric: 'equalized_odds_difference', max: 0.15 },
        ],
      },
      // Loose on purpose: on a loaded 2-core CI machine a p99 can reach seconds. The latency gate's
      // logic is unit-tested; here it only has to run and record its evidence.
      latency: { batchSize: 1, warmup: 10, iterations: 50, p99: '5s', maxRatioVsChampion: 1000 },
    },
    // Tests not about identity decide with typed names; the signed path is tested on its own
    // (test/integration/signed-decisions.test.ts, test/workflow/identity.test.ts), which overrides these.
    identity: 'unverified',
    operators: ['alice', 'bob'],
    ...overrides,
  };
}

export interface LiveSpecOptions {
  readonly shadow?: boolean;
  readonly bake?: string;
  readonly weights?: readonly number[];
  readonly automatic?: boolean;
  readonly minSamples?: number;
  /** Inconclusive-bake extensions: `extendBy` each, up to `maxExtensions` (default 3s, 2). */
  readonly extendBy?: string;
  readonly maxExtensions?: number;
}

/** Short live phases for tests: shadow, then setWeight/bake pairs, analysis every second. */
export function liveSpec(model: string, gatewayUrl: string, o: LiveSpecOptions = {}): PromotionSpecInput {
  const weights = o.weights ?? [20, 50, 80];
  return sampleSpec(model, {
    gates: { performance: [{ metric: 'auc', min: 0.7 }] },
    ...(o.shadow === false
      ? {}
      : {
          shadow: {
            sampleRate: 100,
            minRequests: 60,
            minDuration: '2s',
            maxDuration: '60s',
            checks: { minAgreement: 0.9 },
          },
        }),
    canary: {
      steps: weights.flatMap((w) => [{ setWeight: w }, { bake: o.bake ?? '3s' }]),
      analysis: {
        interval: '1s',
        minSamples: o.minSamples ?? 20,
        // Every healthy promotion in the suite risks a chance rollback at these levels; at the
        // defaults (2 % latency, 1 % drift per canary) a dozen of them fail a CI run about once in
        // ten. The failures the tests provoke (NaN rates, slow models) have p-values far below this.
        latency: { alpha: 1e-4 },
        prediction: { ksAlpha: 1e-4 },
        onInconclusive: { extendBy: o.extendBy ?? '3s', maxExtensions: o.maxExtensions ?? 2, then: 'fail' },
      },
    },
    approval: { required: false, approvers: ['alice', 'bob'] },
    rollback: { automatic: o.automatic ?? true, keepPreviousFor: '2s' },
    target: { type: 'gateway', url: gatewayUrl, tokenEnv: 'PROGRADE_GATEWAY_TOKEN' },
  });
}
