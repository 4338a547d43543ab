import type { Command } from 'commander';
import { runWorker } from '../../worker';

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'Run a prograde worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, PROGRADE_TASK_QUEUE, MLFLOW_TRACKING_URI)',
    )
    .action(async () => {
      await runWorker(process.env);
    });
}
