import type { Logger } from 'pino';
import { InvalidInputError } from '../errors';
import { AccessControl } from './access';
import { credentialOf, parseCredentials, type Credential } from './credentials';
import type { GatewayMetrics } from './metrics';
import { ReloadingFile } from './reloading-file';

/** How the gateway authenticates callers; every field is optional and off by default. */
export interface AccessOptions {
  /** Inference keys: one `<name> <token | sha256:hex>` per line. Unset: inference is open. */
  readonly inferenceKeysFile?: string | undefined;
  /** Admin tokens per actor, same format; the name is the actor the audit log records. */
  readonly adminTokensFile?: string | undefined;
  /** `/metrics` needs an inference key or an admin token. */
  readonly protectMetrics?: boolean | undefined;
  /** Honour `x-prograde-force-variant` from admin tokens (off: the header is refused for everyone). */
  readonly allowForceVariant?: boolean | undefined;
  /** How often the files are checked for changes (default 1 s). */
  readonly reloadIntervalMs?: number | undefined;
}

/** The actor of the single `--token` / PROGRADE_GATEWAY_TOKEN. */
export const SINGLE_TOKEN_ACTOR = 'admin';

export interface GatewayAccess {
  readonly control: AccessControl;
  close(): void;
}

async function openCredentials(
  file: string,
  what: string,
  options: AccessOptions,
  logger: Logger,
  metrics: GatewayMetrics,
): Promise<ReloadingFile<Credential[]>> {
  const label = what.replace(/ /g, '_');
  return ReloadingFile.open({
    files: [file],
    parse: ([bytes]) => parseCredentials(file, bytes?.toString('utf8') ?? ''),
    what,
    intervalMs: options.reloadIntervalMs ?? 1_000,
    logger,
    // Names only: a log line never carries a secret or its digest.
    onReload: (credentials) => {
      metrics.credentialsReloaded(label, 'applied');
      logger.info({ file, names: credentials.map((c) => c.name) }, `${what} in force`);
    },
    onReloadFailed: () => metrics.credentialsReloaded(label, 'refused'),
  });
}

/**
 * Loads the credential files (refusing to start on a bad one) and keeps them current. `token` is the
 * single admin token of `--token`, which keeps working beside the tokens file as actor "admin".
 */
export async function openAccess(
  token: string | undefined,
  options: AccessOptions,
  logger: Logger,
  metrics: GatewayMetrics,
): Promise<GatewayAccess> {
  const single = token ? [credentialOf(SINGLE_TOKEN_ACTOR, token)] : [];
  if (options.protectMetrics && !token && !options.adminTokensFile && !options.inferenceKeysFile)
    throw new InvalidInputError(
      'protecting /metrics needs a credential to read it with: an admin token or an inference keys file',
    );
  const admins = options.adminTokensFile
    ? await openCredentials(options.adminTokensFile, 'admin tokens', options, logger, metrics)
    : undefined;
  let keys: ReloadingFile<Credential[]> | undefined;
  try {
    keys = options.inferenceKeysFile
      ? await openCredentials(options.inferenceKeysFile, 'inference keys', options, logger, metrics)
      : undefined;
  } catch (e) {
    admins?.close();
    throw e;
  }
  // Rebuilt only when the file's list changes: this runs on every authenticated request.
  let from: Credential[] | undefined;
  let combined: readonly Credential[] = single;
  const adminList = (): readonly Credential[] => {
    if (admins && admins.current !== from) {
      from = admins.current;
      combined = [...single, ...from];
    }
    return combined;
  };
  const keyList = keys;
  const control = new AccessControl({
    adminTokens: adminList,
    inferenceKeys: keyList ? () => keyList.current : undefined,
    protectMetrics: options.protectMetrics ?? false,
    allowForceVariant: options.allowForceVariant ?? false,
  });
  logger.info(
    {
      adminTokens: adminList().map((c) => c.name),
      inferenceKeys: keyList ? keyList.current.map((c) => c.name) : 'off (inference is open)',
      protectMetrics: options.protectMetrics ?? false,
      allowForceVariant: options.allowForceVariant ?? false,
    },
    'gateway access',
  );
  return {
    control,
    close: () => {
      admins?.close();
      keys?.close();
    },
  };
}
