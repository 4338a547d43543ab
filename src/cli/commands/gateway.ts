import path from 'node:path';
import { Option, type Command } from 'commander';
import pino from 'pino';
import { z } from 'zod';
import { InvalidInputError } from '../../errors';
import { ModelCache } from '../../mlflow/cache';
import { MlflowClient } from '../../mlflow/client';
import { DirectoryModelSource, type ModelSource } from '../../serving/model-source';
import { MlflowModelSource } from '../../serving/mlflow-source';
import { startGateway, type GatewayOptions } from '../../serving/server';
import type { GatewayLimits } from '../../serving/limits';
import { parseDuration, parseSize } from '../../spec/units';

const Int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const SizeFlag = z.string().transform((s, ctx) => {
  const bytes = parseSize(s);
  if (bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not a size like 8MiB or 512KB` });
    return z.NEVER;
  }
  return bytes;
});

const DurationFlag = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not a duration like 500ms or 10s` });
    return z.NEVER;
  }
  return ms;
});

const Flags = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.string().min(1),
  stateDir: z.string().min(1),
  modelsDir: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  inferenceKeys: z.string().min(1).optional(),
  adminTokens: z.string().min(1).optional(),
  protectMetrics: z.boolean().optional(),
  allowForceVariant: z.boolean().optional(),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  workers: Int(1, 64),
  shadowWorkers: Int(1, 64),
  maxBatchSize: Int(1, 100_000),
  maxWaitMs: z.coerce.number().min(0).max(1000),
  maxBody: SizeFlag,
  maxJsonDepth: Int(1, 1000).optional(),
  maxRows: Int(1, 100_000_000).optional(),
  maxInflightBytes: SizeFlag.optional(),
  maxInflightRows: Int(1, 1_000_000_000).optional(),
  maxConnections: Int(1, 1_000_000).optional(),
  bodyTimeout: DurationFlag.optional(),
  headersTimeout: DurationFlag.optional(),
  requestTimeout: DurationFlag.optional(),
  lookupTimeout: DurationFlag.optional(),
  maxLookups: Int(1, 10_000).optional(),
  lookupCache: DurationFlag.optional(),
  retryAfter: Int(1, 3600).optional(),
  rateLimit: z.coerce.number().positive().optional(),
  rateBurst: z.coerce.number().int().positive().optional(),
  predictionLogRate: z.coerce.number().min(0).max(1),
  replicaId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:@[\]-]{0,127}$/, 'use letters, digits and . _ : @ [ ] - (max 128)')
    .optional(),
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

/** The limits given as flags (or their PROGRADE_GATEWAY_* variables); the rest keep DEFAULT_LIMITS. */
export function limitsFrom(flags: GatewayFlags): Partial<GatewayLimits> {
  const given: Partial<Record<keyof GatewayLimits, number | undefined>> = {
    maxJsonDepth: flags.maxJsonDepth,
    maxRowsPerRequest: flags.maxRows,
    maxInflightBytes: flags.maxInflightBytes,
    maxInflightRows: flags.maxInflightRows,
    maxConnections: flags.maxConnections,
    bodyIdleTimeoutMs: flags.bodyTimeout,
    headersTimeoutMs: flags.headersTimeout,
    requestTimeoutMs: flags.requestTimeout,
    modelLookupTimeoutMs: flags.lookupTimeout,
    maxModelLookups: flags.maxLookups,
    modelLookupCacheMs: flags.lookupCache,
    retryAfterSec: flags.retryAfter,
  };
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/**
 * A switch from the environment. Commander treats any value of a boolean option's variable as "on",
 * `PROGRADE_GATEWAY_ALLOW_FORCE_VARIANT=false` included, so switches read their variable here.
 */
function envSwitch(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined) return false;
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  throw new InvalidInputError(`${name}: ${JSON.stringify(raw)} is not true/false (or 1/0, yes/no, on/off)`, {
    env: name,
  });
}

/** Credentials, switches and TLS files from flags, each falling back to its PROGRADE_GATEWAY_* variable. */
export function securityFrom(
  flags: GatewayFlags,
  env: NodeJS.ProcessEnv,
): Pick<GatewayOptions, 'token' | 'access' | 'tls'> {
  const fromEnv = (name: string): string | undefined => env[name] || undefined;
  const inferenceKeysFile = flags.inferenceKeys ?? fromEnv('PROGRADE_GATEWAY_INFERENCE_KEYS');
  const adminTokensFile = flags.adminTokens ?? fromEnv('PROGRADE_GATEWAY_ADMIN_TOKENS');
  const certFile = flags.tlsCert ?? fromEnv('PROGRADE_GATEWAY_TLS_CERT');
  const keyFile = flags.tlsKey ?? fromEnv('PROGRADE_GATEWAY_TLS_KEY');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new InvalidInputError(
      `--tls-cert and --tls-key go together (or PROGRADE_GATEWAY_TLS_CERT and _KEY): only ${certFile !== undefined ? 'the certificate' : 'the key'} is given`,
      { flag: certFile !== undefined ? '--tls-key' : '--tls-cert' },
    );
  return {
    token: flags.token ?? env['PROGRADE_GATEWAY_TOKEN'],
    access: {
      ...(inferenceKeysFile !== undefined ? { inferenceKeysFile: path.resolve(inferenceKeysFile) } : {}),
      ...(adminTokensFile !== undefined ? { adminTokensFile: path.resolve(adminTokensFile) } : {}),
      protectMetrics: flags.protectMetrics ?? envSwitch(env, 'PROGRADE_GATEWAY_PROTECT_METRICS'),
      allowForceVariant: flags.allowForceVariant ?? envSwitch(env, 'PROGRADE_GATEWAY_ALLOW_FORCE_VARIANT'),
    },
    ...(certFile !== undefined && keyFile !== undefined
      ? { tls: { certFile: path.resolve(certFile), keyFile: path.resolve(keyFile) } }
      : {}),
  };
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
    ...securityFrom(flags, env),
    logger: pino({ name: 'prograde-gateway', level: flags.logLevel }),
    workers: flags.workers,
    shadowWorkers: flags.shadowWorkers,
    batching: { maxBatchSize: flags.maxBatchSize, maxWaitMs: flags.maxWaitMs },
    maxBodyBytes: flags.maxBody,
    limits: limitsFrom(flags),
    ...(rateLimit ? { rateLimit } : {}),
    predictionLog: { sampleRate: flags.predictionLogRate },
    ...(flags.replicaId !== undefined ? { replicaId: flags.replicaId } : {}),
  };
}

