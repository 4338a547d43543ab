import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import { loadDatasetCsv, parseDatasetCsv, type ReadDatasetCsvOptions } from '../../src/dataset/csv';

// Holdout files as people export them from spreadsheets and pandas: what is read, and what is refused
// with a message that says what to change.

const OPTS: ReadDatasetCsvOptions = { label: 'y', features: ['a', 'b'], sensitive: ['g'] };

function errorOf(text: string, options: ReadDatasetCsvOptions = OPTS): ProgradeError {
  try {
    parseDatasetCsv(text, 'h.csv', options);
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error('parseDatasetCsv accepted invalid input');
}

async function refusalOf(path: string, maxBytes?: number): Promise<ProgradeError> {
  try {
    await loadDatasetCsv(path, OPTS, maxBytes);
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error(`loadDatasetCsv accepted ${path}`);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prograde-newcomer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('numbers as pandas reads them', () => {
  it('refuses hexadecimal, binary, octal and Infinity instead of reading them as numbers', () => {
    for (const raw of ['0x10', '0b1', '0o7', 'Infinity', '-Infinity', '1_000', '1e', '.', '+-1']) {
      const e = errorOf(`a,b,y,g\n${raw},2,1,x\n`);
      expect(e.code).toBe('DATASET_INVALID');
      expect(e.message).toContain(`column 'a' has '${raw}', which is not a finite number`);
    }
  });

  it('reads every decimal spelling pandas reads', () => {
    const cells = ['1', '-2.5', '+3', '.5', '4.', '1e3', '-1.5E-2', ' 7 '];
    const text = `a,b,y,g\n${cells.map((c) => `${c},0,1,x`).join('\n')}\n`;
    const ds = parseDatasetCsv(text, 'h.csv', OPTS);
    const firsts = Array.from(ds.features).filter((_, i) => i % 2 === 0);
    expect(firsts).toEqual([1, -2.5, 3, 0.5, 4, 1000, -0.015, 7].map((v) => Math.fround(v)));
  });

  it('reads labels written 1.0 / 0.0', () => {
    expect(Array.from(parseDatasetCsv('a,b,y,g\n1,2,1.0,x\n3,4,0.0,z\n', 'h.csv', OPTS).labels)).toEqual([
      1, 0,
    ]);
  });
});

describe('messages that say what to change', () => {
  it('a yes/no label says to write the positive class as 1', () => {
    const e = errorOf('a,b,y,g\n1,2,yes,x\n');
    expect(e.message).toBe(
      "h.csv: line 2: label column 'y' has 'yes', expected 0 or 1 (write the positive class as 1 and the other as 0, e.g. yes/no or true/false)",
    );
  });

  it('a label 2 says multiclass models are not judged', () => {
    expect(errorOf('a,b,y,g\n1,2,2,x\n').message).toContain('not multiclass models');
  });

  it('a file separated by semicolons or tabs says so', () => {
    expect(errorOf('a;b;y;g\n1;2;1;x\n').message).toMatch(
      /looks separated by semicolons: prograde reads comma-separated/,
    );
    expect(errorOf('a\tb\ty\tg\n1\t2\t1\tx\n').message).toMatch(/looks separated by tabs/);
  });
});

describe('header columns', () => {
  it('allows a repeated name in a column the spec does not use, refuses it in one it uses', () => {
    const ds = parseDatasetCsv(',a,b,y,g,,\n0,1,2,1,x,,\n', 'h.csv', OPTS);
    expect(Array.from(ds.features)).toEqual([1, 2]);
    const e = errorOf('a,b,a,y,g\n1,2,3,1,x\n');
    expect(e.message).toBe("h.csv: line 1: column 'a' appears twice in the header");
    expect(e.details).toMatchObject({ line: 1, column: 'a' });
  });
});

describe('loadDatasetCsv', () => {
  it('hashes exactly the bytes it parses', async () => {
    const text = '\ufeffa,b,y,g\r\n1,2,1,"x, inc"\r\n3,4,0,z\r\n';
    const path = join(dir, 'ok.csv');
    await writeFile(path, text);
    const { dataset, sha256 } = await loadDatasetCsv(path, OPTS);
    expect(sha256).toBe(createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex'));
    expect(dataset.sensitive['g']).toEqual(['x, inc', 'z']);
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = join(dir, 'pipe.csv');
    execFileSync('mkfifo', [fifo]);
    await expect(loadDatasetCsv(fifo, OPTS)).rejects.toMatchObject({
      code: 'DATASET_INVALID',
      message: `${fifo}: the dataset file is a named pipe (FIFO), not a regular file`,
    });
  });

  it('refuses a device and a directory without reading them', async () => {
    const zero = join(dir, 'zero.csv');
    await symlink('/dev/zero', zero);
    const device = await refusalOf(zero);
    expect(device.code).toBe('DATASET_INVALID');
    expect(device.message).toContain('is a character device, not a regular file');
    expect((await refusalOf(dir)).message).toContain('is a directory');
  });

  it('refuses a file over the limit, saying the limit', async () => {
    const path = join(dir, 'big.csv');
    await writeFile(path, 'a,b,y,g\n1,2,1,x\n');
    const big = await refusalOf(path, 10);
    expect(big.code).toBe('DATASET_INVALID');
    expect(big.message).toMatch(/over the limit of 10 bytes.*at most 10 bytes/);
  });

  it('refuses UTF-16 and Latin-1 files, asking for UTF-8', async () => {
    const utf16 = join(dir, 'u16.csv');
    await writeFile(
      utf16,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b,y,g\n1,2,1,x\n', 'utf16le')]),
    );
    await expect(loadDatasetCsv(utf16, OPTS)).rejects.toMatchObject({
      message: `${utf16}: the file is UTF-16 (or UTF-32) text; save it as UTF-8`,
    });
    const latin1 = join(dir, 'l1.csv');
    await writeFile(latin1, Buffer.from('a,b,y,g\n1,2,1,Jos\xe9\n', 'latin1'));
    const latin = await refusalOf(latin1);
    expect(latin.code).toBe('DATASET_INVALID');
    expect(latin.message).toContain('not UTF-8 text');
  });
});
