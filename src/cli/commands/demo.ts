import type { Command } from 'commander';
import { readStackState } from '../../devstack/local-stack';
import { runDemo } from '../../demo/run-demo';

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the whole story on the local stack: promotion through shadow and canary, a fairness rejection, an automatic rollback',
    )
    .action(async () => {
      const started = Date.now();
      const stories = await runDemo((line) => console.log(line));
      const stack = readStackState();
      console.log('\n══ Demo finished in', `${Math.round((Date.now() - started) / 1000)}s`);
      for (const s of stories) {
        console.log(`\n• ${s.title}: v${s.version} ${s.outcome.toUpperCase()}`);
        console.log(`    ${s.reason}`);
        console.log(`    Temporal: ${s.temporal}`);
        console.log(`    MLflow:   ${s.mlflow}`);
      }
      if (stack) {
        console.log(
          `\nThe stack is still up: Temporal UI ${stack.temporal.uiUrl} · MLflow UI ${stack.mlflow.url}`,
        );
        console.log('Stop it with: npx prograde dev down');
      }
    });
}
