import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../../src/devstack/tools';

/**
 * Gateway replicas as separate `prograde gateway` processes (commander + the command's register, as
 * main.ts wires it), each in its own process group so a test can SIGKILL one like a crashed machine
 * and start it again on the same port and state dir.
 */

export interface ReplicaProcessOptions {
  readonly host: string;
  /** 0 picks a free port (the first start); a restart passes the port it had. */
  readonly port: number;
  readonly stateDir: string;
  readonly replicaId: string;
  /** `--models-dir`, or models from MLFLOW_TRACKING_URI in `env`. */
  readonly modelsDir?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly extraArgs?: readonly string[];
}

export interface ReplicaProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** SIGKILL of the whole process group; resolves once it has exited. */
  kill(): Promise<void>;
}

const SCRIPT = [
  "require('tsx/cjs');",
  "const { Command } = require('commander');",
  "const { runCli } = require('./src/cli/run.ts');",
  "const { register } = require('./src/cli/commands/gateway.ts');",
  "const program = new Command('prograde'); register(program);",
  "void runCli(program, [process.argv[0], 'prograde', ...process.argv.slice(1)]);",
].join('\n');

export async function startReplica(o: ReplicaProcessOptions): Promise<ReplicaProcess> {
  const args = [
    'gateway',
    '--host',
    o.host,
    '--port',
    String(o.port),
    '--state-dir',
    o.stateDir,
    '--replica-id',
    o.replicaId,
    '--workers',
    '1',
    '--log-level',
    'warn',
    ...(o.modelsDir !== undefined ? ['--models-dir', o.modelsDir] : []),
    ...(o.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, ['-e', SCRIPT, '--', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 60 s:\n${stderr}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`gateway exited before listening:\n${stderr}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}

/** Polls until `check` is true; returns the time it took (ms). */
export async function until(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
