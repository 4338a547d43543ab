import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProgradeError } from '../errors';

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface SpawnServiceOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Detached services outlive the CLI that started them (`prograde dev up`). */
  readonly detached?: boolean;
}

/** Starts a long-running tool with its output in a log file, in its own process group. */
export function spawnService(opts: SpawnServiceOptions): ServiceProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
    // Own process group either way: stopping kills the tool and every child it forked (uvicorn workers).
    detached: true,
  });
  closeSync(fd);
  if (opts.detached) child.unref();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  const pid = child.pid;
  if (pid === undefined)
    throw new ProgradeError('SERVICE_START_FAILED', `could not start ${opts.name} (${opts.command})`);
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    stop: () => stopProcessGroup(pid, exited),
  };
}

/** SIGTERM the group, then SIGKILL if it has not exited in time. */
export async function stopProcessGroup(
  pid: number,
  exited?: Promise<unknown>,
  graceMs = 10_000,
): Promise<void> {
  const signal = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false;
    }
  };
  if (!signal('SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (exited) {
      const done = await Promise.race([exited.then(() => true), sleep(100).then(() => false)]);
      if (done) return;
    } else {
      if (!isAlive(pid)) return;
      await sleep(100);
    }
  }
  signal('SIGKILL');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `probe` until it succeeds, the process dies, or the deadline passes; errors quote the log tail. */
export async function waitUntilReady(
  service: Pick<ServiceProcess, 'name' | 'logFile' | 'exited'>,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  let dead = false;
  void service.exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead) break;
    if (await probe().catch(() => false)) return;
    await sleep(250);
  }
  throw new ProgradeError(
    'SERVICE_NOT_READY',
    `${service.name} ${dead ? 'exited during start-up' : `did not answer within ${timeoutMs / 1000}s`}; log ${service.logFile}:\n${logTail(service.logFile)}`,
    'retryable',
    { service: service.name, logFile: service.logFile },
  );
}

export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** How a server says that a port it was given was taken between our probe and its bind. */
const PORT_CLASH = /address already in use|EADDRINUSE|Errno 98/i;

/**
 * Starts a service on freshly chosen free ports, again when it died because a port was taken in the
 * moment between choosing and binding it: on a busy machine (several test stacks at once) that race
 * is real, and a failed start-up of the whole test run for it would be a flake, not a finding.
 */
export async function startWithFreshPorts<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      const clash =
        e instanceof ProgradeError && e.code === 'SERVICE_NOT_READY' && PORT_CLASH.test(e.message);
      if (!clash || attempt >= attempts) throw e;
    }
  }
}
