import { z } from 'zod';
import { ProgradeError } from '../errors';
import type { TlsTrust } from './tls-fetch';
import { readCaBundle, readClientIdentity } from './tls-pem';

export type MlflowAuth =
  { kind: 'basic'; username: string; password: string } | { kind: 'bearer'; token: string };

/** Everything needed to reach one MLflow server. */
export interface MlflowConfig {
  /** Server root without trailing slash, e.g. `http://127.0.0.1:5000` (a path prefix is kept). */
  readonly baseUrl: string;
  readonly auth?: MlflowAuth;
  /** Per-request budget: time to the response (and, for downloads, the longest pause between chunks). */
  readonly timeoutMs: number;
  /** Trust for an https server, when the environment names a CA bundle or a client certificate. */
  readonly tls?: MlflowTls;
  /** Requests in flight at once from this client; the rest queue (PROGRADE_MLFLOW_MAX_REQUESTS, src/mlflow/http.ts). */
  readonly maxConcurrentRequests?: number;
}

export interface MlflowTls {
  readonly trust: TlsTrust;
  /** The variables' values, for error messages. */
  readonly caPath?: string;
  readonly clientCertPath?: string;
}

export const SERVER_CERT_VAR = 'MLFLOW_TRACKING_SERVER_CERT_PATH';
export const CLIENT_CERT_VAR = 'MLFLOW_TRACKING_CLIENT_CERT_PATH';
const INSECURE_VAR = 'MLFLOW_TRACKING_INSECURE_TLS';

export const DEFAULT_TIMEOUT_MS = 30_000;

function configError(message: string, details: Record<string, unknown>): ProgradeError {
  return new ProgradeError('MLFLOW_CONFIG_INVALID', message, 'terminal', details);
}

/** Validates a tracking URI: REST calls need an http(s) server, not a local `file:` or `sqlite:` store. */
export function parseBaseUrl(raw: string, source = 'MLFLOW_TRACKING_URI'): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw configError(`${source}=${JSON.stringify(raw)} is not a URL; expected e.g. http://127.0.0.1:5000`, {
      source,
      value: raw,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError(
      `${source}=${JSON.stringify(raw)} uses scheme "${url.protocol.replace(/:$/, '')}"; prograde talks to an MLflow tracking server over http(s), e.g. http://127.0.0.1:5000`,
      { source, value: raw },
    );
  }
  if (url.username || url.password) {
    // Credentials in the URL would leak into every error message and log line.
    throw configError(
      `${source} must not carry credentials; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead`,
      {
        source,
      },
    );
  }
  if (url.search || url.hash) {
    throw configError(`${source}=${JSON.stringify(raw)} must not carry a query or fragment`, {
      source,
      value: raw,
    });
  }
  return url.toString().replace(/\/+$/, '');
}

const TimeoutMs = z.coerce.number().int().positive();
const MaxRequests = z
  .string()
  .regex(/^\d{1,4}$/)
  .transform(Number)
  .pipe(z.number().int().min(1).max(1000));

