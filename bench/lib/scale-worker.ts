/**
 * One promotion worker in its own process, for the scale benchmark: the production worker
 * (createPromotionWorker) with a pre-built workflow bundle and the tuning it is given, so its
 * /proc/<pid> measures exactly one worker. Talks to the parent over IPC: 'ready' once polling, then
 * runs until told to stop (or until the parent goes away).
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createLogger } from '../../src/logging';
import { MlflowClient } from '../../src/mlflow/client';
import { createPromotionWorker, evaluationGates, installRuntime } from '../../src/worker';
import { workerTuning } from '../../src/config/worker-tuning';

export const ScaleWorkerConfig = z.object({
  temporalAddress: z.string(),
  taskQueue: z.string(),
  mlflowUrl: z.string(),
  workDir: z.string(),
  bundlePath: z.string(),
  identity: z.string(),
  /** PROGRADE_WORKER_* variables, read by the same parser as `prograde worker`. */
  tuningEnv: z.record(z.string(), z.string()),
});
export type ScaleWorkerConfig = z.infer<typeof ScaleWorkerConfig>;

export const WorkerReady = z.object({ type: z.literal('ready'), tuning: z.record(z.string(), z.unknown()) });

/** What the worker saw of itself, sampled every second: written to <workDir>/diagnostics.json. */
export interface WorkerDiagnostics {
  readonly samples: number;
  /** process.memoryUsage() at the sample with the highest RSS, bytes, with what ran at that moment. */
  readonly atPeakRss: {
    rss: number;
    heapUsed: number;
    heapTotal: number;
    external: number;
    arrayBuffers: number;
    cachedWorkflows: number;
    activities: number;
    evaluationsRunning: number;
    evaluationsWaiting: number;
    mlflowInFlight: number;
    mlflowQueued: number;
  };
  /** The largest value of each over the run. */
  readonly max: Readonly<Record<string, number>>;
  /** MLflow requests this worker sent, by method and path, and in all. */
  readonly mlflowCalls: Readonly<Record<string, number>>;
  readonly mlflowCallsTotal: number;
  readonly mlflowMaxQueued: number;
}

function sampler(worker: Worker, mlflow: MlflowClient, file: string): { stop(): void } {
  let samples = 0;
  let atPeakRss: WorkerDiagnostics['atPeakRss'] | undefined;
  const max: Record<string, number> = {};
  const take = (): void => {
    const m = process.memoryUsage();
    const status = worker.getStatus();
    const evals = [...evaluationGates];
    const now = {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      cachedWorkflows: status.numCachedWorkflows,
      activities: status.numInFlightActivities,
      evaluationsRunning: evals.reduce((n, g) => n + g.inFlight, 0),
      evaluationsWaiting: evals.reduce((n, g) => n + g.queued, 0),
      mlflowInFlight: mlflow.http.gate.inFlight,
      mlflowQueued: mlflow.http.gate.queued,
    };
    samples++;
    if (!atPeakRss || now.rss > atPeakRss.rss) atPeakRss = now;
    for (const [k, v] of Object.entries(now)) max[k] = Math.max(max[k] ?? 0, v);
  };
  const write = (): void => {
    if (!atPeakRss) return;
    const calls = Object.fromEntries(mlflow.http.gate.sent);
    const out: WorkerDiagnostics = {
      samples,
      atPeakRss,
      max,
      mlflowCalls: calls,
      mlflowCallsTotal: Object.values(calls).reduce((a, b) => a + b, 0),
      mlflowMaxQueued: mlflow.http.gate.maxWaiting,
    };
    writeFileSync(file, JSON.stringify(out, null, 2));
  };
  take();
  const t1 = setInterval(take, 1_000);
  // Written along the way too, so a worker that is killed still leaves its figures.
  const t2 = setInterval(write, 15_000);
  return {
    stop: () => {
      clearInterval(t1);
      clearInterval(t2);
      take();
      write();
    },
  };
}

async function main(config: ScaleWorkerConfig): Promise<void> {
  const logger = createLogger('scale-worker');
  logger.level = 'warn';
  installRuntime(logger);
  const tuning = workerTuning(config.tuningEnv);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const mlflow = new MlflowClient({ baseUrl: config.mlflowUrl, timeoutMs: 120_000 });
  const worker = await createPromotionWorker({
    connection,
    namespace: 'default',
    taskQueue: config.taskQueue,
    mlflow,
    workDir: config.workDir,
    logger,
    workflowBundle: { codePath: config.bundlePath },
    identity: config.identity,
    tuning,
  });
  const stop = (): void => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.on('message', (m: unknown) => {
    if ((m as { type?: unknown } | null)?.type === 'stop') stop();
  });
  process.on('disconnect', stop);
  const running = worker.run();
  const diagnostics = sampler(worker, mlflow, join(config.workDir, 'diagnostics.json'));
  process.send?.({ type: 'ready', tuning });
  try {
    await running;
  } finally {
    diagnostics.stop();
  }
  await connection.close();
}

if (require.main === module) {
  main(ScaleWorkerConfig.parse(JSON.parse(process.argv[2] ?? '{}'))).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
