import { connect as tlsConnect } from 'node:tls';
import { isIP } from 'node:net';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

type NativeConnectionOptions = ClientConnectConfig['connectionOptions'];
import { z } from 'zod';
import { readStackState } from '../devstack/local-stack';
import { InvalidInputError, ProgradeError, messageOf } from '../errors';
import { certificateProblem, describeCertificateProblem } from '../mlflow/tls-fetch';
import { readCaBundle, readClientIdentity } from '../mlflow/tls-pem';

export interface TemporalSettings {
  readonly connection: NativeConnectionOptions;
  readonly namespace: string;
  readonly taskQueue: string;
  /** Where the address came from, for error messages. */
  readonly source: 'environment' | 'local stack' | 'default';
  /** TEMPORAL_TLS_SERVER_CA_CERT_PATH when set, for error messages. */
  readonly caPath?: string;
}

const Address = z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233 (no scheme)');

/**
 * Connection settings for Temporal. Standard TEMPORAL_* variables and profiles (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, TEMPORAL_PROFILE) are read by Temporal's own envconfig;
 * without TEMPORAL_ADDRESS the local stack of `prograde dev up` is used when it is running.
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  checkTlsVariables(env);
  let loaded;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  } catch (e) {
    throw new InvalidInputError(`Temporal client configuration is invalid: ${messageOf(e)}`);
  }
  const taskQueue = env.PROGRADE_TASK_QUEUE ?? 'prograde';
  const namespace = loaded.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default';
  const connection = loaded.connectionOptions;
  const caPath = env[CA_VAR];
  const tlsNote = set(caPath) ? { caPath } : {};
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
      ...tlsNote,
    };
  }
  const stack = readStackState();
  if (stack)
    return {
      connection: { ...connection, address: stack.temporal.address },
      namespace,
      taskQueue,
      source: 'local stack',
      ...tlsNote,
    };
  return {
    connection: { ...connection, address: connection.address ?? '127.0.0.1:7233' },
    namespace,
    taskQueue,
    source: 'default',
    ...tlsNote,
  };
}

const CA_VAR = 'TEMPORAL_TLS_SERVER_CA_CERT_PATH';
const CERT_VAR = 'TEMPORAL_TLS_CLIENT_CERT_PATH';
const KEY_VAR = 'TEMPORAL_TLS_CLIENT_KEY_PATH';
const NO_HOST_CHECK_VAR = 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION';

const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/**
 * Checks the TLS files the TEMPORAL_TLS_* variables name before envconfig reads them, so a wrong
 * path or a file that is not PEM is an input error naming the variable (exit 2) instead of a bare
 * ENOENT or a handshake failure later. Files named in a profile (temporal.toml) are read by
 * envconfig itself.
 */
function checkTlsVariables(env: NodeJS.ProcessEnv): void {
  const ca = env[CA_VAR];
  if (set(ca)) readCaBundle(CA_VAR, ca);
  const cert = env[CERT_VAR];
  const key = env[KEY_VAR];
  if (set(cert) !== set(key)) {
    const missing = set(cert) ? KEY_VAR : CERT_VAR;
    throw new ProgradeError(
      'TLS_CONFIG_INVALID',
      `${CERT_VAR} and ${KEY_VAR} must be set together (mutual TLS needs both); ${missing} is not set`,
      'terminal',
      { variable: missing },
    );
  }
  if (set(cert) && set(key)) readClientIdentity(CERT_VAR, cert, { variable: KEY_VAR, path: key });
  // envconfig parses this variable but never applies it, so setting it would silently change nothing;
  // and prograde would not turn host checks off anyway (a signed decision is only as good as the server).
  const noHostCheck = env[NO_HOST_CHECK_VAR]?.trim().toLowerCase();
  if (noHostCheck === 'true' || noHostCheck === '1') {
    throw new ProgradeError(
      'TLS_CONFIG_INVALID',
      `${NO_HOST_CHECK_VAR}=${env[NO_HOST_CHECK_VAR]} is not supported: prograde always checks the server's name. Set TEMPORAL_TLS_SERVER_NAME to a name its certificate lists`,
      'terminal',
      { variable: NO_HOST_CHECK_VAR },
    );
  }
}

