import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPortFree } from '../../src/devstack/ports';

/**
 * A process the chaos run owns and may hurt: kill -9, SIGSTOP/SIGCONT, restart. Every service is
 * started in its own process group so a signal reaches the children it forked too (MLflow's
 * uvicorn workers, Temporal's UI server), and only the processes this run started are ever signalled.
 */
export interface Victim {
  readonly name: string;
  /** Process group leader (the process this run spawned). */
  readonly pid: number;
  readonly exited: Promise<unknown>;
}

/** Sends `sig` to the victim's whole process group; false when it is already gone. */
export function signalGroup(v: Pick<Victim, 'pid'>, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-v.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** kill -9 of the whole group, then waits (bounded) for the leader to be reaped. */
export async function kill9(v: Victim & { expectedExit?: boolean }): Promise<void> {
  v.expectedExit = true;
  signalGroup(v, 'SIGKILL');
  await Promise.race([v.exited, sleep(10_000)]);
}

/** SIGSTOP for `ms`, then SIGCONT: the process holds its sockets open and answers nothing. */
export async function freeze(v: Victim, ms: number): Promise<void> {
  signalGroup(v, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    signalGroup(v, 'SIGCONT');
  }
}

/** Waits until nothing listens on `port` any more, so a restart gets the address clients know. */
export async function untilPortFree(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isPortFree(port)) return;
    await sleep(200);
  }
  throw new Error(`port ${port} still taken after ${timeoutMs / 1000}s`);
}

export interface NodeChild extends Victim {
  /** Exit code, or the signal that ended it. */
  readonly ended: Promise<string>;
  /** Set before the run kills it: any other exit is a crash. */
  expectedExit: boolean;
}

/** `node bin/prograde.js <args>` in its own process group, output appended to `logFile`. */
export function spawnPrograde(
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  cwd: string,
): NodeChild {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['bin/prograde.js', ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name}`);
  const ended = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? String(code)));
    child.once('error', (e) => resolve(`error ${e.message}`));
  });
  return { name, pid, exited: ended, ended, expectedExit: false };
}
