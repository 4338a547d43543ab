import { open, mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ProgradeError, messageOf } from '../errors';
import { AppliedRouting } from './desired-state';
import { ModelName, RoutingSpec } from './routing';

const StateFile = z.strictObject({
  schemaVersion: z.literal(1),
  models: z.record(ModelName, AppliedRouting),
});
type StateFile = z.infer<typeof StateFile>;

const AuditEntry = z.strictObject({
  at: z.string(),
  model: ModelName,
  generation: z.number().int().min(1),
  state: RoutingSpec,
  actor: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

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

/**
 * The gateway's durable state: the applied routing of every model (one JSON file, replaced
 * atomically) and the append-only audit log of applied changes (JSONL).
 */
export class StateStore {
  private readonly stateFile: string;
  private readonly auditFile: string;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {
    this.stateFile = path.join(dir, 'routing.json');
    this.auditFile = path.join(dir, 'audit.jsonl');
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

  /** Serialised so two models applied at once cannot interleave their writes. */
  writeRouting(models: Record<string, AppliedRouting>): Promise<void> {
    const content: StateFile = { schemaVersion: 1, models };
    const next = this.writes.then(() =>
      writeFileAtomic(this.stateFile, JSON.stringify(content, null, 2) + '\n'),
    );
    this.writes = next.catch(() => undefined);
    return next;
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    const next = this.writes.then(async () => {
      const handle = await open(this.auditFile, 'a');
      try {
        await handle.appendFile(JSON.stringify(entry) + '\n');
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  async readAudit(model?: string): Promise<AuditEntry[]> {
    let text: string;
    try {
      text = await readFile(this.auditFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const entries: AuditEntry[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      // A torn last line (crash mid-append) is skipped rather than failing the whole log.
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        continue;
      }
      const parsed = AuditEntry.safeParse(json);
      if (parsed.success && (model === undefined || parsed.data.model === model)) entries.push(parsed.data);
    }
    return entries;
  }
}
