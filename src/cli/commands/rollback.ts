import type { Command } from 'commander';
import { z } from 'zod';
import { gatewayFor } from '../../config/gateway';
import { InvalidInputError } from '../../errors';
import { mlflowClient } from '../../config/mlflow';
import { rollbackToPrevious } from '../../records/rollback';
import { loadSpec } from '../../spec/load';

const Flags = z.object({
  as: z.string().trim().min(1, '--as <name> is required'),
  reason: z.string().trim().min(1, '--reason <text> is required'),
  spec: z.string().optional(),
  gateway: z.url({ protocol: /^https?$/, error: '--gateway must be an http(s) URL' }).optional(),
  championAlias: z.string().default('champion'),
});

export function register(program: Command): void {
  program
    .command('rollback <model>')
    .description(
      'Put the previous champion back on the gateway (instant while it is retained) and move @champion back',
    )
    .requiredOption('--as <name>', 'who rolls back')
    .requiredOption('--reason <text>', 'why')
    .option('-s, --spec <file>', 'promotion spec (gateway target and aliases)')
    .option('--gateway <url>', 'gateway URL, when not taken from --spec')
    .option('--champion-alias <alias>', 'registry alias of the champion', 'champion')
    .action(async (model: string, raw: unknown) => {
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => i.message).join('; '));
      const flags = parsed.data;
      const spec = flags.spec ? (await loadSpec(flags.spec)).spec : undefined;
      const url = flags.gateway ?? spec?.target?.url;
      if (!url) throw new InvalidInputError('give --gateway <url> or --spec with a target');
      const gateway = gatewayFor({
        url,
        ...(spec?.target?.tokenEnv ? { tokenEnv: spec.target.tokenEnv } : {}),
      });
      const result = await rollbackToPrevious(mlflowClient(), gateway, {
        model,
        championAlias: spec?.aliases.champion ?? flags.championAlias,
        operator: flags.as,
        reason: flags.reason,
      });
      console.log(
        `rolled back ${model}: v${result.from} → v${result.to} (gateway generation ${result.generation})`,
      );
    });
}
