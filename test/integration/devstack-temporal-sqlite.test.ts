import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTemporalServer } from '../../src/devstack/temporal-server';

/** The journal mode SQLite reports for the server's database file, read beside the running server. */
function journalMode(db: string): string {
  return execFileSync(
    'python3',
    [
      '-c',
      'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma journal_mode").fetchone()[0])',
      db,
    ],
    { encoding: 'utf8' },
  ).trim();
}

describe("the dev server's SQLite pragmas (the scale benchmark runs write-ahead logging)", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it.each([
    [undefined, 'wal'],
    [['journal_mode=wal', 'synchronous=normal'], 'wal'],
    [[], 'delete'],
  ])(
    'pragmas %j give journal mode %s, and the server answers',
    async (pragmas, expected) => {
      const dir = mkdtempSync(join(tmpdir(), 'prograde-temporal-sqlite-'));
      dirs.push(dir);
      const server = await startTemporalServer({
        dataDir: dir,
        headless: true,
        timeoutMs: 170_000,
        ...(pragmas ? { sqlitePragmas: pragmas } : {}),
      });
      try {
        expect(journalMode(join(dir, 'temporal.db'))).toBe(expected);
      } finally {
        await server.process.stop();
      }
    },
    200_000,
  );
});
