import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';
import { sampleModel } from '../../src/samples/models';
import { writeModelVersion } from '../../src/serving/model-directory';
import { until } from '../support/replica-gateways';

/**
 * Graceful shutdown as Kubernetes does it (deploy/helm/prograde): SIGTERM to `prograde gateway`, the
 * real CLI entry point, in its own process group. A request in flight when the signal arrives must be
 * answered, and its answer must say `Connection: close` so a keep-alive client (or a load balancer)
 * reconnects to another replica instead of reusing a connection that is about to go away.
 */

const TOKEN = 'drain-test-admin-token';
let dir: string;
const children: ChildProcess[] = [];

function startGateway(stateDir: string): {
  child: ChildProcess;
  url: Promise<URL>;
  exit: Promise<number | null>;
} {
  const child = spawn(
    process.execPath,
    [
      'bin/prograde.js',
      'gateway',
      '--port',
      '0',
      '--models-dir',
      path.join(dir, 'models'),
      '--state-dir',
      stateDir,
      '--log-level',
      'warn',
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, PROGRADE_GATEWAY_TOKEN: TOKEN, MLFLOW_TRACKING_URI: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    },
  );
  children.push(child);
  let stderr = '';
  const url = new Promise<URL>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) resolve(new URL(m[1]));
    });
    child.once('exit', () => reject(new Error(`gateway exited before listening:\n${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exit };
}

/** A raw HTTP/1.1 connection, so the test controls when the body's last bytes are sent. */
async function rawConnection(url: URL): Promise<{
  socket: net.Socket;
  reply: () => string;
  closed: Promise<void>;
}> {
  const socket = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, reply: () => text, closed };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-drain-'));
  await writeModelVersion(path.join(dir, 'models'), 'credit', '1', sampleModel('good'));
});

afterAll(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('prograde gateway: graceful shutdown on SIGTERM', () => {
  it('answers a request in flight at SIGTERM with Connection: close, then exits 0', async () => {
    const run = startGateway(path.join(dir, 'state-inflight'));
    const url = await run.url;
    // It listens before restoring its saved routing and answers the admin API 503 until then.
    await until(async () => (await fetch(`${url.origin}/v2/health/ready`)).ok, 'the gateway to restore');
    const put = await fetch(`${url.origin}/admin/models/credit/routing`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ generation: 1, stable: { version: '1' } }),
    });
    expect(put.status).toBe(200);

    // An earlier request on the same connection makes it a keep-alive connection in use.
    const body = JSON.stringify({ inputs: [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] });
    const head = `POST /invocations HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const conn = await rawConnection(url);
    conn.socket.write(head + body);
    for (let i = 0; i < 600 && !conn.reply().includes('predictions'); i++) await sleep(50);
    expect(conn.reply()).toMatch(/^HTTP\/1\.1 200 /);
    expect(conn.reply().toLowerCase()).toContain('connection: keep-alive');
    const before = conn.reply().length;

    // The second request is in flight (its body half sent) when SIGTERM arrives.
    conn.socket.write(head + body.slice(0, 10));
    await sleep(300);
    process.kill(run.child.pid as number, 'SIGTERM');
    await sleep(1_000);
    conn.socket.write(body.slice(10));
    await conn.closed;

    const second = conn.reply().slice(before);
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second).toContain('"predictions"');
    // The server closed the connection after the answer (it did not wait for the keep-alive timeout).
    expect(second.toLowerCase()).toContain('connection: close');
    expect(await run.exit).toBe(0);
  }, 60_000);

  it('refuses new connections once draining while closing idle keep-alive ones', async () => {
    const run = startGateway(path.join(dir, 'state-idle'));
    const url = await run.url;
    const idle = await rawConnection(url);
    idle.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: gw\r\n\r\n');
    for (let i = 0; i < 200 && !idle.reply().includes('live'); i++) await sleep(50);
    expect(idle.reply()).toMatch(/^HTTP\/1\.1 200 /);

    process.kill(run.child.pid as number, 'SIGTERM');
    // The idle keep-alive connection is closed by the server, not left to its 5 s idle timeout.
    await idle.closed;
    expect(await run.exit).toBe(0);
    await expect(
      new Promise((resolve, reject) => {
        const s = net.connect(Number(url.port), url.hostname);
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
  }, 60_000);
});
