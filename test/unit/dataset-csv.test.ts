import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgradeError } from '../../src/errors';
import {
  datasetSha256,
  parseDatasetCsv,
  readDatasetCsv,
  type ReadDatasetCsvOptions,
} from '../../src/dataset/csv';
import { csvRecords } from '../../src/dataset/csv-records';
import { SAMPLE_FEATURES, sampleDataset, writeDatasetCsv } from '../../src/samples/datasets';

const OPTS: ReadDatasetCsvOptions = { label: 'y', features: ['x1', 'x2'], sensitive: ['group'] };

function errorOf(text: string, options: ReadDatasetCsvOptions = OPTS): ProgradeError {
  try {
    parseDatasetCsv(text, 'eval.csv', options);
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error('parseDatasetCsv accepted invalid input');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prograde-dataset-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('csvRecords', () => {
  it('splits fields on commas and records on LF or CRLF, numbering lines from 1', () => {
    expect([...csvRecords('a,b\r\n1,2\n3,4')]).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['1', '2'] },
      { line: 3, fields: ['3', '4'] },
    ]);
  });

  it('reads quoted fields with commas, newlines and doubled quotes, and counts the lines they span', () => {
    const records = [...csvRecords('name,note\n"Smith, J","said ""hi""\nthen left"\nx,y\n')];
    expect(records).toEqual([
      { line: 1, fields: ['name', 'note'] },
      { line: 2, fields: ['Smith, J', 'said "hi"\nthen left'] },
      { line: 4, fields: ['x', 'y'] },
    ]);
  });

  it('keeps empty fields, skips blank lines and ignores a byte-order mark', () => {
    expect([...csvRecords('\ufeffa,,c\n\n,\n')]).toEqual([
      { line: 1, fields: ['a', '', 'c'] },
      { line: 3, fields: ['', ''] },
    ]);
  });

  it('rejects a quote that is never closed, naming the line it opened on', () => {
    expect(() => [...csvRecords('a\n"open\nstill open')]).toThrow(/opened on line 2 is never closed/);
  });
});

describe('readDatasetCsv', () => {
  it('reads the features in the requested order, the label and sensitive columns', () => {
    const ds = parseDatasetCsv('group,x2,y,x1\na,2.5,1,-1\n"b",0,0,3e-1\n', 'eval.csv', OPTS);
    expect(ds.featureNames).toEqual(['x1', 'x2']);
    expect(ds.rows).toBe(2);
    expect(Array.from(ds.features)).toEqual([-1, 2.5, Math.fround(0.3), 0]);
    expect(Array.from(ds.labels)).toEqual([1, 0]);
    expect(ds.labelName).toBe('y');
    expect(ds.sensitive).toEqual({ group: ['a', 'b'] });
  });

  it('round-trips a sample dataset written by writeDatasetCsv', async () => {
    const original = sampleDataset({ rows: 250, seed: 3 });
    const path = join(dir, 'sample.csv');
    await writeDatasetCsv(original, path);
    const read = await readDatasetCsv(path, {
      label: 'is_fraud',
      features: SAMPLE_FEATURES,
      sensitive: ['gender'],
    });
    expect(read.features).toEqual(original.features);
    expect(read.labels).toEqual(original.labels);
    expect(read.sensitive).toEqual(original.sensitive);
  });

  it('stops after maxRows data rows', () => {
    const ds = parseDatasetCsv('x1,x2,y,group\n1,1,1,a\n2,2,0,b\n3,3,1,a\n', 'eval.csv', {
      ...OPTS,
      maxRows: 2,
    });
    expect(ds.rows).toBe(2);
    expect(Array.from(ds.labels)).toEqual([1, 0]);
  });

  it('accepts any finite label for regression', () => {
    const ds = parseDatasetCsv('x1,x2,y,group\n1,1,3.75,a\n', 'eval.csv', { ...OPTS, task: 'regression' });
    expect(Array.from(ds.labels)).toEqual([3.75]);
  });

  it('names file, line and column for a missing column', () => {
    const error = errorOf('x1,y,group\n1,1,a\n');
    expect(error.code).toBe('DATASET_INVALID');
    expect(error.retry).toBe('terminal');
    expect(error.message).toBe("eval.csv: line 1: column 'x2' is missing from the header (x1, y, group)");
    expect(error.details).toMatchObject({ file: 'eval.csv', line: 1, column: 'x2' });
  });

  it('names file, line and column for a non-numeric or empty feature value', () => {
    const error = errorOf('x1,x2,y,group\n1,2,0,a\n1,abc,1,b\n');
    expect(error.message).toBe("eval.csv: line 3: column 'x2' has 'abc', which is not a finite number");
    expect(error.details).toMatchObject({ line: 3, column: 'x2', value: 'abc' });
    expect(errorOf('x1,x2,y,group\n,2,0,a\n').details).toMatchObject({ line: 2, column: 'x1' });
  });

  it('rejects a classification label that is not 0 or 1', () => {
    const error = errorOf('x1,x2,y,group\n1,2,2,a\n');
    expect(error.message).toMatch(
      /^eval\.csv: line 2: label column 'y' has '2', expected 0 or 1 \(.*not multiclass/,
    );
    expect(errorOf('x1,x2,y,group\n1,2,yes,a\n').details).toMatchObject({ column: 'y', value: 'yes' });
  });

  it('rejects an empty file and a header without rows', () => {
    expect(errorOf('').message).toMatch(/eval.csv: the file is empty/);
    expect(errorOf('\n\n').code).toBe('DATASET_INVALID');
    expect(errorOf('x1,x2,y,group\n').message).toMatch(/header but no data rows/);
  });

  it('rejects a row with the wrong number of fields and a duplicated header column', () => {
    expect(errorOf('x1,x2,y,group\n1,2,0\n').message).toBe(
      'eval.csv: line 2: has 3 fields but the header has 4',
    );
    expect(errorOf('x1,x2,x1,y,group\n1,2,3,0,a\n').message).toMatch(/column 'x1' appears twice/);
  });

  it('reports an unclosed quote as DATASET_INVALID with its line', () => {
    const error = errorOf('x1,x2,y,group\n1,2,0,"a\n');
    expect(error.code).toBe('DATASET_INVALID');
    expect(error.details).toMatchObject({ line: 2 });
  });

  it('reports a file it cannot read as DATASET_INVALID naming the path', async () => {
    const missing = join(dir, 'nope.csv');
    await expect(readDatasetCsv(missing, OPTS)).rejects.toMatchObject({
      code: 'DATASET_INVALID',
      details: { file: missing },
    });
  });
});

describe('datasetSha256', () => {
  it('hashes the file bytes', async () => {
    const path = join(dir, 'abc.csv');
    await writeFile(path, 'abc');
    expect(await datasetSha256(path)).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
