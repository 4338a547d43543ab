import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * What a fork process prints as it dies: V8's fatal errors (with the native stack after them), a Rust
 * panic in Temporal's core bridge, Node's out-of-memory report, glibc's own aborts.
 */
const DYING_WORDS =
  /FATAL ERROR|panicked at|out of memory|Segmentation fault|^Aborted|double free|terminate called/m;
const KEPT_LINES = 40;

/**
 * Names the test files a run started but never finished. When a fork process dies mid-file (a native
 * crash in a bridge, a signal, the OOM killer), vitest reports only "Worker exited unexpectedly", with
 * no file, and leaves that file's tests out of both the passed and the failed counts. CI keeps only the
 * tail of the log, so this prints, at the very end, which file it was, when it started, which of its
 * tests never reported, and the last lines any process printed that look like a native death (a fork's
 * stderr is piped into this process's), with the time each was seen: enough to reproduce it alone.
 */
export default class UnfinishedReporter implements Reporter {
  private readonly startedAt = new Map<string, Date>();
  private readonly dying: string[] = [];

  constructor() {
    const write = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
    process.stderr.write = (chunk: unknown, ...rest: unknown[]): boolean => {
      this.scan(chunk);
      return write(chunk, ...rest);
    };
  }

  private scan(chunk: unknown): void {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
    if (!DYING_WORDS.test(text)) return;
    const at = new Date().toISOString();
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      this.dying.push(`${at} ${line.slice(0, 300)}`);
      if (this.dying.length > KEPT_LINES) this.dying.shift();
    }
  }

  onTestModuleStart(module: TestModule): void {
    this.startedAt.set(module.moduleId, new Date());
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const module of modules) {
      const state = module.state();
      if (state === 'passed' || state === 'failed' || state === 'skipped') continue;
      const tests = [...module.children.allTests()];
      const silent = tests.filter((t) => t.result().state === 'pending').map((t) => t.fullName);
      const started = this.startedAt.get(module.moduleId);
      lines.push(
        `[unfinished] ${relative(process.cwd(), module.moduleId)} (${module.project.name}), ` +
          `state ${state}, started ${started?.toISOString() ?? 'never'}: ` +
          `${silent.length} of ${tests.length} test(s) never reported`,
        ...silent.map((name) => `[unfinished]   ${name}`),
      );
    }
    if (lines.length === 0) return;
    lines.push(
      this.dying.length > 0
        ? '[unfinished] stderr lines that look like a process dying:'
        : '[unfinished] no process printed a fatal error: a signal (SIGSEGV, SIGKILL) ends a fork silently',
      ...this.dying.map((l) => `[unfinished]   ${l}`),
    );
    console.log(lines.join('\n'));
  }
}
