import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { z } from 'zod';

/**
 * A TypeScript module run in its own Node process (tsx registered via --require, so the pid is the
 * process doing the work and /proc/<pid> measures it), talking over the IPC channel.
 */
export class TsChild {
  readonly process: ChildProcess;
  private readonly stderr: string[] = [];
  private readonly exited: Promise<number | null>;

  constructor(file: string, args: readonly string[], nodeFlags: readonly string[] = []) {
    this.process = fork(file, [...args], {
      execArgv: [...nodeFlags, '--require', require.resolve('tsx/cjs')],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.process.stderr?.setEncoding('utf8');
    this.process.stderr?.on('data', (chunk: string) => {
      this.stderr.push(chunk);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    this.exited = once(this.process, 'exit').then(([code]) => code as number | null);
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error('child process has no pid (spawn failed)');
    return pid;
  }

  /** The next IPC message, parsed; rejects if the child exits first or takes longer than `timeoutMs`. */
  next<T>(schema: z.ZodType<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`child ${this.pid} sent nothing within ${timeoutMs} ms\n${this.stderr.join('')}`));
      }, timeoutMs);
      const onMessage = (message: unknown): void => {
        cleanup();
        const parsed = schema.safeParse(message);
        if (parsed.success) resolve(parsed.data);
        else reject(new Error(`child ${this.pid} sent an unexpected message: ${JSON.stringify(message)}`));
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`child ${this.pid} exited with ${code} before answering\n${this.stderr.join('')}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.process.off('message', onMessage);
        this.process.off('exit', onExit);
      };
      this.process.on('message', onMessage);
      this.process.on('exit', onExit);
    });
  }

  send(message: unknown): void {
    this.process.send(message as object);
  }

  /** Waits for the child to exit; kills it (by its own pid) if it has not within `graceMs`. */
  async stop(graceMs: number): Promise<number | null> {
    if (this.process.exitCode !== null) return this.process.exitCode;
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
