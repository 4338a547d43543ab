import { beforeAll, describe, expect, it } from 'vitest';
import { NonFiniteInputError } from '../../src/stats/errors';
import { normalCdf, normalQuantile, normalSf, quantile, quantiles } from '../../src/stats/quantile';
import { createRng } from '../../src/stats/rng';
import { oracleValue, runOracle, type OracleAnswer } from '../oracles/stats-oracle-client';

const rng = createRng(7);
const continuous = Float64Array.from({ length: 1001 }, () => rng.normal(3, 2));
const tied = Float64Array.from({ length: 250 }, () => rng.int(6));
const levels = [0, 0.01, 0.05, 0.1, 0.25, 0.333, 0.5, 0.75, 0.9, 0.95, 0.99, 1];
const zs = [-37, -30, -12, -8.5, -5, -3, -2.5, -1.96, -1, -0.3, 0, 1e-5, 0.3, 1, 1.6449, 2.5, 3, 5, 8, 12];
const ps = [
  1e-300,
  1e-100,
  1e-20,
  1e-10,
  1e-5,
  0.001,
  0.01,
  0.02425,
  0.025,
  0.1,
  0.3,
  0.5,
  0.7,
  0.9,
  0.975,
  0.99,
  0.999,
  1 - 1e-9,
];

let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle([
    { id: 'continuous', fn: 'quantile', args: { values: continuous, ps: levels } },
    { id: 'tied', fn: 'quantile', args: { values: tied, ps: levels } },
    { id: 'norm', fn: 'norm', args: { zs, ps } },
  ]);
});

/** Relative closeness, for tail probabilities that span hundreds of orders of magnitude. */
function expectRelClose(actual: number, expected: number, rel: number, label: string): void {
  if (expected === 0) expect(Math.abs(actual), label).toBeLessThan(1e-300);
  else expect(Math.abs(actual - expected) / Math.abs(expected), label).toBeLessThan(rel);
}

describe('quantile – numpy linear interpolation', () => {
  it('matches numpy.quantile on continuous data and on heavily tied data', () => {
    for (const name of ['continuous', 'tied'] as const) {
      const values = name === 'continuous' ? continuous : tied;
      const expected = oracleValue<number[]>(oracle, name);
      quantiles(values, levels).forEach((q, i) =>
        expect(q, `${name} p=${levels[i]}`).toBeCloseTo(expected[i]!, 12),
      );
    }
  });

  it('interpolates between order statistics and returns the extremes at 0 and 1', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([4, 1], 0)).toBe(1);
    expect(quantile([4, 1], 1)).toBe(4);
    expect(quantile([5], 0.3)).toBe(5);
  });

  it('rejects NaN input and out-of-range levels', () => {
    expect(() => quantile([1, NaN], 0.5)).toThrow(NonFiniteInputError);
    expect(() => quantile([1, 2], 1.5)).toThrow(/\[0, 1\]/);
    expect(() => quantile([], 0.5)).toThrow(/empty/);
  });
});

describe('normal distribution – agreement with scipy.stats.norm', () => {
  it('computes the CDF and survival function to 1e-12 relative, deep into both tails', () => {
    const { cdf, sf } = oracleValue<{ cdf: number[]; sf: number[] }>(oracle, 'norm');
    zs.forEach((z, i) => {
      expectRelClose(normalCdf(z), cdf[i]!, 1e-12, `cdf(${z})`);
      expectRelClose(normalSf(z), sf[i]!, 1e-12, `sf(${z})`);
    });
  });

  it('inverts the CDF to 1e-12 relative (absolute near 0)', () => {
    const { ppf } = oracleValue<{ ppf: number[] }>(oracle, 'norm');
    ps.forEach((p, i) => {
      const expected = ppf[i]!;
      const actual = normalQuantile(p);
      if (Math.abs(expected) < 1e-3) expect(Math.abs(actual - expected), `ppf(${p})`).toBeLessThan(1e-13);
      else expectRelClose(actual, expected, 1e-12, `ppf(${p})`);
    });
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
  });
});

describe('seeded rng – reproducibility', () => {
  it('produces the same stream for the same seed and a different one for another seed', () => {
    const draw = (seed: number): number[] => {
      const r = createRng(seed);
      return [r.nextUint32(), r.uniform(), r.normal(), r.int(1000), r.intBetween(-5, 5)];
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('keeps a pinned stream so a retried activity reproduces old results', () => {
    const r = createRng(1);
    // Pinned from the implementation; a change here changes every recorded bootstrap verdict.
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual(PINNED_SEED_1);
  });

  it('draws integers in range with roughly equal frequency and normals with mean 0 and sd 1', () => {
    const r = createRng(99);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]! += 1;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400); // > 4 sd
    let sum = 0;
    let sumSq = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      sum += z;
      sumSq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.02);
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.03);
    for (let i = 0; i < 1000; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      const k = r.intBetween(3, 5);
      expect([3, 4, 5]).toContain(k);
    }
  });
});

const PINNED_SEED_1 = [2442144158, 3238099751, 3819917871];
