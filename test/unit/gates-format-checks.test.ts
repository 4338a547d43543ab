import { describe, expect, it } from 'vitest';
import {
  CONTRACT,
  signatureChecks,
  smokeScoresCheck,
  type SignatureReference,
} from '../../src/gates/format-checks';
import type { TensorSpec } from '../../src/onnx/tensor-spec';

/** The format gate's judging on plain values: no file, no onnxruntime session. */

const x: TensorSpec = { name: 'x', dtype: 'float32', shape: [-1, 4] };

describe('format checks – signatures against a reference', () => {
  it('names checks and metrics from the reference, not from its display label', () => {
    const described: SignatureReference = {
      label: 'the contract',
      checkPrefix: 'described ',
      metricPrefix: 'described_',
      fixedMustMatch: false,
    };
    const [check] = signatureChecks({
      kind: 'input',
      model: [{ name: 'x', dtype: 'float32', shape: [-1, -1] } satisfies TensorSpec],
      unsupported: [],
      expected: [x],
      reference: described,
      extrasAllowed: false,
    });
    expect(check).toMatchObject({ name: "described input 'x'", metric: 'described_input_signature' });
    // A free dim in the model matches a fixed one only when the reference does not fix dims.
    expect(check?.status).toBe('passed');
    const [strict] = signatureChecks({
      kind: 'input',
      model: [{ name: 'x', dtype: 'float32', shape: [-1, -1] } satisfies TensorSpec],
      unsupported: [],
      expected: [x],
      reference: CONTRACT,
      extrasAllowed: false,
    });
    expect(strict).toMatchObject({ name: "input 'x'", metric: 'input_signature', status: 'failed' });
    expect(strict?.message).toBe("input 'x' has shape [-1,-1] but the contract says [-1,4]");
  });

  it('refuses extra tensors unless extras are allowed, and appends the hint to a missing one', () => {
    const model: TensorSpec[] = [x, { name: 'y', dtype: 'float32', shape: [-1] }];
    const strict = signatureChecks({
      kind: 'output',
      model,
      unsupported: [],
      expected: [x],
      reference: CONTRACT,
      extrasAllowed: false,
    });
    expect(strict.map((c) => c.status)).toEqual(['passed', 'failed']);
    expect(
      signatureChecks({
        kind: 'output',
        model,
        unsupported: [],
        expected: [x],
        reference: CONTRACT,
        extrasAllowed: true,
      }),
    ).toHaveLength(1);
    const [missing] = signatureChecks({
      kind: 'output',
      model: [],
      unsupported: [],
      expected: [x],
      reference: CONTRACT,
      extrasAllowed: true,
      hint: '; see the docs',
    });
    expect(missing?.message).toBe("the model has no output 'x' (it has none); see the docs");
  });
});

describe('format checks – smoke scores', () => {
  it('counts non-finite scores, and out-of-range ones only for a classifier', () => {
    const scores = Float32Array.from([0.5, Number.NaN, 2]);
    const classifier = smokeScoresCheck({ scores, rows: 3, task: 'classification', scoreOutput: 'p' });
    expect(classifier).toMatchObject({ status: 'failed', value: 2, sampleSize: 3 });
    expect(classifier.message).toBe(
      "of 3 smoke scores from 'p', 1 are NaN or infinite and 1 are outside [0,1]",
    );
    expect(smokeScoresCheck({ scores, rows: 3, task: 'regression', scoreOutput: 'p' })).toMatchObject({
      status: 'failed',
      value: 1,
    });
    expect(
      smokeScoresCheck({
        scores: Float32Array.from([0, 1]),
        rows: 2,
        task: 'classification',
        scoreOutput: 'p',
      }).status,
    ).toBe('passed');
  });
});
