import { describe, expect, it } from 'vitest';
import { type PerformanceMetric } from '../../src/spec/gates-schema';
import { nonInferiority, pairedBootstrap, type PairedBootstrapResult } from '../../src/stats/bootstrap';
import { StatisticUndefinedError } from '../../src/stats/errors';
import { computeMetric } from '../../src/stats/metrics';
import { quantile } from '../../src/stats/quantile';
import { createRng } from '../../src/stats/rng';
import { classifierData, correlatedScores } from '../oracles/stats-oracle-client';

const rng = createRng(8080);
const base = classifierData(rng, 600, { positiveRate: 0.3, decimals: 2 });
const champion = base.scores;
const candidate = correlatedScores(rng, base.scores, 0.4, 0.1);

/** The bootstrap written the slow, obvious way: materialise each resample's rows and recompute. */
function naiveBootstrap(metric: PerformanceMetric, seed: number, resamples: number, confidence: number) {
  const r = createRng(seed);
  const n = base.labels.length;
  const deltas: number[] = [];
  let skipped = 0;
  for (let b = 0; b < resamples; b++) {
    const rows = Array.from({ length: n }, () => r.int(n));
    const labels = rows.map((i) => base.labels[i]!);
    try {
      deltas.push(
        computeMetric(
          metric,
          rows.map((i) => candidate[i]!),
          labels,
          0.5,
        ) -
          computeMetric(
            metric,
            rows.map((i) => champion[i]!),
            labels,
            0.5,
          ),
      );
    } catch (e) {
      if (!(e instanceof StatisticUndefinedError)) throw e;
      skipped++;
    }
  }
  const a = (1 - confidence) / 2;
  return { lower: quantile(deltas, a), upper: quantile(deltas, 1 - a), skipped };
}

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

describe('paired bootstrap – correctness', () => {
  for (const metric of ['auc', 'f1', 'log_loss', 'brier'] as const) {
    it(`gives the same interval for ${metric} as materialising every resample`, () => {
      const fast = run(metric, 11, 150, 0.9);
      const slow = naiveBootstrap(metric, 11, 150, 0.9);
      expect(fast.lower).toBeCloseTo(slow.lower, 10);
      expect(fast.upper).toBeCloseTo(slow.upper, 10);
      expect(fast.skipped).toBe(slow.skipped);
      expect(fast.delta).toBeCloseTo(
        computeMetric(metric, candidate, base.labels, 0.5) -
          computeMetric(metric, champion, base.labels, 0.5),
        12,
      );
    });
  }

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
    expect(r.skipped).toBeGreaterThan(50); // P(row 0 never drawn) = (5/6)^6 ≈ 0.33
    expect(r.resamples + r.skipped).toBe(300);
    expect(r.lower).toBeLessThanOrEqual(r.upper);
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
