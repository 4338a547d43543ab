import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ProgradeError, messageOf } from '../errors';
import { appliedOf, AuditLog, entryOf, type AuditEntry, type AuditScan } from './audit-log';
import { AppliedRouting } from './desired-state';
import { ModelName, sameSpec } from './routing';

export type { AuditEntry } from './audit-log';

const StateFile = z.strictObject({
  schemaVersion: z.literal(1),
  models: z.record(ModelName, AppliedRouting),
});
type StateFile = z.infer<typeof StateFile>;

/** Writes a file so a crash leaves either the old or the new content, never a torn one. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  // The rename itself is durable only once the directory entry is flushed.
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** What boot found and repaired; each item is worth a log line. */
export interface Recovery {
  /** The applied routing of every model, audit and state file reconciled. */
  readonly models: Record<string, AppliedRouting>;
  readonly audit: Pick<AuditScan, 'tornBytes' | 'invalidLines' | 'salvagedLines'>;
  /** Audited generations the state file had missed (a crash between the two writes). */
  readonly rolledForward: { model: string; generation: number; stateGeneration: number | undefined }[];
  /** Generations the state file held without an audit record (written by an older gateway). */
  readonly backfilled: { model: string; generation: number }[];
  /** Temporary files of state writes a crash interrupted, removed. */
  readonly staleTempFiles: number;
}

/** Whether a routing change was also checkpointed into the state file (it is committed either way). */
export interface CommitResult {
  readonly checkpointError?: unknown;
}

/**
 * The gateway's durable state: the append-only audit log (audit.jsonl) and the applied routing of
 * every model (routing.json, replaced atomically).
 *
 * Protocol: write-ahead audit, roll forward at boot. A routing change is committed the moment its
 * audit record, holding the model's whole new routing, is on disk (appended and fsynced); only then
 * is routing.json rewritten, as a checkpoint of every commit so far. A crash can therefore leave
 * routing.json behind the log, never ahead of it, and boot (`recover`) rolls any newer audited
 * generation forward into the state: it was decided and durable, and a client whose answer was
 * lost will retry it, which must then answer "unchanged" rather than audit it twice. The reverse
 * order (state first) left live generations with no audit record after a kill -9, and no retry
 * could repair that, because the retry found the generation applied. One atomic file holding both
 * would work too, but would rewrite the whole history on every change.
 *
 * Writes are serialised, and each checkpoint is taken from the store's own map of committed
 * routing, so two models changed at once can never write a state file missing the other's change.
 */
export class StateStore {
  private readonly stateFile: string;
  private readonly log: AuditLog;
  private writes: Promise<unknown> = Promise.resolve();
  /** Every committed model's routing; set by `recover`, so a commit before it is a bug. */
  private committed: Record<string, AppliedRouting> | undefined;

  constructor(
    readonly dir: string,
    /** This replica's identity, stamped on every audit record it writes (read at each write). */
    private readonly replica: () => string | undefined = () => undefined,
  ) {
    this.stateFile = path.join(dir, 'routing.json');
    this.log = new AuditLog(path.join(dir, 'audit.jsonl'));
  }

  private stamped(entry: AuditEntry): AuditEntry {
    const replica = this.replica();
    return replica === undefined ? entry : { ...entry, replica };
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async readRouting(): Promise<Record<string, AppliedRouting>> {
    let text: string;
    try {
      text = await readFile(this.stateFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ProgradeError(
        'SERVING_STATE_CORRUPT',
        `${this.stateFile} is not valid JSON: ${messageOf(e)}`,
        'terminal',
        { file: this.stateFile },
      );
    }
    const parsed = StateFile.safeParse(json);
    if (!parsed.success)
      throw new ProgradeError(
        'SERVING_STATE_CORRUPT',
        `${this.stateFile} does not match the state schema: ${parsed.error.message}`,
        'terminal',
        { file: this.stateFile },
      );
    return parsed.data.models;
  }

  /**
   * Boot: reads both files, cuts a torn last audit record off, rolls every audited generation the
   * state file missed forward into it, and audits (marked as backfilled) any generation the state
   * holds without a record. Afterwards the last record of each model is its routing.
   */
  recover(): Promise<Recovery> {
    const next = this.writes.then(async () => {
      const models = await this.readRouting();
      const scan = await this.log.open();
      const last = new Map<string, AuditEntry>();
      for (const entry of scan.entries) {
        const seen = last.get(entry.model);
        if (!seen || entry.generation >= seen.generation) last.set(entry.model, entry);
      }
      const rolledForward: Recovery['rolledForward'] = [];
      for (const [model, entry] of last) {
        const saved = models[model];
        const behind =
          !saved ||
          saved.generation < entry.generation ||
          (saved.generation === entry.generation && !sameSpec(saved.spec, entry.state));
        if (!behind) continue;
        models[model] = appliedOf(entry);
        rolledForward.push({ model, generation: entry.generation, stateGeneration: saved?.generation });
      }
      const backfilled: Recovery['backfilled'] = [];
      for (const [model, saved] of Object.entries(models)) {
        if ((last.get(model)?.generation ?? 0) >= saved.generation) continue;
        await this.log.append({
          ...this.stamped(entryOf(model, saved)),
          backfilledAt: new Date().toISOString(),
        });
        backfilled.push({ model, generation: saved.generation });
      }
      if (rolledForward.length > 0) await this.writeState(models);
      this.committed = { ...models };
      const { tornBytes, invalidLines, salvagedLines } = scan;
      return {
        models,
        audit: { tornBytes, invalidLines, salvagedLines },
        rolledForward,
        backfilled,
        staleTempFiles: await this.removeStaleTempFiles(),
      };
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  /**
   * Commits a model's new routing: the audit record first (the commit point; if it fails, nothing
   * changed and this throws), then the state file checkpoint. A failed checkpoint does not undo the
   * commit, since boot rolls the record forward; it is returned for the caller to log.
   */
  commit(model: string, applied: AppliedRouting): Promise<CommitResult> {
    const next = this.writes.then(async (): Promise<CommitResult> => {
      if (!this.committed) throw new Error('StateStore.commit before recover');
      await this.log.append(this.stamped(entryOf(model, applied)));
      this.committed = { ...this.committed, [model]: applied };
      try {
        await this.writeState(this.committed);
        return {};
      } catch (e) {
        return { checkpointError: e };
      }
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  readAudit(model?: string): Promise<AuditEntry[]> {
    return this.log.read(model);
  }

  private writeState(models: Record<string, AppliedRouting>): Promise<void> {
    const content: StateFile = { schemaVersion: 1, models };
    return writeFileAtomic(this.stateFile, JSON.stringify(content, null, 2) + '\n');
  }

  /** writeFileAtomic's temporary files that a crash left before their rename. */
  private async removeStaleTempFiles(): Promise<number> {
    const prefix = `${path.basename(this.stateFile)}.`;
    const stale = (await readdir(this.dir)).filter((f) => f.startsWith(prefix) && f.endsWith('.tmp'));
    await Promise.all(stale.map((f) => rm(path.join(this.dir, f), { force: true })));
    return stale.length;
  }
}
