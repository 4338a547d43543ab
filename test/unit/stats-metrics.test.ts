import { beforeAll, describe, expect, it } from 'vitest';
import { type PerformanceMetric } from '../../src/spec/gates-schema';
import { NonFiniteInputError, StatisticUndefinedError, StatsInputError } from '../../src/stats/errors';
import {
  ALL_METRICS,
  computeAllMetrics,
  computeMetric,
  confusion,
  prepareMetric,
} from '../../src/stats/metrics';
import { createRng } from '../../src/stats/rng';
import {
  classifierData,
  oracleValue,
  runOracle,
  type ClassifierData,
  type OracleAnswer,
  type OracleCase,
} from '../oracles/stats-oracle-client';

const rng = createRng(20261129);
const datasets: Record<string, ClassifierData & { threshold: number }> = {
  balanced: { ...classifierData(rng, 2000, { positiveRate: 0.5 }), threshold: 0.5 },
  imbalanced: { ...classifierData(rng, 3000, { positiveRate: 0.05, separation: 2 }), threshold: 0.3 },
  // Two decimals: hundreds of ties, including ties that straddle the classes.
  ties: { ...classifierData(rng, 1500, { decimals: 2 }), threshold: 0.5 },
  // Exact 0 and 1 scores exercise log-loss clipping.
  saturated: {
    scores: Float64Array.from([0, 1, 1, 0, 0.5, 1, 0, 0.2]),
    labels: Float64Array.from([0, 1, 0, 1, 1, 1, 0, 0]),
    threshold: 0.5,
  },
  // No predicted positives: precision and f1 hit zero_division.
  nonePredicted: { ...classifierData(rng, 200), threshold: 1.5 },
};
const regression = {
  scores: Float64Array.from({ length: 500 }, () => rng.normal(10, 3)),
  labels: Float64Array.from({ length: 500 }, () => rng.normal(10, 3)),
};
const weights = Float64Array.from({ length: 2000 }, () => rng.int(4));
// What an ONNX model emits: float32 scores (AUC sorts their exact 32-bit patterns).
const float32 = { ...classifierData(rng, 2500, { decimals: 3 }), threshold: 0.5 };
const float32Scores = Float32Array.from(float32.scores);

const cases: OracleCase[] = [];
for (const [name, d] of Object.entries(datasets)) {
  for (const m of ALL_METRICS) {
    if (m === 'rmse' || m === 'mae') continue;
    cases.push({ id: `${name}:${m}`, fn: 'metric', args: { name: m, ...d } });
  }
}
for (const m of ['rmse', 'mae'] as const) {
  cases.push({ id: `regression:${m}`, fn: 'metric', args: { name: m, ...regression, threshold: 0 } });
}
for (const m of ALL_METRICS) {
  cases.push({ id: `weighted:${m}`, fn: 'metric', args: { name: m, ...datasets.balanced!, weights } });
}

cases.push({
  id: 'float32:auc',
  fn: 'metric',
  args: { name: 'auc', scores: float32Scores, labels: float32.labels, threshold: 0.5 },
});

let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle(cases);
});

describe('metrics – agreement with scikit-learn', () => {
  for (const [name, d] of Object.entries(datasets)) {
    it(`matches sklearn on the ${name} data set to 1e-9`, () => {
      for (const m of ALL_METRICS) {
        if (m === 'rmse' || m === 'mae') continue;
        const expected = oracleValue<number>(oracle, `${name}:${m}`);
        expect(computeMetric(m, d.scores, d.labels, d.threshold), m).toBeCloseTo(expected, 9);
      }
    });
  }

  it('matches sklearn rmse and mae on regression targets', () => {
    for (const m of ['rmse', 'mae'] as const) {
      expect(computeMetric(m, regression.scores, regression.labels, 0)).toBeCloseTo(
        oracleValue<number>(oracle, `regression:${m}`),
        9,
      );
    }
  });

  it('matches sklearn AUC on float32 scores to 1e-12', () => {
    expect(computeMetric('auc', float32Scores, float32.labels, 0.5)).toBeCloseTo(
      oracleValue<number>(oracle, 'float32:auc'),
      12,
    );
  });

  it('matches sklearn sample_weight for weighted metrics (what the bootstrap uses)', () => {
    const d = datasets.balanced!;
    const w = Int32Array.from(weights);
    for (const m of ALL_METRICS) {
      const value = prepareMetric(m, d.scores, d.labels, d.threshold)(w);
      expect(value, m).toBeCloseTo(oracleValue<number>(oracle, `weighted:${m}`), 9);
    }
  });
});

