import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Deterministic JSON (sorted keys) so equal inputs hash equally whatever order keys were built in. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex');
}

/**
 * A content-addressed store of finished computations on the worker's disk. Gate verdicts are keyed
 * by (model sha256s, dataset sha256, gate config), so an activity retried after a crash reuses what
 * the first attempt finished instead of recomputing — and can never reuse a result for other inputs.
 * Writes go to a temp name and are renamed, so a crash never leaves half an entry.
 */
export class ResultCache {
  hits = 0;
  misses = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private file(key: string, ext: string): string {
    return join(this.dir, `${key}.${ext}`);
  }

  readBytes(key: string, ext = 'bin'): Buffer | undefined {
    try {
      return readFileSync(this.file(key, ext));
    } catch {
      return undefined;
    }
  }

  writeBytes(key: string, bytes: Uint8Array, ext = 'bin'): void {
    const tmp = join(this.dir, `.${key}.${randomUUID()}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, this.file(key, ext));
  }

  async json<T>(parts: unknown, compute: () => Promise<T>): Promise<T> {
    const key = cacheKey(parts);
    const found = this.readBytes(key, 'json');
    if (found) {
      this.hits++;
      return JSON.parse(found.toString('utf8')) as T;
    }
    this.misses++;
    const value = await compute();
    this.writeBytes(key, Buffer.from(JSON.stringify(value)), 'json');
    return value;
  }

  async float32(parts: unknown, compute: () => Promise<Float32Array>): Promise<Float32Array> {
    const key = cacheKey(parts);
    const found = this.readBytes(key, 'f32');
    if (found) {
      this.hits++;
      return new Float32Array(found.buffer.slice(found.byteOffset, found.byteOffset + found.byteLength));
    }
    this.misses++;
    const value = await compute();
    this.writeBytes(key, new Uint8Array(value.buffer, value.byteOffset, value.byteLength), 'f32');
    return value;
  }
}
