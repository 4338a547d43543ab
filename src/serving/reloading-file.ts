import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { messageOf } from '../errors';
import { readInputFile } from '../input-file';

/**
 * A value read from one or more files and re-read when they change, so keys, tokens and
 * certificates rotate without a restart.
 *
 * Change is detected by polling each file's identity (inode, size, mtime, ctime) on a short
 * interval rather than by `fs.watch`: watchers miss the rename an atomic replace does, do not
 * survive the file being deleted and recreated, and behave differently on every platform and on
 * network or container mounts. A stat a second costs nothing.
 *
 * A first load that fails throws (the gateway refuses to start); a later one that fails is logged
 * and the previous value stays in force, so a half-written or broken file never locks callers out
 * nor lets them in. A failure is logged once per change of the files, not on every poll.
 */

export interface ReloadingFileOptions<T> {
  readonly files: readonly string[];
  /** Turns the files' bytes (in the order of `files`) into the value; throws to refuse them. */
  readonly parse: (contents: readonly Buffer[]) => T;
  /** What the files are, for log lines ("inference keys"). */
  readonly what: string;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Largest file accepted. */
  readonly maxBytes?: number;
  /** Called after every successful reload (not the first load). */
  readonly onReload?: (value: T) => void;
  /** Called after every refused reload. */
  readonly onReloadFailed?: (error: unknown) => void;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;

async function identityOf(files: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    files.map(async (file) => {
      try {
        const st = await stat(file);
        return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch (e) {
        return `missing:${(e as NodeJS.ErrnoException).code ?? 'error'}`;
      }
    }),
  );
  return parts.join('|');
}

export class ReloadingFile<T> {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  private constructor(
    private readonly options: ReloadingFileOptions<T>,
    private value: T,
    private identity: string,
  ) {}

  /** Reads the files once (throwing when they cannot be used), then keeps watching them. */
  static async open<T>(options: ReloadingFileOptions<T>): Promise<ReloadingFile<T>> {
    const identity = await identityOf(options.files);
    const value = await ReloadingFile.read(options);
    const file = new ReloadingFile(options, value, identity);
    file.timer = setInterval(() => void file.poll(), options.intervalMs);
    file.timer.unref();
    return file;
  }

  private static async read<T>(options: ReloadingFileOptions<T>): Promise<T> {
    const contents = await Promise.all(
      options.files.map((f) => readInputFile(f, options.maxBytes ?? DEFAULT_MAX_BYTES)),
    );
    return options.parse(contents);
  }

  get current(): T {
    return this.value;
  }

  /** Checks the files now; resolves once a change (if any) is applied or refused. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const identity = await identityOf(this.options.files);
      if (identity === this.identity) return;
      // Remember the new identity first: a broken file is reported once, not every interval.
      this.identity = identity;
      const { what, logger } = this.options;
      try {
        this.value = await ReloadingFile.read(this.options);
        logger.info({ files: this.options.files }, `${what} reloaded`);
        this.options.onReload?.(this.value);
      } catch (e) {
        logger.error(
          { files: this.options.files, error: messageOf(e) },
          `${what} not reloaded: the files are not valid; the previous ones stay in force`,
        );
        this.options.onReloadFailed?.(e);
      }
    } finally {
      this.polling = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
