import { beforeAll, describe, expect, it } from 'vitest';
import { NonFiniteInputError } from '../../src/stats/errors';
import {
  driftReport,
  histogram,
  jensenShannonDistance,
  ks2Sample,
  psi,
  PSI_EPSILON,
  quantileEdges,
} from '../../src/stats/drift';
import { createRng } from '../../src/stats/rng';
import { oracleValue, runOracle, type OracleAnswer, type OracleCase } from '../oracles/stats-oracle-client';

const rng = createRng(555);
const normal = (n: number, mean: number, sd: number): Float64Array =>
  Float64Array.from({ length: n }, () => rng.normal(mean, sd));
const rounded = (xs: Float64Array, decimals: number): Float64Array =>
  xs.map((x) => Math.round(x * 10 ** decimals) / 10 ** decimals);

const pairs: Record<string, { reference: Float64Array; current: Float64Array; bins: number }> = {
  same: { reference: normal(2000, 0, 1), current: normal(1500, 0, 1), bins: 10 },
  shifted: { reference: normal(1200, 0, 1), current: normal(900, 0.4, 1.3), bins: 10 },
  // Rounded to one decimal: the reference has tied quantiles, so bins merge.
  ties: { reference: rounded(normal(800, 0, 0.3), 1), current: rounded(normal(700, 0.1, 0.3), 1), bins: 20 },
  // Current falls almost entirely into one tail bin: empty bins exercise the PSI floor.
  disjoint: { reference: normal(500, 0, 1), current: normal(300, 6, 0.2), bins: 10 },
};
const ksPairs: Record<string, { x: Float64Array; y: Float64Array }> = {
  unequal: { x: normal(300, 0, 1), y: normal(451, 0.15, 1) },
  equal: { x: normal(250, 0, 1), y: normal(250, 0.3, 1) },
  ties: { x: rounded(normal(200, 0, 1), 1), y: rounded(normal(330, 0, 1.1), 1) },
  tiny: { x: Float64Array.from([1, 2, 3]), y: Float64Array.from([2.5, 4, 5, 6]) },
  farApart: { x: normal(60, 0, 1), y: normal(70, 3, 1) },
};

const cases: OracleCase[] = [
  ...Object.entries(pairs).map(([id, p]) => ({ id, fn: 'psi', args: { ...p, epsilon: PSI_EPSILON } })),
  ...Object.entries(ksPairs).map(([id, p]) => ({
    id: `ks:${id}`,
    fn: 'ks',
    args: { ...p, method: 'exact' },
  })),
];

let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle(cases);
});

describe('drift – PSI and Jensen–Shannon over reference-quantile bins', () => {
  for (const [id, p] of Object.entries(pairs)) {
    it(`matches the numpy/scipy computation on ${id} samples to 1e-9`, () => {
      const expected = oracleValue<{ psi: number; js: number; edges: number[] }>(oracle, id);
      const h = histogram(p.reference, p.current, p.bins);
      expect(h.edges).toHaveLength(expected.edges.length);
      h.edges.forEach((e, i) => expect(e).toBeCloseTo(expected.edges[i]!, 12));
      expect(psi(p.reference, p.current, p.bins)).toBeCloseTo(expected.psi, 9);
      expect(jensenShannonDistance(h.reference, h.current)).toBeCloseTo(expected.js, 9);
    });
  }

  it('is zero for identical samples and grows with the shift', () => {
    const ref = pairs.same!.reference;
    expect(psi(ref, ref)).toBe(0);
    expect(jensenShannonDistance([0.5, 0.5], [0.5, 0.5])).toBe(0);
    expect(psi(ref, pairs.shifted!.current)).toBeGreaterThan(psi(ref, pairs.same!.current));
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(1, 12);
  });

  it('merges bins whose reference quantiles coincide', () => {
    expect(quantileEdges([1, 1, 1, 1, 2], 4)).toEqual([1]);
  });

  it('refuses NaN in either sample, naming the sample', () => {
    expect(() => psi([1, 2, NaN], [1, 2])).toThrow(NonFiniteInputError);
    expect(() => psi([1, 2, 3], [NaN])).toThrow(/current sample/);
  });
});

describe('drift – two-sample Kolmogorov–Smirnov', () => {
  for (const [id, p] of Object.entries(ksPairs)) {
    it(`matches scipy ks_2samp(method='exact') on ${id} samples`, () => {
      const expected = oracleValue<{ statistic: number; pValue: number }>(oracle, `ks:${id}`);
      const r = ks2Sample(p.x, p.y);
      expect(r.method).toBe('exact');
      expect(r.statistic).toBeCloseTo(expected.statistic, 12);
      // Both sides compute 1 − P(inside); 1e-9 absolute covers the rounding of a long recursion.
      expect(Math.abs(r.pValue - expected.pValue)).toBeLessThan(1e-9);
    });
  }

  it('gives p = 1 for identical samples and a small p for clearly shifted ones', () => {
    const x = ksPairs.equal!.x;
    expect(ks2Sample(x, x)).toMatchObject({ statistic: 0, pValue: 1 });
    expect(ks2Sample(ksPairs.farApart!.x, ksPairs.farApart!.y).pValue).toBeLessThan(1e-10);
  });

  it('switches to the asymptotic distribution for very large samples', () => {
    const big = createRng(3);
    const a = Float64Array.from({ length: 12_000 }, () => big.normal());
    const b = Float64Array.from({ length: 9_000 }, () => big.normal(0.05, 1));
    const r = ks2Sample(a, b);
    expect(r.method).toBe('asymptotic');
    expect(r.pValue).toBeGreaterThan(0);
    expect(r.pValue).toBeLessThan(1);
  });

  it('bundles PSI, JS and KS in one report', () => {
    const p = pairs.shifted!;
    const report = driftReport(p.reference, p.current);
    expect(report.psi).toBeCloseTo(oracleValue<{ psi: number }>(oracle, 'shifted').psi, 9);
    expect(report.histogram.reference).toHaveLength(10);
    expect(report.ks.statistic).toBeGreaterThan(0);
  });
});
