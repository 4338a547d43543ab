import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

type NativeConnectionOptions = ClientConnectConfig['connectionOptions'];
import { z } from 'zod';
import { readStackState } from '../devstack/local-stack';
import { InvalidInputError, ProgradeError, messageOf } from '../errors';

export interface TemporalSettings {
  readonly connection: NativeConnectionOptions;
  readonly namespace: string;
  readonly taskQueue: string;
  /** Where the address came from, for error messages. */
  readonly source: 'environment' | 'local stack' | 'default';
}

const Address = z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233 (no scheme)');

/**
 * Connection settings for Temporal. Standard TEMPORAL_* variables and profiles (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, TEMPORAL_PROFILE) are read by Temporal's own envconfig;
 * without TEMPORAL_ADDRESS the local stack of `prograde dev up` is used when it is running.
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  let loaded;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  } catch (e) {
    throw new InvalidInputError(`Temporal client configuration is invalid: ${messageOf(e)}`);
  }
  const taskQueue = env.PROGRADE_TASK_QUEUE ?? 'prograde';
  const namespace = loaded.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default';
  const connection = loaded.connectionOptions;
  if (env.TEMPORAL_ADDRESS) {
    const ok = Address.safeParse(env.TEMPORAL_ADDRESS);
    if (!ok.success)
      throw new InvalidInputError(
        `TEMPORAL_ADDRESS='${env.TEMPORAL_ADDRESS}' ${ok.error.issues[0]?.message ?? 'is invalid'}`,
      );
    return {
      connection: { ...connection, address: env.TEMPORAL_ADDRESS },
      namespace,
      taskQueue,
      source: 'environment',
    };
  }
  const stack = readStackState();
  if (stack)
    return {
      connection: { ...connection, address: stack.temporal.address },
      namespace,
      taskQueue,
      source: 'local stack',
    };
  return {
    connection: { ...connection, address: connection.address ?? '127.0.0.1:7233' },
    namespace,
    taskQueue,
    source: 'default',
  };
}

export function temporalUnreachable(settings: TemporalSettings, cause: unknown): ProgradeError {
  return new ProgradeError(
    'TEMPORAL_UNREACHABLE',
    `cannot reach Temporal at ${settings.connection.address ?? '?'} (from ${settings.source}): ${messageOf(cause)}. ` +
      'Set TEMPORAL_ADDRESS, or start the local stack with `prograde dev up`.',
    'retryable',
    { address: settings.connection.address, source: settings.source },
    { cause },
  );
}
