import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLogisticModel } from '../../src/onnx/build';
import type { Worker } from 'node:worker_threads';
import type { WireTensor } from '../../src/serving/worker/messages';
import { restartDelayMs, spawnInferenceWorker, WorkerPool } from '../../src/serving/worker/worker-pool';

const dir = mkdtempSync(path.join(tmpdir(), 'prograde-pool-'));
const modelPath = path.join(dir, 'model.onnx');
writeFileSync(modelPath, buildLogisticModel({ weights: [1, -1], bias: 0 }));
const pool = new WorkerPool({
  size: 2,
  intraOpNumThreads: 1,
  warmupRuns: 2,
  logger: pino({ level: 'silent' }),
});
afterAll(() => pool.close());

describe('inference worker pool', () => {
  it('loads a model in worker threads and reports its signature', async () => {
    const signature = await pool.load('m@1', { onnxPath: modelPath });
    expect(signature.inputs).toEqual([{ name: 'features', dtype: 'float32', shape: [-1, 2] }]);
    expect(signature.outputs).toEqual([{ name: 'probability', dtype: 'float32', shape: [-1, 1] }]);
  });

  it('runs a batch off the event loop and returns the scores row by row', async () => {
    const data = new Float32Array([0, 0, 2, 0]);
    const [out] = await pool.run(
      'm@1',
      [{ name: 'features', dtype: 'float32', dims: [2, 2], buffer: data.buffer }],
      ['probability'],
    );
    expect(out?.dims).toEqual([2, 1]);
    const scores = Array.from(new Float32Array(out!.buffer));
    expect(scores[0]).toBeCloseTo(0.5, 6);
    expect(scores[1]).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
  });

  it('rejects a run on a version that is not loaded with a coded error', async () => {
    const data = new Float32Array([0, 0]);
    await expect(
      pool.run(
        'm@2',
        [{ name: 'features', dtype: 'float32', dims: [1, 2], buffer: data.buffer }],
        ['probability'],
      ),
    ).rejects.toMatchObject({
      code: 'SERVING_VERSION_NOT_LOADED',
    });
  });

  it('fails to load bytes that are not an ONNX model', async () => {
    const bad = path.join(dir, 'bad.onnx');
    writeFileSync(bad, 'not a model');
    await expect(pool.load('bad@1', { onnxPath: bad })).rejects.toMatchObject({
      code: 'SERVING_MODEL_LOAD_FAILED',
    });
  });
});

describe('inference worker pool – crashed threads', () => {
  const input = (): WireTensor[] => [
    { name: 'features', dtype: 'float32', dims: [2, 2], buffer: new Float32Array([0, 0, 2, 0]).buffer },
  ];
  const expected = [0.5, 1 / (1 + Math.exp(-2))];

  /** A one-thread pool whose threads the test can reach, as a crash would. */
  async function crashablePool(): Promise<{ pool: WorkerPool; threads: Worker[] }> {
    const threads: Worker[] = [];
    const crashable = new WorkerPool({
      size: 1,
      intraOpNumThreads: 1,
      warmupRuns: 1,
      logger: pino({ level: 'silent' }),
      spawn: () => {
        const w = spawnInferenceWorker();
        threads.push(w);
        return w;
      },
    });
    await crashable.load('m@1', { onnxPath: modelPath });
    return { pool: crashable, threads };
  }

  async function scores(p: Promise<readonly WireTensor[]>): Promise<number[]> {
    const [out] = await p;
    return Array.from(new Float32Array(out?.buffer ?? new ArrayBuffer(0)));
  }

  it('re-runs a batch whose thread died under it on the restarted thread, its session reloaded first', async () => {
    const { pool: p, threads } = await crashablePool();
    try {
      const running = p.run('m@1', input(), ['probability']);
      // The thread dies before the run's deferred start. Not terminate(): a thread terminated inside
      // an onnxruntime-node run aborts the whole process (serving-pool-close.test.ts).
      threads[0]?.postMessage({ kind: 'nonsense', id: -1 });
      const got = await scores(running);
      expect(got[0]).toBeCloseTo(expected[0] ?? NaN, 6);
      expect(got[1]).toBeCloseTo(expected[1] ?? NaN, 6);
      expect(threads).toHaveLength(2);
    } finally {
      await p.close();
    }
  });

  it('holds a run sent during the restart until the new thread has the session again', async () => {
    const { pool: p, threads } = await crashablePool();
    try {
      await threads[0]?.terminate();
      // The restarted thread exists but is still loading: a run now must wait, not fail "not loaded".
      await eventually(() => threads.length === 2);
      const got = await scores(p.run('m@1', input(), ['probability']));
      expect(got[1]).toBeCloseTo(expected[1] ?? NaN, 6);
    } finally {
      await p.close();
    }
  });

  it('restarts a thread that threw an uncaught error exactly once', async () => {
    const { pool: p, threads } = await crashablePool();
    try {
      // A message the thread does not understand makes its handler throw outside any try.
      threads[0]?.postMessage({ kind: 'nonsense', id: -1 });
      await eventually(() => threads.length >= 2);
      const got = await scores(p.run('m@1', input(), ['probability']));
      expect(got[0]).toBeCloseTo(expected[0] ?? NaN, 6);
      // 'error' and 'exit' both fire for that thread; reacting to both used to kill its successor.
      await new Promise((r) => setTimeout(r, 300));
      expect(threads).toHaveLength(2);
      expect(await scores(p.run('m@1', input(), ['probability']))).toHaveLength(2);
    } finally {
      await p.close();
    }
  });
});

describe('restart back-off', () => {
  it('restarts at once after a first crash, then waits longer after each further one, up to 5 s', () => {
    expect([1, 2, 3, 4, 10, 100].map(restartDelayMs)).toEqual([0, 100, 200, 400, 5000, 5000]);
  });
});

async function eventually(probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
