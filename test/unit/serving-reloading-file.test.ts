import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ReloadingFile } from '../../src/serving/reloading-file';

const dir = mkdtempSync(path.join(tmpdir(), 'prograde-reloading-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup(name: string, text: string) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  const lines: Record<string, unknown>[] = [];
  const events: string[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const open = () =>
    ReloadingFile.open({
      files: [file],
      // A stand-in parser: a number per file, refusing anything else.
      parse: ([bytes]) => {
        const n = Number(bytes?.toString('utf8'));
        if (!Number.isInteger(n)) throw new Error('not a number');
        return n;
      },
      what: 'numbers',
      intervalMs: 3_600_000,
      logger,
      onReload: (v) => events.push(`applied ${v}`),
      onReloadFailed: () => events.push('refused'),
    });
  const replace = (t: string): void => {
    writeFileSync(`${file}.new`, t);
    renameSync(`${file}.new`, file);
  };
  return { file, lines, events, open, replace };
}

describe('reloading file', () => {
  it('applies a valid change, keeps the old value on a broken one, and reports each change once', async () => {
    const { events, lines, open, replace } = setup('a', '1');
    const f = await open();
    try {
      expect(f.current).toBe(1);
      await f.poll();
      expect(events).toEqual([]);
      replace('2');
      await f.poll();
      expect(f.current).toBe(2);
      replace('two');
      await f.poll();
      await f.poll();
      expect(f.current).toBe(2);
      expect(events).toEqual(['applied 2', 'refused']);
      expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
      replace('3');
      await f.poll();
      expect(f.current).toBe(3);
    } finally {
      f.close();
    }
  });

  it('keeps the value when the file disappears, and takes it back when it returns', async () => {
    const { file, events, open, replace } = setup('b', '5');
    const f = await open();
    try {
      unlinkSync(file);
      await f.poll();
      expect(f.current).toBe(5);
      expect(events).toEqual(['refused']);
      replace('6');
      await f.poll();
      expect(f.current).toBe(6);
    } finally {
      f.close();
    }
  });

  it('refuses to open a missing or broken file', async () => {
    const { open } = setup('c', 'x');
    await expect(open()).rejects.toThrow('not a number');
    await expect(
      ReloadingFile.open({
        files: [path.join(dir, 'missing')],
        parse: () => 0,
        what: 'x',
        intervalMs: 1000,
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toMatchObject({ code: 'INPUT_FILE_INVALID' });
  });
});
