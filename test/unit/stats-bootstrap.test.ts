import { beforeAll, describe, expect, it } from 'vitest';
import { type PerformanceMetric } from '../../src/spec/gates-schema';
import {
  nonInferiority,
  pairedBootstrap,
  pairedBootstrapDistributions,
  type PairedBootstrapResult,
} from '../../src/stats/bootstrap';
import { StatisticUndefinedError } from '../../src/stats/errors';
import { ALL_METRICS, computeMetric, ModelMetrics, prepareMetric } from '../../src/stats/metrics';
import { normalCdf, quantile } from '../../src/stats/quantile';
import { LANES, poissonWeights, unpackLane } from '../../src/stats/resample';
import { createRng } from '../../src/stats/rng';
import {
  classifierData,
  correlatedScores,
  oracleValue,
  runOracle,
  type OracleAnswer,
} from '../oracles/stats-oracle-client';

const rng = createRng(8080);
const base = classifierData(rng, 600, { positiveRate: 0.3, decimals: 2 });
const champion = base.scores;
const candidate = correlatedScores(rng, base.scores, 0.4, 0.1);

/** The weights of the first `resamples` resamples drawn from `seed`, one array per resample. */
function poissonResamples(seed: number, n: number, resamples: number): Uint8Array[] {
  const source = poissonWeights(seed);
  const packed = new Uint32Array(n);
  const out: Uint8Array[] = [];
  while (out.length < resamples) {
    source.next(packed);
    for (let lane = 0; lane < LANES && out.length < resamples; lane++) out.push(unpackLane(packed, lane));
  }
  return out;
}

/** The classic bootstrap written the slow, obvious way: draw n rows with replacement and recompute. */
function classicBootstrap(
  metric: PerformanceMetric,
  data: { labels: ArrayLike<number>; candidate: ArrayLike<number>; champion: ArrayLike<number> },
  seed: number,
  resamples: number,
) {
  const r = createRng(seed);
  const n = data.labels.length;
  const deltas: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const rows = Array.from({ length: n }, () => r.int(n));
    const labels = rows.map((i) => data.labels[i]!);
    try {
      deltas.push(
        computeMetric(
          metric,
          rows.map((i) => data.candidate[i]!),
          labels,
          0.5,
        ) -
          computeMetric(
            metric,
            rows.map((i) => data.champion[i]!),
            labels,
            0.5,
          ),
      );
    } catch (e) {
      if (!(e instanceof StatisticUndefinedError)) throw e;
    }
  }
  return deltas;
}

const interval = (deltas: number[], confidence: number): [number, number] => {
  const a = (1 - confidence) / 2;
  return [quantile(deltas, a), quantile(deltas, 1 - a)];
};
const sd = (xs: number[]): number => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

const run = (
  metric: PerformanceMetric,
  seed = 1,
  resamples = 200,
  confidence = 0.95,
): PairedBootstrapResult =>
  pairedBootstrap({
    metric,
    candidate,
    champion,
    labels: base.labels,
    threshold: 0.5,
    seed,
    resamples,
    confidence,
  });

const ORACLE_RESAMPLES = 150;
let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle([
    {
      id: 'paired',
      fn: 'paired_deltas',
      args: {
        metrics: ALL_METRICS,
        candidate,
        champion,
        labels: base.labels,
        threshold: 0.5,
        confidence: 0.9,
        weights: poissonResamples(11, base.labels.length, ORACLE_RESAMPLES),
      },
    },
  ]);
});

describe('paired bootstrap – agreement with scikit-learn on the same resamples', () => {
  for (const metric of ALL_METRICS) {
    it(`gives sklearn's interval for ${metric} when sklearn gets the same Poisson weights`, () => {
      const expected = oracleValue<Record<string, { lower: number; upper: number; skipped: number }>>(
        oracle,
        'paired',
      )[metric]!;
      const fast = run(metric, 11, ORACLE_RESAMPLES, 0.9);
      expect(fast.lower).toBeCloseTo(expected.lower, 9);
      expect(fast.upper).toBeCloseTo(expected.upper, 9);
      expect(fast.skipped).toBe(expected.skipped);
      expect(fast.delta).toBeCloseTo(
        computeMetric(metric, candidate, base.labels, 0.5) -
          computeMetric(metric, champion, base.labels, 0.5),
        12,
      );
    });
  }

  it('matches sklearn resample by resample for auc', () => {
    const expected = oracleValue<Record<string, { deltas: number[] }>>(oracle, 'paired').auc!.deltas;
    const weights = poissonResamples(11, base.labels.length, ORACLE_RESAMPLES);
    const cand = prepareMetric('auc', candidate, base.labels, 0.5);
    const champ = prepareMetric('auc', champion, base.labels, 0.5);
    expect(weights.map((w) => cand(w) - champ(w))).toEqual(
      expected.map((d) => expect.closeTo(d, 12) as unknown as number),
    );
  });
});

