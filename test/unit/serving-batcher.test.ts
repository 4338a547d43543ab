import { describe, expect, it } from 'vitest';
import { MicroBatcher, type RunBatch } from '../../src/serving/batcher';
import type { Tensor } from '../../src/serving/tensors';
import type { WireTensor } from '../../src/serving/worker/messages';

/** A stand-in for the worker pool that doubles its input and records the batch sizes it was given. */
function doubler(): { run: RunBatch; batches: number[] } {
  const batches: number[] = [];
  const run: RunBatch = (feeds) => {
    const f = feeds[0] as WireTensor;
    batches.push(f.dims[0] as number);
    const out = new Float32Array(f.buffer).map((v) => v * 2);
    return Promise.resolve([{ name: 'y', dtype: 'float32', dims: f.dims, buffer: out.buffer }]);
  };
  return { run, batches };
}

const input = (values: number[]): Tensor => ({
  name: 'x',
  dtype: 'float32',
  dims: [values.length, 1],
  data: new Float32Array(values),
});

describe('micro-batching', () => {
  it('concatenates concurrent requests into one run and splits the outputs back in order', async () => {
    const { run, batches } = doubler();
    const batcher = new MicroBatcher(run, ['y'], { maxBatchSize: 100, maxWaitMs: 5 });
    const results = await Promise.all([
      batcher.submit([input([1])], 1),
      batcher.submit([input([2, 3])], 2),
      batcher.submit([input([4])], 1),
    ]);
    expect(batches).toEqual([4]);
    expect(results.map((r) => Array.from(r[0]?.data as Float32Array))).toEqual([[2], [4, 6], [8]]);
    expect(results[1]?.[0]?.dims).toEqual([2, 1]);
  });

  it('runs as soon as maxBatchSize rows are queued, and a big request alone', async () => {
    const { run, batches } = doubler();
    const batcher = new MicroBatcher(run, ['y'], { maxBatchSize: 2, maxWaitMs: 10_000 });
    await Promise.all([
      batcher.submit([input([1])], 1),
      batcher.submit([input([2])], 1),
      batcher.submit([input([3, 4, 5])], 3),
    ]);
    expect(batches).toEqual([2, 3]);
  });

  it('runs at once while inference is idle, and batches what arrives while runs are in flight', async () => {
    const sizes: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const idleFirst = new MicroBatcher(
      async (feeds) => {
        sizes.push(feeds[0]?.dims[0] ?? 0);
        await gate;
        return feeds.map((f) => ({ ...f, name: 'y' }));
      },
      ['y'],
      { maxBatchSize: 64, maxWaitMs: 10_000, maxConcurrentRuns: 1 },
    );
    const first = idleFirst.submit([input([1])], 1);
    const queued = [idleFirst.submit([input([2])], 1), idleFirst.submit([input([3])], 1)];
    expect(sizes).toEqual([1]); // the first ran without waiting 10 s for company
    release();
    await Promise.all([first, ...queued]);
    expect(sizes).toEqual([1, 2]); // the two that queued behind it ran together as soon as it finished
  });

  it('fails every request of a batch whose run fails', async () => {
    const batcher = new MicroBatcher(() => Promise.reject(new Error('boom')), ['y'], {
      maxBatchSize: 10,
      maxWaitMs: 1,
    });
    const results = await Promise.allSettled([
      batcher.submit([input([1])], 1),
      batcher.submit([input([2])], 1),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('refuses an output that does not have one row per input row', async () => {
    const run: RunBatch = () =>
      Promise.resolve([{ name: 'y', dtype: 'float32', dims: [1], buffer: new Float32Array([1]).buffer }]);
    const batcher = new MicroBatcher(run, ['y'], { maxBatchSize: 10, maxWaitMs: 1 });
    await expect(batcher.submit([input([1, 2])], 2)).rejects.toMatchObject({
      code: 'SERVING_OUTPUT_NOT_BATCHED',
    });
  });
});
