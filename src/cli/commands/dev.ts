import type { Command } from 'commander';
import {
  readStackState,
  stackDown,
  stackEnv,
  stackHealth,
  stackUp,
  type StackState,
} from '../../devstack/local-stack';
import { CliExit } from '../run';
import { ExitCode } from '../exit-codes';

function describe(state: StackState): string {
  return [
    `Temporal   ${state.temporal.address}   Web UI ${state.temporal.uiUrl}   log ${state.temporal.logFile}`,
    `MLflow     ${state.mlflow.url}   UI ${state.mlflow.url}   log ${state.mlflow.logFile}`,
    '',
    'Use it from a shell with:',
    ...Object.entries(stackEnv(state)).map(([k, v]) => `  export ${k}=${v}`),
  ].join('\n');
}

export function register(program: Command): void {
  const dev = program
    .command('dev')
    .description('The embedded local stack: Temporal dev server + MLflow server');
  dev
    .command('up')
    .description('Start the local stack (idempotent); state under .data/')
    .action(async () => {
      const state = await stackUp((l) => console.error(l));
      console.log(describe(state));
    });
  dev
    .command('down')
    .description('Stop what `dev up` started (data is kept)')
    .action(async () => {
      await stackDown((l) => console.error(l));
    });
  dev
    .command('status')
    .description('Show whether the local stack is up')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const health = await stackHealth(readStackState());
      if (opts.json) {
        console.log(JSON.stringify(health ?? { running: false }, null, 2));
      } else if (!health) {
        console.log('local stack: not started (run `prograde dev up`)');
      } else {
        console.log(
          `Temporal: ${health.temporal ? 'up' : 'DOWN'}   MLflow: ${health.mlflow ? 'up' : 'DOWN'}`,
        );
        console.log(describe(health.state));
      }
      if (!health?.temporal || !health.mlflow) throw new CliExit(ExitCode.infrastructure);
    });
}
