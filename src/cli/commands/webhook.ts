import type { Command } from 'commander';
import { z } from 'zod';
import { connectClient } from '../../client/connect';
import { mlflowClient } from '../../config/mlflow';
import { InvalidInputError, ProgradeError } from '../../errors';
import { createLogger } from '../../logging';
import { loadSpecRegistry, startWebhookServer, DEFAULT_MAX_SKEW_SECONDS } from '../../webhook';

const Flags = z.object({
  specs: z.string({ error: '--specs <folder> is required' }).min(1),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8790),
  path: z
    .string()
    .regex(/^\/[\w./-]*$/, '--path must start with /')
    .default('/webhook'),
  maxSkew: z.coerce.number().int().min(1).max(3600).default(DEFAULT_MAX_SKEW_SECONDS),
});

export function register(program: Command): void {
  program
    .command('webhook')
    .description(
      "Receive MLflow registry webhooks: setting a spec's candidate alias on a version starts its promotion",
    )
    .option('--specs <folder>', 'folder of promotion.yaml files, one per model (read and validated at start)')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', '8790')
    .option('--path <path>', 'URL path MLflow posts to', '/webhook')
    .option(
      '--max-skew <seconds>',
      'how old (or new) a delivery timestamp may be',
      String(DEFAULT_MAX_SKEW_SECONDS),
    )
    .addHelpText(
      'after',
      '\nThe secret is read from PROGRADE_WEBHOOK_SECRET (never a flag: it would show in `ps`); it is the' +
        '\n`secret` given when creating the webhook in MLflow (POST /api/2.0/mlflow/webhooks, event' +
        '\nmodel_version_alias.created). Bad signature or stale timestamp: 401. Unknown model: 404.' +
        '\nA redelivered or replayed delivery, or a version whose promotion is open or done, starts nothing.',
    )
    .action(async (raw: Record<string, unknown>) => {
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => i.message).join('; '));
      const flags = parsed.data;
      const secret = process.env.PROGRADE_WEBHOOK_SECRET ?? '';
      if (secret.length < 16) {
        throw new ProgradeError(
          'WEBHOOK_SECRET_MISSING',
          'set PROGRADE_WEBHOOK_SECRET to the webhook secret (at least 16 characters) MLflow signs deliveries with',
          'terminal',
        );
      }
      const specs = await loadSpecRegistry(flags.specs);
      const logger = createLogger('prograde-webhook');
      const { client, settings, close } = await connectClient();
      const server = await startWebhookServer({
        specs,
        mlflow: mlflowClient(),
        client,
        taskQueue: settings.taskQueue,
        secret,
        logger,
        host: flags.host,
        port: flags.port,
        path: flags.path,
        maxSkewSeconds: flags.maxSkew,
      });
      // One line on stdout a supervisor (or a test) can read the URL from.
      console.log(JSON.stringify({ url: server.url, models: [...specs.keys()] }));
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
      await close();
    });
}
