/**
 * One promotion worker in its own process, for the scale benchmark: the production worker
 * (createPromotionWorker) with a pre-built workflow bundle and the tuning it is given, so its
 * /proc/<pid> measures exactly one worker. Talks to the parent over IPC: 'ready' once polling, then
 * runs until told to stop (or until the parent goes away).
 */
import { NativeConnection } from '@temporalio/worker';
import { z } from 'zod';
import { createLogger } from '../../src/logging';
import { MlflowClient } from '../../src/mlflow/client';
import { createPromotionWorker, installRuntime } from '../../src/worker';
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

async function main(config: ScaleWorkerConfig): Promise<void> {
  const logger = createLogger('scale-worker');
  logger.level = 'warn';
  installRuntime(logger);
  const tuning = workerTuning(config.tuningEnv);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createPromotionWorker({
    connection,
    namespace: 'default',
    taskQueue: config.taskQueue,
    mlflow: new MlflowClient({ baseUrl: config.mlflowUrl, timeoutMs: 120_000 }),
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
  process.send?.({ type: 'ready', tuning });
  await running;
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
