import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { buildLogisticModel } from '../../src/onnx/build';
import type { ModelSource } from '../../src/serving/model-source';
import { InlineLane } from '../../src/serving/inline-lane';
import { fromNumbers, type Tensor } from '../../src/serving/tensors';
import { VersionHost } from '../../src/serving/version-host';
import { InlineSession } from '../../src/serving/worker/inline-runner';
import type { ModelSignature } from '../../src/serving/worker/messages';
import { WorkerPool } from '../../src/serving/worker/worker-pool';

const dir = mkdtempSync(path.join(tmpdir(), 'prograde-inline-'));
const modelPath = path.join(dir, 'model.onnx');
const bytes = buildLogisticModel({ weights: [1, -1], bias: 0 });
writeFileSync(modelPath, bytes);
const signature: ModelSignature = {
  inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 2] }],
  outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
};
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

function rowsOf(rows: readonly (readonly number[])[]): Tensor[] {
  return [
    { name: 'features', dtype: 'float32', dims: [rows.length, 2], data: Float32Array.from(rows.flat()) },
  ];
}

describe('inline session – inference on the event loop within a bound', () => {
  it('opens, calibrates and runs a small model; the row bound follows the measured cost', async () => {
    const session = await InlineSession.open({ onnxPath: modelPath }, signature, {
      maxBlockMs: 1,
      maxModelBytes: 1 << 20,
    });
    if (!session) throw new Error('a tiny model within every bound got no inline session');
    expect(session.fixedMs).toBeGreaterThan(0);
    expect(session.fixedMs).toBeLessThanOrEqual(1);
    // The rows one run may hold are those whose estimate fits the bound.
    const maxRows = session.maxRows();
    expect(maxRows).toBeGreaterThanOrEqual(1);
    expect(session.estimateMs(maxRows)).toBeLessThanOrEqual(1);
    if (maxRows < 4096) expect(session.estimateMs(maxRows + 1)).toBeGreaterThan(1);
    const [out] = session.runNow(rowsOf([[2, 0.5]]));
    expect(out?.dims).toEqual([1, 1]);
    expect((out?.data as Float32Array)[0]).toBeCloseTo(sigmoid(1.5), 5);
    // Each run's outputs are its own: a later run leaves an earlier answer as it was.
    session.runNow(rowsOf([[-3, 0]]));
    expect((out?.data as Float32Array)[0]).toBeCloseTo(sigmoid(1.5), 5);
    await session.close();
  });

  it('runs a lone request at once; what comes after it in the same turn shares one run at the end of the turn', async () => {
    const session = await InlineSession.open({ bytes }, signature, { maxBlockMs: 1, maxModelBytes: 1 << 20 });
    if (!session) throw new Error('no inline session');
    const lane = new InlineLane(session);
    const first = lane.runNow(rowsOf([[5, 0]]));
    expect((first?.[0]?.data as Float32Array)[0]).toBeCloseTo(sigmoid(5), 5);
    // The same turn: the lane has had its run, so the rest waits and batches.
    expect(lane.runNow(rowsOf([[6, 0]]))).toBeUndefined();
    const order: number[] = [];
    const runs = [0, 1, 2, 3].map((i) =>
      lane.submit(rowsOf(Array.from({ length: i + 1 }, () => [i, 0])), i + 1).then((o) => {
        order.push(i);
        expect(o[0]?.dims).toEqual([i + 1, 1]);
        return Array.from(o[0]?.data as Float32Array);
      }),
    );
    const values = await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3]);
    values.forEach((v, i) => v.forEach((x) => expect(x).toBeCloseTo(sigmoid(i), 5)));
    // Under load the lane stays armed (every request batches) until a turn passes with nothing waiting.
    expect(lane.runNow(rowsOf([[1, 0]]))).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(lane.runNow(rowsOf([[1, 0]]))).toBeDefined();
    await session.close();
  });

  it('hands a batch worth the hop to an idle thread, and runs it itself when no thread is idle', async () => {
    const session = await InlineSession.open({ bytes }, signature, { maxBlockMs: 1, maxModelBytes: 1 << 20 });
    if (!session) throw new Error('no inline session');
    const spilled: number[] = [];
    let idle = true;
    const lane = (minMs: number): InlineLane =>
      new InlineLane(session, {
        minMs,
        idle: () => idle,
        // A stand-in thread that answers with the session's own run, a turn later.
        run: async (inputs, rows) => {
          spilled.push(rows);
          await new Promise((r) => setImmediate(r));
          return session.runNow(inputs);
        },
      });
    const batch = async (l: InlineLane): Promise<number[][]> => {
      expect(l.runNow(rowsOf([[9, 0]]))).toBeDefined(); // the turn's run at once never spills
      const outs = await Promise.all(
        [0, 1, 2].map((i) => l.submit(rowsOf(Array.from({ length: i + 1 }, () => [i, 0])), i + 1)),
      );
      await new Promise((r) => setImmediate(r));
      return outs.map((o) => Array.from(o[0]?.data as Float32Array));
    };
    const check = (values: number[][]): void =>
      values.forEach((v, i) => {
        expect(v).toHaveLength(i + 1);
        v.forEach((x) => expect(x).toBeCloseTo(sigmoid(i), 5));
      });

    check(await batch(lane(0)));
    expect(spilled).toEqual([6]); // the three requests' rows, one batch, each given its own back
    idle = false;
    check(await batch(lane(0)));
    expect(spilled).toEqual([6]);
    idle = true;
    check(await batch(lane(Infinity))); // below the threshold: cheaper on the loop than the hop
    expect(spilled).toEqual([6]);
    await session.close();
  });

  it('rejects every request of a spilled batch whose thread failed', async () => {
    const session = await InlineSession.open({ bytes }, signature, { maxBlockMs: 1, maxModelBytes: 1 << 20 });
    if (!session) throw new Error('no inline session');
    const lane = new InlineLane(session, {
      minMs: 0,
      idle: () => true,
      run: () => Promise.reject(new Error('thread crashed twice')),
    });
    expect(lane.runNow(rowsOf([[1, 0]]))).toBeDefined();
    const results = await Promise.allSettled([
      lane.submit(rowsOf([[1, 0]]), 1),
      lane.submit(rowsOf([[2, 0]]), 1),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await session.close();
  });

  it('lets an estimate raised by a contended moment come back down while its requests are refused', async () => {
    const session = await InlineSession.open({ bytes }, signature, { maxBlockMs: 1, maxModelBytes: 1 << 20 });
    if (!session) throw new Error('no inline session');
    const rows = Math.max(2, Math.floor(session.maxRows() / 2));
    expect(session.fits(rows)).toBe(true);
    // As if recent runs here had taken twice the bound, e.g. beside a run on a thread. The factor comes
    // from this machine's calibration: a fast one caps maxRows() at 4096, where even the drift's cap of
    // 50 may leave the estimate of `rows` under 1 ms (CI under load saw that).
    const drift = 2 / session.estimateMs(rows); // twice maxBlockMs (1 ms)
    (session as unknown as { drift: number }).drift = drift;
    expect(session.estimateMs(rows)).toBeGreaterThan(1);
    expect(session.fits(rows)).toBe(false);
    // Requests of this size no longer run here, so none of their runs could correct the estimate:
    // each refusal moves it back 1 % of the way, and within a few hundred requests they fit again.
    let refused = 1;
    while (!session.fits(rows) && refused < 1000) refused++;
    expect(refused).toBeLessThan(1000);
    expect(session.fits(rows)).toBe(true);
    // More rows than any run may hold never fit, whatever the estimate.
    expect(session.fits(5000)).toBe(false);
    await session.close();
  });

  it('gives no session when it is off, when the model is too big, or when one row already costs more than the bound', async () => {
    const options = { maxBlockMs: 1, maxModelBytes: 1 << 20 };
    expect(await InlineSession.open({ bytes }, signature, { ...options, maxBlockMs: 0 })).toBeUndefined();
    expect(await InlineSession.open({ bytes }, signature, { ...options, maxModelBytes: 10 })).toBeUndefined();
    // The whole folder counts (external weights live beside model.onnx).
    const big = mkdtempSync(path.join(tmpdir(), 'prograde-inline-big-'));
    writeFileSync(path.join(big, 'model.onnx'), bytes);
    writeFileSync(path.join(big, 'weights.bin'), Buffer.alloc(4096));
    expect(
      await InlineSession.open({ onnxPath: path.join(big, 'model.onnx') }, signature, {
        ...options,
        maxModelBytes: bytes.byteLength + 100,
      }),
    ).toBeUndefined();
    expect(await InlineSession.open({ bytes }, signature, { ...options, maxBlockMs: 1e-6 })).toBeUndefined();
  });
});

