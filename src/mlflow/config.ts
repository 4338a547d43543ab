import { z } from 'zod';
import { ProgradeError } from '../errors';

export type MlflowAuth =
  { kind: 'basic'; username: string; password: string } | { kind: 'bearer'; token: string };

/** Everything needed to reach one MLflow server. */
export interface MlflowConfig {
  /** Server root without trailing slash, e.g. `http://127.0.0.1:5000` (a path prefix is kept). */
  readonly baseUrl: string;
  readonly auth?: MlflowAuth;
  /** Per-request budget: time to the response (and, for downloads, the longest pause between chunks). */
  readonly timeoutMs: number;
}

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
  return auth ? { baseUrl, timeoutMs, auth } : { baseUrl, timeoutMs };
}
