import { join } from 'node:path';
import { preferredOrFreePort } from './ports';
import { spawnService, startWithFreshPorts, waitUntilReady, type ServiceProcess } from './service';
import { toolPaths } from './tools';

export interface MlflowServer {
  readonly process: ServiceProcess;
  /** Tracking URI, e.g. http://127.0.0.1:5000 */
  readonly url: string;
}

export interface StartMlflowOptions {
  /** Folder for the SQLite backend store, served artifacts and the log. */
  readonly dataDir: string;
  readonly port?: number;
  readonly detached?: boolean;
  readonly timeoutMs?: number;
}

/** A real `mlflow server` with a SQLite store and proxied artifacts (`--serve-artifacts`). */
export function startMlflowServer(opts: StartMlflowOptions): Promise<MlflowServer> {
  return startWithFreshPorts(() => startOnce(opts));
}

async function startOnce(opts: StartMlflowOptions): Promise<MlflowServer> {
  const host = '127.0.0.1';
  const port = await preferredOrFreePort(opts.port, host);
  const proc = spawnService({
    name: 'MLflow server',
    command: toolPaths().mlflow,
    args: [
      'server',
      '--host',
      host,
      '--port',
      String(port),
      '--backend-store-uri',
      `sqlite:///${join(opts.dataDir, 'mlflow.db')}`,
      '--artifacts-destination',
      join(opts.dataDir, 'artifacts'),
      '--serve-artifacts',
      '--workers',
      '1',
    ],
    logFile: join(opts.dataDir, 'mlflow.log'),
    env: {
      // MLflow would otherwise phone home and write usage events; keep the local stack offline.
      MLFLOW_DISABLE_TELEMETRY: 'true',
      DO_NOT_TRACK: 'true',
      // MLflow 3 starts a Huey job runner beside the server: 8 more Python processes of about 230 MB
      // (measured: 10 processes, 2.3 GB RSS in all; 2 processes, 0.5 GB without). Its jobs are GenAI
      // ones (scorers, evaluation, issue detection, prompt optimization, trace archival); prograde's
      // registry, logged models, proxied artifacts and webhooks run in the server process itself
      // (webhooks are delivered from a thread pool there), so the runner stays off.
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
      // The local stack's webhook receiver (`prograde webhook`) listens on loopback over http; MLflow
      // refuses both by default. The stack itself listens on loopback only, so nothing outside reaches it.
      MLFLOW_WEBHOOK_ALLOWED_SCHEMES: 'http,https',
      MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS: 'true',
    },
    cwd: opts.dataDir,
    ...(opts.detached === undefined ? {} : { detached: opts.detached }),
  });
  const url = `http://${host}:${port}`;
  await waitUntilReady(proc, () => mlflowAnswers(url), opts.timeoutMs ?? 120_000);
  return { process: proc, url };
}

export async function mlflowAnswers(url: string): Promise<boolean> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}
