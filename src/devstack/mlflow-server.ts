import { join } from 'node:path';
import { preferredOrFreePort } from './ports';
import { spawnService, waitUntilReady, type ServiceProcess } from './service';
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
export async function startMlflowServer(opts: StartMlflowOptions): Promise<MlflowServer> {
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
    // MLflow would otherwise phone home and write usage events; keep the local stack offline.
    env: { MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true' },
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