describe('version host – small requests inline, the rest on the threads', () => {
  const pool = new WorkerPool({
    size: 1,
    intraOpNumThreads: 1,
    warmupRuns: 1,
    logger: pino({ level: 'silent' }),
  });
  const source: ModelSource = {
    description: 'test',
    load: () => Promise.resolve({ onnxPath: modelPath, sha256: 'x' }),
  } as unknown as ModelSource;
  afterAll(() => pool.close());

  const tensor = (rows: number): Tensor => ({
    name: 'features',
    dtype: 'float32',
    dims: [rows, 2],
    data: fromNumbers(
      'float32',
      Array.from({ length: rows * 2 }, (_, i) => (i % 2 === 0 ? i / 100 : 0)),
    ),
  });

  it('answers alike on both paths, and only the shadow-like host (no inline options) never has a session', async () => {
    const batching = { maxBatchSize: 64, maxWaitMs: 2, maxConcurrentRuns: 1 };
    const inlineHost = new VersionHost(pool, source, batching, pino({ level: 'silent' }), {
      maxBlockMs: 1,
      maxModelBytes: 1 << 20,
      spillMinMs: Infinity,
    });
    const threadHost = new VersionHost(pool, source, batching, pino({ level: 'silent' }));
    const a = await inlineHost.ensure('m', '1');
    const b = await threadHost.ensure('m', '2');
    expect(a.inlineEstimateMs).toBeDefined();
    expect(b.inlineEstimateMs).toBeUndefined();
    for (const rows of [1, 3, 50]) {
      const [x] = await a.infer([tensor(rows)], rows);
      const [y] = await b.infer([tensor(rows)], rows);
      expect(x?.dims).toEqual([rows, 1]);
      expect(Array.from((x?.data ?? []) as ArrayLike<number>)).toEqual(
        Array.from((y?.data ?? []) as ArrayLike<number>),
      );
    }
    // Concurrent small requests share inline runs and each still gets its own rows back.
    const many = await Promise.all([1, 2, 3, 4, 5].map((r) => a.infer([tensor(r)], r)));
    many.forEach((out, i) => expect(out[0]?.dims).toEqual([i + 1, 1]));
    await inlineHost.unload('m', '1');
    await threadHost.unload('m', '2');
  });

  it('sends batches to an idle inference thread when told to, with the same answers', async () => {
    const batching = { maxBatchSize: 64, maxWaitMs: 2, maxConcurrentRuns: 1 };
    const spilling = new VersionHost(pool, source, batching, pino({ level: 'silent' }), {
      maxBlockMs: 1,
      maxModelBytes: 1 << 20,
      spillMinMs: 0,
    });
    const threadHost = new VersionHost(pool, source, batching, pino({ level: 'silent' }));
    const a = await spilling.ensure('m', '3');
    const b = await threadHost.ensure('m', '4');
    const sizes = [1, 2, 3, 4, 5, 40];
    const runs = vi.spyOn(pool, 'run');
    const many = await Promise.all(sizes.map((r) => a.infer([tensor(r)], r)));
    // All six arrived in one turn: one batch of their 55 rows, run on the idle thread.
    expect(runs.mock.calls.map(([, feeds]) => feeds[0]?.dims)).toEqual([[55, 2]]);
    runs.mockRestore();
    const expected = await Promise.all(sizes.map((r) => b.infer([tensor(r)], r)));
    many.forEach((out, i) => {
      expect(out[0]?.dims).toEqual([sizes[i], 1]);
      expect(Array.from(out[0]?.data as Float32Array)).toEqual(
        Array.from(expected[i]?.[0]?.data as Float32Array),
      );
    });
    await spilling.unload('m', '3');
    await threadHost.unload('m', '4');
  });
});
