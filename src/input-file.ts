import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { ProgradeError } from './errors';

/**
 * Reads a file a person named on the command line (a spec, a model) without trusting it: only a
 * regular file is opened, never more than `maxBytes` is read, and nothing can block the process.
 * A FIFO would hang `readFile` until a writer appears and `/dev/zero` would grow it without end.
 */

export type InputFileProblem = 'not-found' | 'not-a-file' | 'too-large' | 'unreadable';

/** Thrown when an input file is missing or is not something prograde will read; `reason` completes "the file …". */
export class InputFileError extends ProgradeError {
  override readonly name = 'InputFileError';

  constructor(
    readonly problem: InputFileProblem,
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('INPUT_FILE_INVALID', `${path}: ${reason}`, 'terminal', { path, problem }, options);
  }
}

// O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; regular files ignore it.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);
const CHUNK = 64 * 1024;

function kindOf(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** `1.5 MiB`, `812 KiB`, `17 bytes`. */
export function formatBytes(n: number): string {
  const unit = (value: number, name: string): string => `${value.toFixed(1).replace(/\.0$/, '')} ${name}`;
  if (n >= 1024 ** 3) return unit(n / 1024 ** 3, 'GiB');
  if (n >= 1024 ** 2) return unit(n / 1024 ** 2, 'MiB');
  if (n >= 1024) return unit(n / 1024, 'KiB');
  return `${n} byte${n === 1 ? '' : 's'}`;
}

function refuseUnlessRegular(st: Stats, path: string): void {
  const kind = kindOf(st);
  if (kind !== undefined) throw new InputFileError('not-a-file', path, `is ${kind}, not a regular file`);
}

function tooLarge(path: string, size: number | undefined, maxBytes: number): InputFileError {
  const bytes = (n: number): string => `${n.toLocaleString('en-US')} bytes`;
  const what = size === undefined ? 'is larger than' : `is ${bytes(size)}, over`;
  return new InputFileError(
    'too-large',
    path,
    `${what} the limit of ${bytes(maxBytes)} (${formatBytes(maxBytes)})`,
  );
}

/** An errno from stat or open, as a refusal; errors of the machine itself (EIO, EMFILE…) are not the file's fault. */
function fromErrno(e: unknown, path: string): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const refuse = (problem: InputFileProblem, reason: string): InputFileError =>
    new InputFileError(problem, path, reason, { cause: e });
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return refuse('not-found', 'does not exist');
    case 'EISDIR':
      return refuse('not-a-file', 'is a directory, not a regular file');
    case 'ENXIO':
    case 'ENODEV':
      return refuse('not-a-file', 'is not a regular file');
    case 'EACCES':
    case 'EPERM':
      return refuse('unreadable', 'cannot be read: permission denied');
    case 'ELOOP':
      return refuse('unreadable', 'cannot be read: too many levels of symbolic links');
    case 'ENAMETOOLONG':
      return refuse('unreadable', 'cannot be read: the name is too long');
    default:
      return e;
  }
}

/**
 * The bytes of a regular file of at most `maxBytes`. Anything else — missing, a directory, a FIFO, a
 * device, a socket, a symbolic link to one of these, or too large — is an `InputFileError`.
 */
export async function readInputFile(path: string, maxBytes: number): Promise<Buffer> {
  // stat before open: opening some devices has effects of its own (a tape rewinds, a tty becomes ours).
  let before: Stats;
  try {
    before = await stat(path);
  } catch (e) {
    throw fromErrno(e, path);
  }
  refuseUnlessRegular(before, path);
  if (before.size > maxBytes) throw tooLarge(path, before.size, maxBytes);

  let handle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw fromErrno(e, path);
  }
  try {
    // The name may have been pointed elsewhere between stat and open; judge what was opened.
    const st = await handle.stat();
    refuseUnlessRegular(st, path);
    if (st.size > maxBytes) throw tooLarge(path, st.size, maxBytes);
    // Sizes can lie (a file still growing, /proc files report 0): read until EOF, never past the limit.
    let buffer = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(st.size + 1, CHUNK)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (buffer.length > maxBytes) throw tooLarge(path, undefined, maxBytes);
        const grown = Buffer.allocUnsafe(Math.min(maxBytes + 1, buffer.length * 2));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw tooLarge(path, undefined, maxBytes);
    return buffer.subarray(0, length);
  } catch (e) {
    throw e instanceof InputFileError ? e : fromErrno(e, path);
  } finally {
    await handle.close();
  }
}
