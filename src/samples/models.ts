import { buildLogisticModel, type LogisticModelOptions } from '../onnx/build';
import { type TensorSpec } from '../onnx/tensor-spec';
import { SAMPLE_FEATURES, TRUE_BIAS, TRUE_WEIGHTS } from './datasets';
import { seededRng } from './rng';

export { SAMPLE_FEATURES, SAMPLE_LABEL, SAMPLE_SENSITIVE } from './datasets';

/**
 * Sample model versions for demos and tests, each good or broken in one known way against
 * `sampleDataset` (properties asserted in test/unit/samples-models.test.ts):
 *
 * - good            ≈ the true weights: AUC ≥ 0.80, demographic parity ratio > 0.85
 * - previous        last quarter's model: f0 and f1 at 60 % strength; slightly lower AUC than good,
 *                   agreeing with it on most decisions (the demo's first champion)
 * - regressed       drops the strongest feature (f0): AUC at least 0.05 below good
 * - biased          good plus weight on f11 (a gender proxy, no signal): parity ratio < 0.6
 * - slow            good plus a chain of hidden MatMuls multiplied by 0: same scores, far more compute
 * - nan             good, but NaN for rows with f0 > NAN_CUTOFF (≈0.6 % of N(0,1) rows)
 * - wrong-signature input named `input`, 13 features wide
 * - corrupt         a truncated ModelProto that neither protobuf nor ORT can decode
 * - opset-too-new   good, stamped with ai.onnx opset 99
 */
export type ModelVariant =
  | 'good'
  | 'previous'
  | 'regressed'
  | 'biased'
  | 'slow'
  | 'nan'
  | 'wrong-signature'
  | 'corrupt'
  | 'opset-too-new';

export const MODEL_VARIANTS: readonly ModelVariant[] = [
  'good',
  'previous',
  'regressed',
  'biased',
  'slow',
  'nan',
  'wrong-signature',
  'corrupt',
  'opset-too-new',
];

/** The serving contract every well-formed sample model meets. */
export const SAMPLE_CONTRACT: {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
} = {
  inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }],
  outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
};

export const NAN_CUTOFF = 2.5;
export const BIASED_PROXY_WEIGHT = 0.25;
export const SLOW_EXTRA_COMPUTE = { layers: 8, width: 256 } as const;
export const OPSET_TOO_NEW = 99;
/** Strength the `previous` model gives its two strongest features. */
const PREVIOUS_STRENGTH = 0.6;
/** Feature indices the `regressed` model ignores (the strongest one). */
const REGRESSED_DROPPED = [0];
/** Standard deviation of the per-seed weight jitter. */
const SEED_JITTER = 0.02;

export interface SampleModelOptions {
  /**
   * Omitted: exactly the variant's weights. Given: every weight gets a small deterministic jitter,
   * so two seeds give two distinct artifacts of (nearly) the same quality — a champion and a candidate.
   */
  readonly seed?: number;
}

function jittered(weights: readonly number[], seed: number | undefined): number[] {
  if (seed === undefined) return [...weights];
  const rng = seededRng(seed);
  return weights.map((w) => w + SEED_JITTER * rng.normal());
}

function variantOptions(
  variant: Exclude<ModelVariant, 'corrupt'>,
  seed: number | undefined,
): LogisticModelOptions {
  const good = jittered(TRUE_WEIGHTS, seed);
  const base = { weights: good, bias: TRUE_BIAS, producerVersion: `sample-${variant}` };
  switch (variant) {
    case 'good':
      return base;
    case 'previous':
      return { ...base, weights: good.map((w, i) => (i <= 1 ? w * PREVIOUS_STRENGTH : w)) };
    case 'regressed':
      return { ...base, weights: good.map((w, i) => (REGRESSED_DROPPED.includes(i) ? 0 : w)) };
    case 'biased':
      return {
        ...base,
        weights: good.map((w, i) => (i === SAMPLE_FEATURES.length - 1 ? BIASED_PROXY_WEIGHT : w)),
      };
    case 'slow':
      return { ...base, extraCompute: SLOW_EXTRA_COMPUTE };
    case 'nan':
      return { ...base, nanAbove: { feature: 0, cutoff: NAN_CUTOFF } };
    case 'wrong-signature':
      return { ...base, inputName: 'input', weights: [...good, 0] };
    case 'opset-too-new':
      return { ...base, opset: OPSET_TOO_NEW };
  }
}

/** The bytes of one sample model version. */
export function sampleModel(variant: ModelVariant, options: SampleModelOptions = {}): Uint8Array {
  if (variant === 'corrupt') {
    // A truncated upload: the cut lands inside the graph field, whose declared length then runs
    // past the end of the buffer.
    const whole = buildLogisticModel(variantOptions('good', options.seed));
    return whole.slice(0, Math.floor(whole.length / 2));
  }
  return buildLogisticModel(variantOptions(variant, options.seed));
}