describe('metrics – conventions', () => {
  it('predicts positive when the score equals the threshold', () => {
    const c = confusion([0.5, 0.49], [1, 1], 0.5);
    expect(c).toEqual({ tp: 1, fp: 0, tn: 0, fn: 1 });
  });

  it('returns 0 precision, recall and f1 when their denominators are empty (zero_division=0)', () => {
    expect(computeMetric('precision', [0.1, 0.2], [1, 0], 0.9)).toBe(0);
    expect(computeMetric('recall', [0.1, 0.9], [0, 0], 0.5)).toBe(0);
    expect(computeMetric('f1', [0.1, 0.2], [0, 0], 0.5)).toBe(0);
  });

  it('counts a tie between a positive and a negative as one half in AUC', () => {
    expect(computeMetric('auc', [0.3, 0.3], [1, 0], 0.5)).toBe(0.5);
    expect(computeMetric('auc', [0.3, 0.3, 0.9], [1, 0, 1], 0.5)).toBe(0.75);
  });

  it('clips log loss at float64 machine epsilon', () => {
    expect(computeMetric('log_loss', [0], [1], 0.5)).toBeCloseTo(-Math.log(2.220446049250313e-16), 12);
  });
});

describe('metrics – errors instead of NaN', () => {
  it('throws METRIC_UNDEFINED for AUC with a single class', () => {
    const call = (): number => computeMetric('auc', [0.1, 0.7, 0.9], [1, 1, 1], 0.5);
    expect(call).toThrow(StatisticUndefinedError);
    expect(call).toThrow(/only one class/);
    try {
      call();
    } catch (e) {
      expect((e as StatisticUndefinedError).code).toBe('METRIC_UNDEFINED');
    }
  });

  it('reports how many scores are NaN or infinite', () => {
    const scores = [0.1, NaN, 0.3, Infinity, NaN];
    try {
      computeMetric('accuracy', scores, [0, 1, 0, 1, 0], 0.5);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NonFiniteInputError);
      expect((e as NonFiniteInputError).code).toBe('NON_FINITE_INPUT');
      expect((e as NonFiniteInputError).details).toMatchObject({ what: 'scores', count: 3, firstIndex: 1 });
      expect((e as Error).message).toMatch(/3 NaN or infinite/);
    }
  });

  it('rejects non-binary labels for classification and probabilities outside [0, 1] for log loss', () => {
    expect(() => computeMetric('auc', [0.1, 0.2], [0, 2], 0.5)).toThrow(StatsInputError);
    expect(() => computeMetric('log_loss', [1.2, 0.2], [0, 1], 0.5)).toThrow(/probabilities/);
    expect(() => computeMetric('accuracy', [0.1], [0, 1], 0.5)).toThrow(/paired row by row/);
    expect(() => computeMetric('mae', [], [], 0.5)).toThrow(/empty/);
  });

  it('lists every metric with a value or the reason it has none', () => {
    const all = computeAllMetrics([0.2, 0.8], [1, 1], 0.5);
    expect(Object.keys(all).sort()).toEqual([...ALL_METRICS].sort());
    expect(all.auc).toMatchObject({ code: 'METRIC_UNDEFINED' });
    expect(all.accuracy).toEqual({ value: 0.5 });
    const metric: PerformanceMetric = 'rmse';
    expect(all[metric]).toHaveProperty('value');
  });
});
