import type { Command } from 'commander';
import { promotionSpecJsonSchema } from '../../spec/json-schema';

export function register(program: Command): void {
  program
    .command('schema')
    .description('Print the JSON Schema of promotion.yaml, for editor completion and checks')
    .action(() => {
      process.stdout.write(`${JSON.stringify(promotionSpecJsonSchema(), null, 2)}\n`);
    });
}