/** A limit flag that also reads PROGRADE_GATEWAY_<name>; unset, the gateway's default (in brackets) applies. */
function limitOption(flags: string, description: string, envName: string): Option {
  return new Option(flags, description).env(`PROGRADE_GATEWAY_${envName}`);
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
    .option('--token <token>', 'admin API bearer token, actor "admin" (default: PROGRADE_GATEWAY_TOKEN)')
    .option(
      '--admin-tokens <file>',
      'admin tokens per actor, "<actor> <token|sha256:hex>" per line, re-read on change (or PROGRADE_GATEWAY_ADMIN_TOKENS)',
    )
    .option(
      '--inference-keys <file>',
      'require a key for inference: "<name> <key|sha256:hex>" per line, re-read on change (or PROGRADE_GATEWAY_INFERENCE_KEYS)',
    )
    .option(
      '--protect-metrics',
      '/metrics needs an inference key or admin token (or PROGRADE_GATEWAY_PROTECT_METRICS=true)',
    )
    .option(
      '--allow-force-variant',
      'honour x-prograde-force-variant from admin tokens (or PROGRADE_GATEWAY_ALLOW_FORCE_VARIANT=true)',
    )
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (or PROGRADE_GATEWAY_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (or PROGRADE_GATEWAY_TLS_KEY)')
    .option('--workers <n>', 'inference threads for traffic', '2')
    .option('--shadow-workers <n>', 'inference threads for shadow copies', '1')
    .option('--max-batch-size <rows>', 'rows per micro-batch', '64')
    .option('--max-wait-ms <ms>', 'longest wait for a micro-batch to fill', '2')
    .addOption(
      new Option('--max-body <size>', 'largest request body (413)')
        .env('PROGRADE_GATEWAY_MAX_BODY')
        .default('8MiB'),
    )
    .addOption(
      limitOption('--max-json-depth <n>', 'deepest JSON nesting of a body (400) [32]', 'MAX_JSON_DEPTH'),
    )
    .addOption(limitOption('--max-rows <n>', 'rows in one inference request (413) [10000]', 'MAX_ROWS'))
    .addOption(
      limitOption(
        '--max-inflight-bytes <size>',
        'body bytes held at once by bodies over 64 KiB (503) [32MiB]',
        'MAX_INFLIGHT_BYTES',
      ),
    )
    .addOption(
      limitOption('--max-inflight-rows <n>', 'rows in inference at once (503) [100000]', 'MAX_INFLIGHT_ROWS'),
    )
    .addOption(
      limitOption('--max-connections <n>', 'open client connections (503) [1024]', 'MAX_CONNECTIONS'),
    )
    .addOption(
      limitOption(
        '--body-timeout <duration>',
        'longest pause inside a request body (408) [10s]',
        'BODY_TIMEOUT',
      ),
    )
    .addOption(
      limitOption(
        '--headers-timeout <duration>',
        'time to send the request headers (408) [10s]',
        'HEADERS_TIMEOUT',
      ),
    )
    .addOption(
      limitOption(
        '--request-timeout <duration>',
        'time to send a whole request (408) [60s]',
        'REQUEST_TIMEOUT',
      ),
    )
    .addOption(
      limitOption(
        '--lookup-timeout <duration>',
        'longest wait for the registry about an unrouted model (503) [2s]',
        'LOOKUP_TIMEOUT',
      ),
    )
    .addOption(
      limitOption('--max-lookups <n>', 'registry lookups in flight at once (503) [8]', 'MAX_LOOKUPS'),
    )
    .addOption(
      limitOption(
        '--lookup-cache <duration>',
        'how long a registry answer, "unknown" included, is kept [10s]',
        'LOOKUP_CACHE',
      ),
    )
    .addOption(
      limitOption(
        '--retry-after <seconds>',
        'Retry-After of 429 and overload 503 answers [1]',
        'RETRY_AFTER',
      ),
    )
    .option('--rate-limit <rps>', 'requests per second per model (default: unlimited)')
    .option('--rate-burst <n>', 'token bucket size per model (default: the rate)')
    .option(
      '--prediction-log-rate <fraction>',
      'fraction of predictions logged to <state-dir>/predictions.jsonl',
      '0',
    )
    .addOption(
      new Option(
        '--replica-id <id>',
        "this replica's name in the audit log, the prediction log and /v2/health [<hostname>:<port>]",
      ).env('PROGRADE_GATEWAY_REPLICA_ID'),
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
