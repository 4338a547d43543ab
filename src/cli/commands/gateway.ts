import path from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { z } from 'zod';
import { InvalidInputError } from '../../errors';
import { ModelCache } from '../../mlflow/cache';
import { MlflowClient } from '../../mlflow/client';
import { DirectoryModelSource, type ModelSource } from '../../serving/model-source';
import { MlflowModelSource } from '../../serving/mlflow-source';
import { startGateway, type GatewayOptions } from '../../serving/server';
import { parseSize } from '../../spec/units';

const Int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const Flags = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.string().min(1),
  stateDir: z.string().min(1),
  modelsDir: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  workers: Int(1, 64),
  shadowWorkers: Int(1, 64),
  maxBatchSize: Int(1, 100_000),
  maxWaitMs: z.coerce.number().min(0).max(1000),
  maxBody: z.string().transform((s, ctx) => {
    const bytes = parseSize(s);
    if (bytes === undefined || bytes <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(s)} is not a size like 8MiB or 512KB`,
      });
      return z.NEVER;
    }
    return bytes;
  }),
  rateLimit: z.coerce.number().positive().optional(),
  rateBurst: z.coerce.number().int().positive().optional(),
  predictionLogRate: z.coerce.number().min(0).max(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});
export type GatewayFlags = z.infer<typeof Flags>;

/** Commander's parsed options → validated flags; the message names the flag that is wrong. */
export function parseGatewayFlags(raw: unknown): GatewayFlags {
  const parsed = Flags.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = `--${String(issue?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new InvalidInputError(`${flag}: ${issue?.message ?? 'invalid'}`, { flag });
  }
  return parsed.data;
}

/** `--models-dir` wins; otherwise MLFLOW_TRACKING_URI names the registry (cache under the state dir). */
export function modelSourceFor(
  flags: Pick<GatewayFlags, 'modelsDir' | 'stateDir'>,
  env: NodeJS.ProcessEnv,
): ModelSource {
  if (flags.modelsDir !== undefined) return new DirectoryModelSource(path.resolve(flags.modelsDir));
  if (env['MLFLOW_TRACKING_URI']) {
    const client = MlflowClient.fromEnv(env);
    return new MlflowModelSource(client, new ModelCache(client, path.resolve(flags.stateDir, 'model-cache')));
  }
  throw new InvalidInputError(
    'no model source: pass --models-dir <dir> (laid out <dir>/<model>/<version>/model.onnx) or set MLFLOW_TRACKING_URI',
  );
}

export function gatewayOptionsFrom(flags: GatewayFlags, env: NodeJS.ProcessEnv): GatewayOptions {
  const rateLimit =
    flags.rateLimit !== undefined
      ? {
          default: {
            requestsPerSecond: flags.rateLimit,
            burst: flags.rateBurst ?? Math.max(1, Math.ceil(flags.rateLimit)),
          },
        }
      : undefined;
  return {
    source: modelSourceFor(flags, env),
    stateDir: path.resolve(flags.stateDir),
    port: flags.port,
    host: flags.host,
    token: flags.token ?? env['PROGRADE_GATEWAY_TOKEN'],
    logger: pino({ name: 'prograde-gateway', level: flags.logLevel }),
    workers: flags.workers,
    shadowWorkers: flags.shadowWorkers,
    batching: { maxBatchSize: flags.maxBatchSize, maxWaitMs: flags.maxWaitMs },
    maxBodyBytes: flags.maxBody,
    ...(rateLimit ? { rateLimit } : {}),
    predictionLog: { sampleRate: flags.predictionLogRate },
  };
}

export function register(program: Command): void {
  program
    .command('gateway')
    .description(
      'Run the serving gateway (Open Inference Protocol v2, MLflow /invocations, admin API for routing)',
    )
    .option('--port <n>', 'port to listen on (0 = any free port)', '8080')
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--state-dir <dir>', 'routing state, audit log and model cache', '.data/gateway')
    .option(
      '--models-dir <dir>',
      'serve versions from <dir>/<model>/<version>/model.onnx instead of MLFLOW_TRACKING_URI',
    )
    .option('--token <token>', 'admin API bearer token (default: PROGRADE_GATEWAY_TOKEN)')
    .option('--workers <n>', 'inference threads for traffic', '2')
    .option('--shadow-workers <n>', 'inference threads for shadow copies', '1')
    .option('--max-batch-size <rows>', 'rows per micro-batch', '64')
    .option('--max-wait-ms <ms>', 'longest wait for a micro-batch to fill', '2')
    .option('--max-body <size>', 'largest request body', '8MiB')
    .option('--rate-limit <rps>', 'requests per second per model (default: unlimited)')
    .option('--rate-burst <n>', 'token bucket size per model (default: the rate)')
    .option(
      '--prediction-log-rate <fraction>',
      'fraction of predictions logged to <state-dir>/predictions.jsonl',
      '0',
    )
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (raw: unknown) => {
      const flags = parseGatewayFlags(raw);
      const gateway = await startGateway(gatewayOptionsFrom(flags, process.env));
      console.error(`prograde gateway listening on ${gateway.url}`);
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          console.error(`prograde gateway: ${signal}, draining and stopping`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void gateway.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