export function temporalUnreachable(settings: TemporalSettings, cause: unknown): ProgradeError {
  const tls = certificateProblem(cause);
  if (tls) {
    const address = settings.connection.address ?? '?';
    const why = describeCertificateProblem(tls.problem, tls.detail, address, {
      ca: CA_VAR,
      caPath: settings.caPath,
      clientCert: `${CERT_VAR} and ${KEY_VAR}`,
    });
    return new ProgradeError(
      'TEMPORAL_TLS_FAILED',
      `cannot connect to Temporal at ${address} (from ${settings.source}): ${why}`,
      'terminal',
      { address, source: settings.source, tlsProblem: tls.problem, tlsDetail: tls.detail },
      { cause },
    );
  }
  return new ProgradeError(
    'TEMPORAL_UNREACHABLE',
    `cannot reach Temporal at ${settings.connection.address ?? '?'} (from ${settings.source}): ${messageOf(cause)}. ` +
      'Set TEMPORAL_ADDRESS, or start the local stack with `prograde dev up`.',
    'retryable',
    { address: settings.connection.address, source: settings.source },
    { cause },
  );
}

/**
 * The error for a failed connection, diagnosing TLS when the client cannot say. Temporal's Rust core
 * (the worker) names a certificate problem, but the gRPC client of the CLI only reports "Failed to
 * connect before the deadline". When TLS is on and the cause names nothing, one TLS handshake with
 * the same trust finds out whether the certificate is why.
 */
export async function temporalConnectFailure(
  settings: TemporalSettings,
  cause: unknown,
): Promise<ProgradeError> {
  const tls = settings.connection.tls;
  const address = settings.connection.address;
  if (tls && !certificateProblem(cause) && address) {
    const handshake = await probeTls(address, tls === true ? {} : tls);
    if (handshake) return temporalUnreachable(settings, handshake);
  }
  // Plain gRPC to a TLS port only times out; a handshake that completes (nothing is trusted or sent
  // by it) shows that TLS is what is missing.
  if (!tls && address && (await probeTls(address, {}, 5_000, false)) === undefined) {
    return new ProgradeError(
      'TEMPORAL_UNREACHABLE',
      `cannot reach Temporal at ${address} (from ${settings.source}): the server speaks TLS but the client does not. Set TEMPORAL_TLS=true, and TEMPORAL_TLS_SERVER_CA_CERT_PATH if its certificate comes from a private CA`,
      'retryable',
      { address, source: settings.source },
      { cause },
    );
  }
  return temporalUnreachable(settings, cause);
}

type TlsOptions = Exclude<NonNullable<TemporalSettings['connection']['tls']>, boolean>;

/**
 * One TLS handshake as the gRPC client would make it; the handshake's error, or undefined when it
 * succeeds. With `verify` false it only detects whether the server speaks TLS at all.
 */
function probeTls(
  address: string,
  tls: TlsOptions,
  timeoutMs = 5_000,
  verify = true,
): Promise<Error | undefined> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  // Node checks the certificate against `servername` when set, as gRPC does with the override.
  const servername = tls.serverNameOverride ?? (isIP(host) ? undefined : host);
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port: Number(address.slice(i + 1)),
      ALPNProtocols: ['h2'],
      rejectUnauthorized: verify,
      ...(servername ? { servername } : {}),
      ...(tls.serverRootCACertificate ? { ca: Buffer.from(tls.serverRootCACertificate) } : {}),
      ...(tls.clientCertPair
        ? { cert: Buffer.from(tls.clientCertPair.crt), key: Buffer.from(tls.clientCertPair.key) }
        : {}),
    });
    const done = (e: Error | undefined): void => {
      socket.destroy();
      resolve(e);
    };
    // A probe that proves nothing (no answer in time) must not read as success when detecting TLS.
    socket.setTimeout(timeoutMs, () => done(verify ? undefined : new Error('no TLS handshake in time')));
    socket.once('secureConnect', () => done(undefined));
    socket.once('error', (e: Error) => done(e));
  });
}
