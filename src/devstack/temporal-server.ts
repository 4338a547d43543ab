import { Connection } from '@temporalio/client';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../promotion/search-attributes';
import { freePort, preferredOrFreePort } from './ports';
import { spawnService, startWithFreshPorts, waitUntilReady, type ServiceProcess } from './service';
import { toolPaths } from './tools';

export interface TemporalServer {
  readonly process: ServiceProcess;
  /** host:port of the frontend gRPC service */
  readonly address: string;
  /** Web UI base URL, or undefined when headless */
  readonly uiUrl: string | undefined;
}

export interface StartTemporalOptions {
  /** Folder for the SQLite file and the log. */
  readonly dataDir: string;
  readonly port?: number;
  readonly uiPort?: number;
  readonly headless?: boolean;
  readonly detached?: boolean;
  readonly timeoutMs?: number;
  /** SQLite pragmas (`NAME=VALUE`) for the server's database; default FAST_SQLITE, `[]` for SQLite's own. */
  readonly sqlitePragmas?: readonly string[];
}

/**
 * Write-ahead logging, synced at checkpoints: SQLite's default syncs the disk on every commit, and a
 * workflow step takes three commits, which was most of the time between activities (93 ms vs 23 ms
 * a step, bench/RESULTS.md "scale"). A killed server keeps every commit; only a power cut may lose the
 * last ones, which for a local stack and tests is the right trade.
 */
export const FAST_SQLITE: readonly string[] = ['journal_mode=wal', 'synchronous=normal'];

const SEARCH_ATTRIBUTE_FLAGS = SEARCH_ATTRIBUTES.flatMap((key) => [
  '--search-attribute',
  `${key.name}=Keyword`,
]);

/** Temporal's dev server on loopback, state in `<dataDir>/temporal.db` so workflows survive restarts. */
export function startTemporalServer(opts: StartTemporalOptions): Promise<TemporalServer> {
  return startWithFreshPorts(() => startOnce(opts));
}

async function startOnce(opts: StartTemporalOptions): Promise<TemporalServer> {
  const host = '127.0.0.1';
  const port = await preferredOrFreePort(opts.port, host);
  const uiPort = opts.headless ? undefined : await preferredOrFreePort(opts.uiPort ?? port + 1000, host);
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--http-port',
    String(await freePort(host)),
    '--metrics-port',
    String(await freePort(host)),
    '--db-filename',
    join(opts.dataDir, 'temporal.db'),
    ...(opts.sqlitePragmas ?? FAST_SQLITE).flatMap((pragma) => ['--sqlite-pragma', pragma]),
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTE_FLAGS,
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', host]),
  ];
  const proc = spawnService({
    name: 'Temporal dev server',
    command: toolPaths().temporal,
    args,
    logFile: join(opts.dataDir, 'temporal.log'),
    ...(opts.detached === undefined ? {} : { detached: opts.detached }),
  });
  const address = `${host}:${port}`;
  await waitUntilReady(proc, () => temporalAnswers(address), opts.timeoutMs ?? 120_000);
  return { process: proc, address, uiUrl: uiPort === undefined ? undefined : `http://localhost:${uiPort}` };
}

/** True when the frontend answers a real RPC (a listening socket alone is not enough). */
export async function temporalAnswers(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    await connection.workflowService.getSystemInfo({});
    return true;
  } finally {
    await connection.close();
  }
}
