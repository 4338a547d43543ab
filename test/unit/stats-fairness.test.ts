import { beforeAll, describe, expect, it } from 'vitest';
import { FairnessMetric } from '../../src/spec/gates-schema';
import { NonFiniteInputError } from '../../src/stats/errors';
import { fairnessMetric, groupRates } from '../../src/stats/fairness';
import { createRng } from '../../src/stats/rng';
import {
  classifierData,
  oracleValue,
  runOracle,
  type OracleAnswer,
  type OracleCase,
} from '../oracles/stats-oracle-client';

const rng = createRng(4242);
const threshold = 0.5;
const metrics = FairnessMetric.options;

/** Imbalanced groups: a large majority, mid-sized minorities, and one group below the size limit. */
function population(): { scores: Float64Array; labels: Float64Array; region: string[] } {
  const sizes: Record<string, number> = { north: 900, south: 260, east: 120, islands: 12 };
  const shift: Record<string, number> = { north: 0, south: -0.08, east: 0.05, islands: 0.3 };
  const scores: number[] = [];
  const labels: number[] = [];
  const region: string[] = [];
  for (const [g, n] of Object.entries(sizes)) {
    const d = classifierData(rng, n, { positiveRate: g === 'east' ? 0.15 : 0.4 });
    d.scores.forEach((s, i) => {
      scores.push(Math.min(1, Math.max(0, s + shift[g]!)));
      labels.push(d.labels[i]!);
      region.push(g);
    });
  }
  return { scores: Float64Array.from(scores), labels: Float64Array.from(labels), region };
}
const data = population();
const minGroupSize = 30;
const judgedRows = data.region.map((g, i) => (g === 'islands' ? -1 : i)).filter((i) => i >= 0);
const judged = {
  scores: judgedRows.map((i) => data.scores[i]!),
  labels: judgedRows.map((i) => data.labels[i]!),
  groups: judgedRows.map((i) => data.region[i]!),
};
// A group with no positive labels: Fairlearn gives it TPR 0.
const noPositives = {
  scores: [0.9, 0.2, 0.7, 0.1, 0.8, 0.6],
  labels: [1, 0, 1, 0, 0, 0],
  groups: ['a', 'a', 'a', 'b', 'b', 'b'],
};

const cases: OracleCase[] = [
  ...metrics.map((metric) => ({
    id: `judged:${metric}`,
    fn: 'fairness',
    args: { metric, threshold, ...judged },
  })),
  ...metrics.map((metric) => ({
    id: `noPos:${metric}`,
    fn: 'fairness',
    args: { metric, threshold, ...noPositives },
  })),
  { id: 'rates', fn: 'group_rates', args: { ...data, groups: data.region, threshold } },
];

let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle(cases);
});

describe('fairness – agreement with fairlearn', () => {
  it('computes per-group selection rate, TPR, FPR and count like MetricFrame', () => {
    const expected = oracleValue<
      Record<string, { selectionRate: number; tpr: number; fpr: number; count: number }>
    >(oracle, 'rates');
    const rows = groupRates(data.scores, data.labels, threshold, data.region, minGroupSize);
    expect(rows.map((r) => r.group)).toEqual(['east', 'islands', 'north', 'south']);
    for (const r of rows) {
      const e = expected[r.group]!;
      expect(r.count).toBe(e.count);
      expect(r.selectionRate).toBeCloseTo(e.selectionRate, 12);
      expect(r.tpr).toBeCloseTo(e.tpr, 12);
      expect(r.fpr).toBeCloseTo(e.fpr, 12);
      expect(r.judged).toBe(r.group !== 'islands');
    }
  });

  for (const metric of metrics) {
    it(`matches fairlearn ${metric} over the groups that reach the minimum size`, () => {
      const r = fairnessMetric(metric, data.scores, data.labels, threshold, data.region, minGroupSize);
      expect(r.status).toBe('measured');
      if (r.status === 'measured')
        expect(r.value).toBeCloseTo(oracleValue<number>(oracle, `judged:${metric}`), 12);
      expect(r.groups).toHaveLength(4); // the small group is still reported
    });
  }

  it('treats the TPR of a group without positives as 0, as fairlearn does', () => {
    for (const metric of metrics) {
      const r = fairnessMetric(
        metric,
        noPositives.scores,
        noPositives.labels,
        threshold,
        noPositives.groups,
        1,
      );
      expect(r.status).toBe('measured');
      if (r.status === 'measured')
        expect(r.value, metric).toBeCloseTo(oracleValue<number>(oracle, `noPos:${metric}`), 12);
    }
  });
});

describe('fairness – when it cannot judge', () => {
  it('is inconclusive when fewer than two groups reach the minimum size', () => {
    const r = fairnessMetric(
      'demographic_parity_ratio',
      data.scores,
      data.labels,
      threshold,
      data.region,
      500,
    );
    expect(r.status).toBe('inconclusive');
    if (r.status === 'inconclusive') expect(r.reason).toMatch(/only 1 group/);
  });

  it('is inconclusive for the parity ratio when no judged group is ever selected', () => {
    const r = fairnessMetric('demographic_parity_ratio', [0.1, 0.2, 0.3], [0, 1, 0], 0.9, ['a', 'b', 'b'], 1);
    expect(r.status).toBe('inconclusive');
  });

  it('refuses NaN scores and mismatched columns', () => {
    expect(() => groupRates([NaN, 0.2], [0, 1], 0.5, ['a', 'b'], 1)).toThrow(NonFiniteInputError);
    expect(() => groupRates([0.1, 0.2], [0, 1], 0.5, ['a'], 1)).toThrow(/paired row by row/);
  });
});
