import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ProgradeError, messageOf } from '../errors';
import type { AppliedRouting } from './desired-state';
import { ModelName, RoutingSpec } from './routing';

/**
 * The audit log: append-only JSONL, one record per applied routing generation, each holding the
 * model's whole new routing. It is the gateway's write-ahead log (see StateStore.commit): a record
 * is the commit of a change, so it must never be lost, duplicated or glued to a neighbour.
 */

export const AuditEntry = z.strictObject({
  at: z.string(),
  model: ModelName,
  generation: z.number().int().min(1),
  state: RoutingSpec,
  actor: z.string().optional(),
  /** The caller's own label for the change (a header): context, not an identity. */
  note: z.string().optional(),
  /**
   * Set only on a record written at boot for a generation the state file held without one (a
   * state dir written by a gateway before the write-ahead audit): when the record was written.
   */
  backfilledAt: z.string().optional(),
  /** The gateway replica that wrote the record (its --replica-id), so merged audit trails say where. */
  replica: z.string().max(128).optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** What a parse of the log found besides its records. */
export interface AuditScan {
  readonly entries: AuditEntry[];
  /** Bytes after the last newline: a record torn by a crash mid-append, not a record. */
  readonly tornBytes: number;
  /** Where the complete lines end: the length the log is cut back to. */
  readonly validBytes: number;
  /** 1-based numbers of complete lines that are not records (skipped). */
  readonly invalidLines: number[];
  /** 1-based numbers of lines whose record was recovered from behind a torn prefix. */
  readonly salvagedLines: number[];
}

const NEWLINE = 0x0a;

function parseRecord(text: string): AuditEntry | undefined {
  try {
    const parsed = AuditEntry.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits the log into records. Only newline-terminated lines count: a torn tail is reported, not
 * parsed. A line that is a torn record with a later record glued on (what an append after an
 * unrepaired tear leaves) yields the later record, so a tear never hides the generation after it.
 */
export function scanAuditLog(bytes: Buffer): AuditScan {
  const validBytes = bytes.lastIndexOf(NEWLINE) + 1;
  const lines = bytes.subarray(0, validBytes).toString('utf8').split('\n');
  lines.pop(); // what follows the last newline: empty
  const entries: AuditEntry[] = [];
  const invalidLines: number[] = [];
  const salvagedLines: number[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const whole = parseRecord(line);
    if (whole) return void entries.push(whole);
    const start = line.lastIndexOf('{"at":');
    const tail = start > 0 ? parseRecord(line.slice(start)) : undefined;
    if (tail) {
      entries.push(tail);
      salvagedLines.push(i + 1);
    } else invalidLines.push(i + 1);
  });
  return { entries, tornBytes: bytes.length - validBytes, validBytes, invalidLines, salvagedLines };
}

export function entryOf(model: string, applied: AppliedRouting): AuditEntry {
  return {
    at: applied.appliedAt,
    model,
    generation: applied.generation,
    state: applied.spec,
    ...(applied.actor !== undefined ? { actor: applied.actor } : {}),
    ...(applied.note !== undefined ? { note: applied.note } : {}),
  };
}

/** The routing a record commits: what boot rolls forward when the state file missed it. */
export function appliedOf(entry: AuditEntry): AppliedRouting {
  return {
    generation: entry.generation,
    spec: entry.state,
    appliedAt: entry.at,
    ...(entry.actor !== undefined ? { actor: entry.actor } : {}),
    ...(entry.note !== undefined ? { note: entry.note } : {}),
  };
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readBytes(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The audit log file. Appends are not serialised here: the caller (StateStore) does that. */
export class AuditLog {
  /** Length of the log's complete records; an append that fails is cut back to it. */
  private size: number | undefined;
  /** Set when a failed append could not be cut back: the log's end is unknown until a restart. */
  private broken: string | undefined;

  constructor(readonly file: string) {}

  /**
   * Reads the log at boot and cuts off a torn tail, so the next append starts on a line of its
   * own instead of gluing itself to the torn bytes.
   */
  async open(): Promise<AuditScan> {
    const bytes = (await readBytes(this.file)) ?? Buffer.alloc(0);
    const scan = scanAuditLog(bytes);
    if (scan.tornBytes > 0) {
      const handle = await open(this.file, 'r+');
      try {
        await handle.truncate(scan.validBytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    this.size = scan.validBytes;
    return scan;
  }

  /** Appends one record and returns once it is on disk; on failure the log is as it was. */
  async append(entry: AuditEntry): Promise<void> {
    if (this.size === undefined) throw new Error('AuditLog.append before open');
    if (this.broken !== undefined)
      throw new ProgradeError(
        'SERVING_AUDIT_WRITE_FAILED',
        `the audit log is unusable until the gateway restarts: ${this.broken}`,
        'retryable',
        { file: this.file },
      );
    const line = Buffer.from(JSON.stringify(entry) + '\n', 'utf8');
    const creating = this.size === 0;
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.file, 'a');
      await handle.write(line);
      await handle.sync();
      // A new file's directory entry is durable only once the directory is flushed.
      if (creating) await syncDir(path.dirname(this.file));
      this.size += line.length;
    } catch (e) {
      await this.cutBack(handle, e);
      throw new ProgradeError(
        'SERVING_AUDIT_WRITE_FAILED',
        `the audit record could not be written: ${messageOf(e)}`,
        'retryable',
        { file: this.file },
      );
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  /** Removes what a failed append may have left, so it is not a record (and not glued to the next). */
  private async cutBack(handle: FileHandle | undefined, cause: unknown): Promise<void> {
    if (!handle) return;
    try {
      await handle.truncate(this.size);
      await handle.sync();
    } catch (e) {
      this.broken = `an append failed (${messageOf(cause)}) and could not be undone (${messageOf(e)})`;
    }
  }

  /** Every complete record, for the admin API; a record being appended right now is not yet one. */
  async read(model?: string): Promise<AuditEntry[]> {
    const bytes = await readBytes(this.file);
    if (!bytes) return [];
    const { entries } = scanAuditLog(bytes);
    return model === undefined ? entries : entries.filter((e) => e.model === model);
  }
}
