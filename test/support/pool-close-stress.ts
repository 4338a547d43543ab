/**
 * Closes inference pools while batches run on their threads, `iterations` times, in a process of its
 * own: a thread torn down inside an onnxruntime-node run aborts the whole process, which a test must see
 * as an exit status, not as its own death. Prints one JSON line: how many runs finished and how many
 * the close failed. Run by test/unit/serving-pool-close.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { buildLogisticModel } from '../../src/onnx/build';
import { isProgradeError } from '../../src/errors';
import { WorkerPool } from '../../src/serving/worker/worker-pool';

const FEATURES = 30;
const ROWS = 2000;
const RUNS_PER_POOL = 30;

async function main(iterations: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'prograde-pool-close-'));
  const modelPath = path.join(dir, 'model.onnx');
  const weights = Array.from({ length: FEATURES }, (_, i) => (i % 3) - 1);
  writeFileSync(modelPath, buildLogisticModel({ weights, bias: 0 }));
  let ran = 0;
  let closed = 0;
  for (let i = 0; i < iterations; i++) {
    const pool = new WorkerPool({
      size: 2,
      intraOpNumThreads: 1,
      warmupRuns: 1,
      logger: pino({ level: 'silent' }),
    });
    await pool.load('m@1', { onnxPath: modelPath });
    const runs = Array.from({ length: RUNS_PER_POOL }, () => {
      const data = new Float32Array(ROWS * FEATURES).fill(0.5);
      const feeds = [
        { name: 'features', dtype: 'float32' as const, dims: [ROWS, FEATURES], buffer: data.buffer },
      ];
      return pool.run('m@1', feeds, ['probability']).then(
        () => void (ran += 1),
        (e: unknown) => {
          if (!isProgradeError(e) || e.code !== 'SERVING_POOL_CLOSED') throw e;
          closed += 1;
        },
      );
    });
    // Spread the close over the first runs: at 0 ms most are still queued, later some are mid-run.
    await sleep(i % 25);
    await pool.close();
    await Promise.all(runs);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ iterations, ran, closed }));
}

void main(Number(process.argv[2] ?? 40));
