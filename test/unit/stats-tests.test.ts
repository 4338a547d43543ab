import { beforeAll, describe, expect, it } from 'vitest';
import { NonFiniteInputError, StatisticUndefinedError } from '../../src/stats/errors';
import { createRng } from '../../src/stats/rng';
import {
  hodgesLehmann,
  mannWhitneyU,
  mcnemar,
  mcnemarFromCorrectness,
  twoProportionZTest,
  type Alternative,
} from '../../src/stats/tests';
import { oracleValue, runOracle, type OracleAnswer, type OracleCase } from '../oracles/stats-oracle-client';

const rng = createRng(31337);
const samples: Record<string, { x: Float64Array; y: Float64Array }> = {
  continuous: {
    x: Float64Array.from({ length: 80 }, () => rng.normal(10.3, 2)),
    y: Float64Array.from({ length: 120 }, () => rng.normal(10, 2)),
  },
  // Latencies in whole milliseconds: many ties across and within samples.
  ties: {
    x: Float64Array.from({ length: 60 }, () => rng.intBetween(20, 30)),
    y: Float64Array.from({ length: 75 }, () => rng.intBetween(19, 28)),
  },
  small: { x: Float64Array.from([1.5, 2, 9]), y: Float64Array.from([3, 3, 4, 0.5]) },
};
const alternatives: Alternative[] = ['two-sided', 'greater', 'less'];
const proportions = [
  { x1: 45, n1: 500, x2: 30, n2: 480 },
  { x1: 3, n1: 40, x2: 9, n2: 41 },
  { x1: 500, n1: 1000, x2: 500, n2: 1000 },
];
const mcnemarCounts = [
  { b: 0, c: 0 },
  { b: 3, c: 9 },
  { b: 12, c: 12 },
  { b: 24, c: 0 },
  { b: 13, c: 12 },
  { b: 40, c: 25 },
  { b: 200, c: 260 },
];

const cases: OracleCase[] = [];
for (const [id, s] of Object.entries(samples)) {
  for (const alternative of alternatives)
    cases.push({ id: `mwu:${id}:${alternative}`, fn: 'mwu', args: { ...s, alternative } });
  cases.push({ id: `hl:${id}`, fn: 'hodges_lehmann', args: s });
}
proportions.forEach((p, i) => {
  for (const alternative of alternatives)
    cases.push({ id: `z:${i}:${alternative}`, fn: 'ztest', args: { ...p, alternative } });
});
mcnemarCounts.forEach((m, i) => cases.push({ id: `mcnemar:${i}`, fn: 'mcnemar', args: m }));

let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle(cases);
});

describe('Mann–Whitney U – asymptotic, tie-corrected, continuity-corrected', () => {
  for (const [id, s] of Object.entries(samples)) {
    it(`matches scipy mannwhitneyu(method='asymptotic') on ${id} samples for every alternative`, () => {
      for (const alternative of alternatives) {
        const expected = oracleValue<{ statistic: number; pValue: number }>(
          oracle,
          `mwu:${id}:${alternative}`,
        );
        const r = mannWhitneyU(s.x, s.y, alternative);
        expect(r.statistic, alternative).toBeCloseTo(expected.statistic, 9);
        expect(r.pValue, alternative).toBeCloseTo(expected.pValue, 12);
      }
    });
  }

  it('returns p = 1 when every value is tied', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5], 'two-sided')).toMatchObject({ statistic: 3, pValue: 1 });
  });

  it('refuses NaN input', () => {
    expect(() => mannWhitneyU([1, NaN], [2])).toThrow(NonFiniteInputError);
  });
});

describe('Hodges–Lehmann shift estimate', () => {
  for (const id of Object.keys(samples)) {
    it(`equals the median of pairwise differences (numpy) on ${id} samples`, () => {
      const s = samples[id]!;
      expect(hodgesLehmann(s.x, s.y)).toBeCloseTo(oracleValue<number>(oracle, `hl:${id}`), 12);
    });
  }
});

describe('two-proportion z-test (pooled)', () => {
  it('matches the pooled formula with scipy normal tails for every alternative', () => {
    proportions.forEach((p, i) => {
      for (const alternative of alternatives) {
        const expected = oracleValue<{ statistic: number; pValue: number }>(oracle, `z:${i}:${alternative}`);
        const r = twoProportionZTest(p.x1, p.n1, p.x2, p.n2, alternative);
        expect(r.statistic).toBeCloseTo(expected.statistic, 12);
        expect(r.pValue).toBeCloseTo(expected.pValue, 12);
      }
    });
  });

  it('is undefined when both samples are all successes', () => {
    expect(() => twoProportionZTest(10, 10, 20, 20)).toThrow(StatisticUndefinedError);
    expect(() => twoProportionZTest(11, 10, 2, 20)).toThrow(/within 0..trials/);
  });
});

describe('McNemar test', () => {
  it('matches scipy: exact binomial below 25 discordant pairs, chi-squared with continuity above', () => {
    mcnemarCounts.forEach((m, i) => {
      const expected = oracleValue<{ statistic: number; pValue: number }>(oracle, `mcnemar:${i}`);
      const r = mcnemar(m.b, m.c);
      expect(r.method).toBe(m.b + m.c < 25 ? 'exact' : 'chi2');
      expect(r.statistic).toBeCloseTo(expected.statistic, 12);
      expect(r.pValue).toBeCloseTo(expected.pValue, 12);
    });
  });

  it('counts discordant pairs from per-row correctness', () => {
    const r = mcnemarFromCorrectness([true, true, false, false, true], [true, false, true, true, false]);
    expect(r).toMatchObject({ b: 2, c: 2, method: 'exact', pValue: 1 });
  });
});
