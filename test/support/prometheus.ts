import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Debian's prometheus package (infra/install-prometheus.sh installs it). */
export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export function prometheusInstalled(): boolean {
  return existsSync(PROMETHEUS_BIN);
}

export interface PrometheusServer {
  readonly url: string;
  readonly child: ChildProcess;
  close(): Promise<void>;
}

export interface ScrapeJob {
  readonly job: string;
  /** host:port of every target. */
  readonly targets: readonly string[];
  /** Bearer token for /metrics (a gateway started with --protect-metrics). */
  readonly token?: string;
}

/** A free loopback port: bound by the OS, then released for the server to take. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function configText(jobs: readonly ScrapeJob[], intervalS: number): string {
  const lines = [
    'global:',
    `  scrape_interval: ${intervalS}s`,
    `  scrape_timeout: ${intervalS}s`,
    `  evaluation_interval: ${intervalS}s`,
    'scrape_configs:',
  ];
  for (const j of jobs) {
    lines.push(`  - job_name: ${JSON.stringify(j.job)}`, '    metrics_path: /metrics');
    if (j.token)
      lines.push('    authorization:', '      type: Bearer', `      credentials: ${JSON.stringify(j.token)}`);
    lines.push(
      '    static_configs:',
      `      - targets: [${j.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * A real Prometheus server on a free loopback port, with a generated config, its own storage in a temp
 * dir, in its own process group (killed whole by close). Retries another port if the one picked was
 * taken meanwhile by a parallel test.
 */
export async function startPrometheus(jobs: readonly ScrapeJob[], intervalS = 1): Promise<PrometheusServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'prograde-prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(config, configText(jobs, intervalS));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const close = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await Promise.race([exited, sleep(5_000)]);
      }
    };
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) {
          return {
            url,
            child,
            close: async () => {
              await close();
              rmSync(dir, { recursive: true, force: true });
            },
          };
        }
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    lastError = stderr;
    await close();
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`prometheus did not become ready:\n${lastError}`);
}

/** Waits until Prometheus has scraped every target of `job` successfully at least once (up == 1). */
export async function waitForTargetsUp(
  url: string,
  job: string,
  count: number,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(`sum(up{job="${job}"})`)}`);
    const body = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
    last = JSON.stringify(body);
    if (Number(body.data?.result?.[0]?.value?.[1] ?? 0) >= count) return;
    await sleep(200);
  }
  throw new Error(`prometheus did not see ${count} targets of ${job} up: ${last}`);
}