describe('paired bootstrap – consistency with the classic bootstrap', () => {
  it('gives the classic interval and spread to Monte Carlo precision', () => {
    const data = { labels: base.labels, candidate, champion };
    for (const metric of ['auc', 'log_loss', 'f1'] as const) {
      const classic = classicBootstrap(metric, data, 5, 2000);
      const outcome = pairedBootstrapDistributions({
        metrics: [metric],
        candidate: new ModelMetrics(candidate, base.labels, 0.5),
        champion: new ModelMetrics(champion, base.labels, 0.5),
        seed: 5,
        resamples: 2000,
      }).get(metric)!;
      if (!('distribution' in outcome)) throw outcome.undefined;
      const poisson = Array.from(outcome.distribution.deltas);
      const [cl, cu] = interval(classic, 0.95);
      const [pl, pu] = interval(poisson, 0.95);
      const width = cu - cl;
      // Each endpoint has a Monte Carlo error of ≈ 1.5 % of the width at 2000 resamples.
      expect(Math.abs(pl - cl), metric).toBeLessThan(0.1 * width);
      expect(Math.abs(pu - cu), metric).toBeLessThan(0.1 * width);
      expect(sd(poisson) / sd(classic), metric).toBeGreaterThan(0.9);
      expect(sd(poisson) / sd(classic), metric).toBeLessThan(1.1);
    }
  });

  it('covers the true AUC difference as often as the classic bootstrap', () => {
    // Binormal population: champion x = 1.5·y + z₁, candidate x + 0.6·z₂, so the true AUCs are
    // Φ(1.5/√2) and Φ(1.5/√(2·1.36)); 150 evaluation sets of 300 rows, 95 % intervals from each.
    const trueDelta = normalCdf(1.5 / Math.sqrt(2 * 1.36)) - normalCdf(1.5 / Math.sqrt(2));
    const sim = createRng(77);
    const sets = 150;
    const n = 300;
    let poissonCovered = 0;
    let classicCovered = 0;
    for (let s = 0; s < sets; s++) {
      const labels = Float64Array.from({ length: n }, () => (sim.uniform() < 0.4 ? 1 : 0));
      const champ = Float64Array.from(labels, (y) => 1.5 * y + sim.normal());
      const cand = Float64Array.from(champ, (x) => x + 0.6 * sim.normal());
      const p = pairedBootstrap({
        metric: 'auc',
        candidate: cand,
        champion: champ,
        labels,
        threshold: 0.5,
        seed: s,
        resamples: 400,
        confidence: 0.95,
      });
      if (p.lower <= trueDelta && trueDelta <= p.upper) poissonCovered++;
      // Classic multinomial counts through the weighted metric (equal to materialising the rows).
      const c = prepareMetric('auc', cand, labels, 0.5);
      const h = prepareMetric('auc', champ, labels, 0.5);
      const counts = new Int32Array(n);
      const deltas: number[] = [];
      const draw = createRng(1000 + s);
      for (let b = 0; b < 400; b++) {
        counts.fill(0);
        for (let k = 0; k < n; k++) counts[draw.int(n)]! += 1;
        deltas.push(c(counts) - h(counts));
      }
      const [lo, hi] = interval(deltas, 0.95);
      if (lo <= trueDelta && trueDelta <= hi) classicCovered++;
    }
    const poissonRate = poissonCovered / sets;
    const classicRate = classicCovered / sets;
    expect(poissonRate).toBeGreaterThan(0.88);
    expect(poissonRate).toBeLessThan(0.99);
    expect(Math.abs(poissonRate - classicRate)).toBeLessThanOrEqual(0.04);
  });
});

