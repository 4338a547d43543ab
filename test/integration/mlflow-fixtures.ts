import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { repoRoot, toolPaths } from '../../src/devstack/tools';

/** Shared helpers of the mlflow-*.test.ts files (the MLflow server is shared by the whole run). */

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Runs a Python oracle from test/oracles with the pinned venv against `trackingUri`; parses its last stdout line as JSON. */
export function runOracle(script: string, args: readonly string[], trackingUri: string): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      toolPaths().python,
      [join(repoRoot, 'test', 'oracles', script), ...args],
      {
        env: { ...process.env, MLFLOW_TRACKING_URI: trackingUri },
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${script} ${args.join(' ')} failed: ${error.message}\n${stderr.slice(-3000)}`));
          return;
        }
        const last = stdout.trim().split('\n').pop() ?? '';
        try {
          resolvePromise(JSON.parse(last));
        } catch {
          reject(
            new Error(`${script} printed no JSON line:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`),
          );
        }
      },
    );
  });
}

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 with a free port; for network failure modes a healthy MLflow never shows. */
export async function startLocalServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<LocalServer> {
  const server = createServer(handler);
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.closeAllConnections();
        server.close(() => resolvePromise());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const s = await startLocalServer(() => undefined);
  await s.close();
  return s.port;
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
