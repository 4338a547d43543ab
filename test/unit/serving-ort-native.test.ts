import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildLogisticModel } from '../../src/onnx/build';
import { NativeOrtSession } from '../../src/serving/worker/ort-native';

/**
 * The inline runner calls onnxruntime-node's internal native binding directly (ort-native.ts). These
 * tests pin what it relies on, so an upgrade of onnxruntime-node that changes the binding fails here
 * rather than silently sending every request to the threads.
 */
const bytes = buildLogisticModel({ weights: [1, -1], bias: 0.5 });
const options: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
};

describe('native ORT session – synchronous runs on the calling thread', () => {
  it('answers synchronously what the public asynchronous API answers', async () => {
    const native = NativeOrtSession.open({ bytes }, options, ['probability']);
    const pub = await ort.InferenceSession.create(bytes, options);
    const rows = Float32Array.from([2, 0.5, -1, 3, 0, 0]);
    const feeds = { features: new ort.Tensor('float32', rows, [3, 2]) };
    const now = native.run(feeds);
    const later = await pub.run(feeds, ['probability']);
    expect(now.probability?.type).toBe('float32');
    expect(now.probability?.dims).toEqual(later.probability?.dims);
    expect(Array.from(now.probability?.data as Float32Array)).toEqual(
      Array.from(later.probability?.data as Float32Array),
    );
    // Each run's output is its own buffer: the next run does not overwrite an earlier answer.
    const first = Array.from(now.probability?.data as Float32Array);
    native.run({ features: new ort.Tensor('float32', Float32Array.from([9, 9, 9, 9, 9, 9]), [3, 2]) });
    expect(Array.from(now.probability?.data as Float32Array)).toEqual(first);
    native.release();
    await pub.release();
  });

  it('throws ORT errors from run as they are, and refuses an output the model lacks', () => {
    const native = NativeOrtSession.open({ bytes }, options, ['probability']);
    expect(() => native.run({ features: new ort.Tensor('float32', new Float32Array(3), [1, 3]) })).toThrow();
    native.release();
    expect(() => NativeOrtSession.open({ bytes }, options, ['nope'])).toThrow(/no output 'nope'/);
  });
});