/** Reads the MLflow client's standard variables plus `PROGRADE_MLFLOW_TIMEOUT_MS`. */
export function mlflowConfigFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowConfig {
  const uri = env['MLFLOW_TRACKING_URI'];
  if (uri === undefined || uri.trim() === '') {
    throw configError(
      'MLFLOW_TRACKING_URI is not set; point it at the MLflow tracking server, e.g. http://127.0.0.1:5000',
      {
        source: 'MLFLOW_TRACKING_URI',
      },
    );
  }
  const baseUrl = parseBaseUrl(uri);

  const rawTimeout = env['PROGRADE_MLFLOW_TIMEOUT_MS'];
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (rawTimeout !== undefined && rawTimeout.trim() !== '') {
    const parsed = TimeoutMs.safeParse(rawTimeout);
    if (!parsed.success) {
      throw configError(
        `PROGRADE_MLFLOW_TIMEOUT_MS=${JSON.stringify(rawTimeout)} must be a positive whole number of milliseconds`,
        {
          source: 'PROGRADE_MLFLOW_TIMEOUT_MS',
          value: rawTimeout,
        },
      );
    }
    timeoutMs = parsed.data;
  }

  const token = env['MLFLOW_TRACKING_TOKEN'];
  const username = env['MLFLOW_TRACKING_USERNAME'];
  const password = env['MLFLOW_TRACKING_PASSWORD'];
  if ((username === undefined) !== (password === undefined)) {
    throw configError('MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together', {
      source: username === undefined ? 'MLFLOW_TRACKING_PASSWORD' : 'MLFLOW_TRACKING_USERNAME',
    });
  }
  // Same precedence as the Python client: basic credentials win over a token.
  const auth: MlflowAuth | undefined =
    username !== undefined && password !== undefined
      ? { kind: 'basic', username, password }
      : token !== undefined && token !== ''
        ? { kind: 'bearer', token }
        : undefined;
  const tls = tlsFromEnv(env);
  const rawMax = env['PROGRADE_MLFLOW_MAX_REQUESTS'];
  let maxConcurrentRequests: number | undefined;
  if (rawMax !== undefined && rawMax.trim() !== '') {
    const parsed = MaxRequests.safeParse(rawMax.trim());
    if (!parsed.success)
      throw configError(
        `PROGRADE_MLFLOW_MAX_REQUESTS=${JSON.stringify(rawMax.slice(0, 40))} must be a whole number from 1 to 1000`,
        { source: 'PROGRADE_MLFLOW_MAX_REQUESTS', value: rawMax.slice(0, 40) },
      );
    maxConcurrentRequests = parsed.data;
  }
  return {
    baseUrl,
    timeoutMs,
    ...(auth ? { auth } : {}),
    ...(tls ? { tls } : {}),
    ...(maxConcurrentRequests === undefined ? {} : { maxConcurrentRequests }),
  };
}

/**
 * MLflow's own TLS variables, so a user sets them once for the Python client and prograde. The
 * bundle replaces the default roots, as in the Python client (`requests` `verify=`).
 *
 * MLFLOW_TRACKING_INSECURE_TLS=true is refused rather than honoured: prograde records who approved
 * what on the registry and fetches the models it serves from it, so a connection anyone on the path
 * can impersonate would make both worthless. A private CA is always expressible with
 * MLFLOW_TRACKING_SERVER_CERT_PATH; ignoring the variable silently would be worse than refusing.
 */
function tlsFromEnv(env: NodeJS.ProcessEnv): MlflowTls | undefined {
  const insecure = env[INSECURE_VAR]?.trim().toLowerCase();
  if (insecure === 'true' || insecure === '1') {
    throw configError(
      `${INSECURE_VAR}=${env[INSECURE_VAR]} would turn off certificate checks; prograde refuses it. Set ${SERVER_CERT_VAR} to the CA bundle that signed the server's certificate instead`,
      { source: INSECURE_VAR },
    );
  }
  if (insecure !== undefined && insecure !== '' && insecure !== 'false' && insecure !== '0') {
    throw configError(`${INSECURE_VAR}=${JSON.stringify(env[INSECURE_VAR])} must be true or false`, {
      source: INSECURE_VAR,
    });
  }
  const caPath = nonEmpty(env[SERVER_CERT_VAR]);
  const clientCertPath = nonEmpty(env[CLIENT_CERT_VAR]);
  if (caPath === undefined && clientCertPath === undefined) return undefined;
  const ca = caPath === undefined ? undefined : readCaBundle(SERVER_CERT_VAR, caPath).pem;
  const identity =
    clientCertPath === undefined ? undefined : readClientIdentity(CLIENT_CERT_VAR, clientCertPath);
  return {
    trust: { ...(ca ? { ca } : {}), ...(identity ?? {}) },
    ...(caPath ? { caPath } : {}),
    ...(clientCertPath ? { clientCertPath } : {}),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