describe('paired bootstrap – behaviour', () => {
  it('returns a zero-width interval at zero when both models are the same', () => {
    const r = pairedBootstrap({
      metric: 'auc',
      candidate: champion,
      champion,
      labels: base.labels,
      threshold: 0.5,
      seed: 3,
      resamples: 100,
      confidence: 0.95,
    });
    expect(r).toMatchObject({ delta: 0, lower: 0, upper: 0, resamples: 100, skipped: 0 });
  });

  it('is deterministic for a fixed seed and changes with the seed', () => {
    expect(run('auc', 77)).toEqual(run('auc', 77));
    expect(run('auc', 78).lower).not.toBe(run('auc', 77).lower);
  });

  it('skips and counts resamples in which AUC is undefined', () => {
    const labels = [1, 0, 0, 0, 0, 0];
    const r = pairedBootstrap({
      metric: 'auc',
      candidate: [0.9, 0.1, 0.2, 0.3, 0.4, 0.5],
      champion: [0.6, 0.1, 0.2, 0.3, 0.7, 0.5],
      labels,
      threshold: 0.5,
      seed: 5,
      resamples: 300,
      confidence: 0.95,
    });
    expect(r.skipped).toBeGreaterThan(50); // P(row 0 has weight 0) = e⁻¹ ≈ 0.37
    expect(r.resamples + r.skipped).toBe(300);
    expect(r.lower).toBeLessThanOrEqual(r.upper);
  });

  it('gives a metric the same distribution alone or drawn together with others', () => {
    const together = pairedBootstrapDistributions({
      metrics: ['auc', 'log_loss', 'f1', 'auc'],
      candidate: new ModelMetrics(candidate, base.labels, 0.5),
      champion: new ModelMetrics(champion, base.labels, 0.5),
      seed: 9,
      resamples: 101,
    });
    expect([...together.keys()]).toEqual(['auc', 'log_loss', 'f1']);
    for (const metric of ['auc', 'log_loss', 'f1'] as const) {
      const alone = pairedBootstrapDistributions({
        metrics: [metric],
        candidate: new ModelMetrics(candidate, base.labels, 0.5),
        champion: new ModelMetrics(champion, base.labels, 0.5),
        seed: 9,
        resamples: 101,
      });
      expect(together.get(metric)).toEqual(alone.get(metric));
    }
  });

  it('reports a metric undefined on the full data without drawing for it', () => {
    const outcomes = pairedBootstrapDistributions({
      metrics: ['auc', 'accuracy'],
      candidate: new ModelMetrics([0.2, 0.9, 0.4], [1, 1, 1], 0.5),
      champion: new ModelMetrics([0.3, 0.8, 0.6], [1, 1, 1], 0.5),
      seed: 1,
      resamples: 16,
    });
    const auc = outcomes.get('auc')!;
    expect('undefined' in auc && auc.undefined.message).toMatch(/auc is undefined: only one class/);
    expect(outcomes.get('accuracy')).toHaveProperty('distribution.requested', 16);
  });

  it('handles 1000 resamples of 5000 rows', () => {
    const big = classifierData(createRng(9), 5000);
    const r = pairedBootstrap({
      metric: 'auc',
      candidate: correlatedScores(createRng(10), big.scores, 0.3),
      champion: big.scores,
      labels: big.labels,
      threshold: 0.5,
      seed: 1,
      resamples: 1000,
      confidence: 0.95,
    });
    expect(r.resamples).toBe(1000);
    expect(r.lower).toBeLessThan(r.delta);
    expect(r.upper).toBeGreaterThan(r.delta);
  });
});

describe('non-inferiority decision', () => {
  const result = (metric: PerformanceMetric, lower: number, upper: number): PairedBootstrapResult => ({
    metric,
    candidate: 0,
    champion: 0,
    delta: (lower + upper) / 2,
    lower,
    upper,
    confidence: 0.95,
    resamples: 1000,
    requested: 1000,
    skipped: 0,
    seed: 1,
    n: 100,
  });

  it('judges the lower bound against −ε for higher-is-better metrics', () => {
    expect(nonInferiority(result('auc', -0.009, 0.01), 0.01)).toMatchObject({
      passed: true,
      bound: 'lower',
      limit: -0.01,
    });
    expect(nonInferiority(result('auc', -0.011, 0.02), 0.01).passed).toBe(false);
  });

  it('judges the upper bound against +ε for lower-is-better metrics', () => {
    expect(nonInferiority(result('log_loss', -0.05, 0.019), 0.02)).toMatchObject({
      passed: true,
      bound: 'upper',
      limit: 0.02,
    });
    expect(nonInferiority(result('log_loss', -0.05, 0.021), 0.02).passed).toBe(false);
  });
});
