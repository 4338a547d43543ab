import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GENDER_PROXY_OFFSET,
  SAMPLE_FEATURES,
  TRUE_WEIGHTS,
  sampleDataset,
  writeDatasetCsv,
} from '../../src/samples/datasets';
import { seededRng } from '../../src/samples/rng';

const WIDTH = SAMPLE_FEATURES.length;

function column(features: Float32Array, f: number, rows: number): number[] {
  return Array.from({ length: rows }, (_, r) => features[r * WIDTH + f] ?? 0);
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: readonly number[]): number => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prograde-samples-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('seededRng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const c = seededRng(43);
    const xs = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.uniform())).not.toEqual(xs);
  });

  it('draws uniforms in [0,1) and standard normals', () => {
    const rng = seededRng(1);
    const us = Array.from({ length: 20000 }, () => rng.uniform());
    expect(Math.min(...us)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...us)).toBeLessThan(1);
    expect(mean(us)).toBeCloseTo(0.5, 1);
    const zs = Array.from({ length: 20000 }, () => rng.normal());
    expect(Math.abs(mean(zs))).toBeLessThan(0.03);
    expect(Math.abs(sd(zs) - 1)).toBeLessThan(0.03);
  });
});

describe('sampleDataset', () => {
  const ds = sampleDataset({ rows: 8000, seed: 11 });

  it('has 12 features f0..f11, a 0/1 is_fraud label and a gender column', () => {
    expect(ds.featureNames).toEqual(SAMPLE_FEATURES);
    expect(ds.features).toHaveLength(8000 * WIDTH);
    expect(ds.labelName).toBe('is_fraud');
    expect(new Set(ds.labels)).toEqual(new Set([0, 1]));
    expect(new Set(ds.sensitive.gender)).toEqual(new Set(['a', 'b']));
  });

  it('is reproducible from its seed', () => {
    const again = sampleDataset({ rows: 100, seed: 11 });
    expect(again.features).toEqual(sampleDataset({ rows: 100, seed: 11 }).features);
    expect(again.features).not.toEqual(sampleDataset({ rows: 100, seed: 12 }).features);
  });

  it('splits gender about 50/50 and draws f0..f10 from N(0,1)', () => {
    const shareA = (ds.sensitive.gender ?? []).filter((g) => g === 'a').length / ds.rows;
    expect(Math.abs(shareA - 0.5)).toBeLessThan(0.03);
    for (let f = 0; f < 11; f++) {
      const xs = column(ds.features, f, ds.rows);
      expect(Math.abs(mean(xs))).toBeLessThan(0.05);
      expect(Math.abs(sd(xs) - 1)).toBeLessThan(0.05);
    }
  });

  it('makes f11 a gender proxy: ±1.5 by group', () => {
    const f11 = column(ds.features, 11, ds.rows);
    const gender = ds.sensitive.gender ?? [];
    const byGroup = (g: string): number[] => f11.filter((_, r) => gender[r] === g);
    expect(mean(byGroup('a'))).toBeCloseTo(GENDER_PROXY_OFFSET, 1);
    expect(mean(byGroup('b'))).toBeCloseTo(-GENDER_PROXY_OFFSET, 1);
  });

  it('gives both genders the same fraud rate: the label ignores f11', () => {
    expect(TRUE_WEIGHTS[11]).toBe(0);
    const gender = ds.sensitive.gender ?? [];
    const rate = (g: string): number => {
      const ys = Array.from(ds.labels).filter((_, r) => gender[r] === g);
      return mean(ys);
    };
    expect(Math.abs(rate('a') - rate('b'))).toBeLessThan(0.03);
    expect(mean(Array.from(ds.labels))).toBeGreaterThan(0.1);
  });

  it('moves feature means by a shift, and labels follow the shifted features', () => {
    const shifted = sampleDataset({ rows: 8000, seed: 11, shift: 0.5 });
    expect(mean(column(shifted.features, 3, shifted.rows))).toBeCloseTo(0.5, 1);
    const perFeature = sampleDataset({ rows: 8000, seed: 11, shift: [1, ...new Array<number>(11).fill(0)] });
    expect(mean(column(perFeature.features, 0, perFeature.rows))).toBeCloseTo(1, 1);
    expect(mean(column(perFeature.features, 1, perFeature.rows))).toBeCloseTo(0, 1);
    // f0 has a positive true weight, so shifting it up raises the fraud rate.
    expect(mean(Array.from(perFeature.labels))).toBeGreaterThan(mean(Array.from(ds.labels)) + 0.05);
  });

  it('rejects a shift vector of the wrong length', () => {
    expect(() => sampleDataset({ rows: 10, seed: 1, shift: [1, 2] })).toThrow(RangeError);
  });
});

describe('writeDatasetCsv', () => {
  it('writes a header of features, sensitive columns and the label, then one line per row', async () => {
    const ds = sampleDataset({ rows: 3, seed: 5 });
    const path = join(dir, 'three.csv');
    await writeDatasetCsv(ds, path);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines[0]).toBe(`${SAMPLE_FEATURES.join(',')},gender,is_fraud`);
    expect(lines).toHaveLength(4);
    const first = lines[1]?.split(',') ?? [];
    expect(Number(first[0])).toBe(ds.features[0]);
    expect(first[12]).toBe(ds.sensitive.gender?.[0]);
    expect(Number(first[13])).toBe(ds.labels[0]);
  });
});
