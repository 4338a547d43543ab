import { describe, expect, it, vi } from 'vitest';
import { judgePerformance, type PerformanceInput } from '../../src/gates/performance';
import { PerformanceCheck } from '../../src/spec/gates-schema';
import { pairedBootstrap } from '../../src/stats/bootstrap';
import { createRng } from '../../src/stats/rng';
import { classifierData, correlatedScores } from '../oracles/stats-oracle-client';

const rng = createRng(2024);
const data = classifierData(rng, 1500, { positiveRate: 0.35, separation: 2 });
const champion = data.scores;
const similar = correlatedScores(rng, champion, 0.15);
// Much noisier: AUC drops by several points.
const worse = correlatedScores(rng, champion, 2.5);

const checks = (...specs: unknown[]): PerformanceCheck[] => specs.map((s) => PerformanceCheck.parse(s));
const input = (over: Partial<PerformanceInput>): PerformanceInput => ({
  checks: [],
  candidate: similar,
  champion,
  labels: data.labels,
  threshold: 0.5,
  seed: 17,
  resamples: 400,
  ...over,
});

describe('performance gate – absolute checks', () => {
  it('passes when the candidate meets every bound', () => {
    const v = judgePerformance(
      input({ checks: checks({ metric: 'auc', min: 0.7 }, { metric: 'log_loss', max: 1 }) }),
    );
    expect(v.gate).toBe('performance');
    expect(v.status).toBe('passed');
    expect(v.checks[0]).toMatchObject({
      name: 'auc >= 0.7',
      status: 'passed',
      comparator: '>=',
      threshold: 0.7,
      sampleSize: 1500,
    });
  });

  it('fails naming the metric, its value and the threshold', () => {
    const v = judgePerformance(input({ checks: checks({ metric: 'auc', min: 0.99 }) }));
    expect(v.status).toBe('failed');
    const c = v.checks[0]!;
    expect(c.status).toBe('failed');
    expect(c.metric).toBe('auc');
    expect(c.threshold).toBe(0.99);
    expect(c.message).toMatch(/^auc 0\.\d{4} is below the minimum 0\.99 \(n=1500\)$/);
    expect(v.summary).toContain('below the minimum 0.99');
  });

  it('supports a range with both min and max', () => {
    const v = judgePerformance(input({ checks: checks({ metric: 'brier', min: 0.3, max: 0.5 }) }));
    expect(v.checks[0]).toMatchObject({ name: '0.3 <= brier <= 0.5', comparator: 'in', status: 'failed' });
    expect(v.checks[0]!.message).toMatch(/below the minimum 0\.3/);
  });

  it('is inconclusive when the metric is undefined on the evaluation data', () => {
    const v = judgePerformance(
      input({
        checks: checks({ metric: 'auc', min: 0.5 }),
        candidate: [0.2, 0.9],
        champion: [0.1, 0.4],
        labels: [1, 1],
      }),
    );
    expect(v.status).toBe('inconclusive');
    expect(v.checks[0]!.message).toMatch(/auc is undefined: only one class/);
  });

  it('fails when the candidate emits NaN scores, saying how many', () => {
    const broken = Float64Array.from(similar);
    broken[3] = NaN;
    broken[9] = Infinity;
    const v = judgePerformance(input({ checks: checks({ metric: 'auc', min: 0.5 }), candidate: broken }));
    expect(v.status).toBe('failed');
    expect(v.checks[0]!.message).toMatch(
      /candidate scores contains 2 NaN or infinite value\(s\) \(first at row 3\)/,
    );
  });
});

describe('performance gate – non-inferiority vs the champion', () => {
  it('passes a candidate that is about as good as the champion, with the interval as evidence', () => {
    const v = judgePerformance(input({ checks: checks({ metric: 'auc', maxDropVsChampion: 0.02 }) }));
    expect(v.status).toBe('passed');
    const c = v.checks[0]!;
    expect(c.interval?.confidence).toBe(0.95);
    expect(c.interval!.lower).toBeGreaterThanOrEqual(-0.02);
    expect(c.threshold).toBe(-0.02);
    expect(c.evidence).toMatchObject({ resamples: 400, seed: 17, n: 1500, decisionThreshold: 0.5 });
    const ev = c.evidence as {
      value: number;
      championValue: number;
      delta: number;
      metrics: Record<string, object>;
    };
    expect(ev.delta).toBeCloseTo(ev.value - ev.championValue, 12);
    expect(Object.keys(ev.metrics)).toEqual(['candidate', 'champion']);
    expect(Object.keys(ev.metrics.candidate!)).toHaveLength(9);
  });

  it('fails a clearly worse candidate, naming the bound and the margin', () => {
    const v = judgePerformance(
      input({ candidate: worse, checks: checks({ metric: 'auc', maxDropVsChampion: 0.01 }) }),
    );
    expect(v.status).toBe('failed');
    const c = v.checks[0]!;
    expect(c.name).toBe('auc drop vs champion <= 0.01');
    expect(c.message).toMatch(
      /auc may be worse than the champion by more than 0\.01: .*95% CI .*the lower bound -0\.\d+ is below -0\.01/,
    );
  });

  it('judges lower-is-better metrics by the upper bound of the rise', () => {
    const v = judgePerformance(
      input({ candidate: worse, checks: checks({ metric: 'log_loss', maxRiseVsChampion: 0.01 }) }),
    );
    expect(v.status).toBe('failed');
    expect(v.checks[0]).toMatchObject({ comparator: '<=', threshold: 0.01 });
    expect(v.checks[0]!.message).toMatch(/the upper bound .* is above 0\.01/);
    const ok = judgePerformance(
      input({ candidate: champion, checks: checks({ metric: 'log_loss', maxRiseVsChampion: 0.01 }) }),
    );
    expect(ok.status).toBe('passed');
  });

  it('skips comparisons for the first model (no champion) and says so', () => {
    const { champion: _omitted, ...firstModel } = input({
      checks: checks({ metric: 'auc', maxDropVsChampion: 0.01 }, { metric: 'auc', min: 0.6 }),
    });
    const v = judgePerformance(firstModel);
    expect(v.status).toBe('passed');
    expect(v.checks[0]!.message).toBe('auc: no champion: comparison skipped');
    expect(v.checks[1]!.status).toBe('passed');
  });

  it('is inconclusive when most resamples leave the metric undefined', () => {
    const labels = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const v = judgePerformance(
      input({
        labels,
        candidate: [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3, 0.4],
        champion: [0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.2, 0.3, 0.45],
        checks: checks({ metric: 'auc', maxDropVsChampion: 0.01 }),
      }),
    );
    expect(v.status).toBe('inconclusive');
    expect(v.checks[0]!.message).toMatch(/undefined in \d+ of 400 bootstrap resamples; too few to judge/);
  });

  it('gives the identical verdict for the same seed (a retried activity agrees)', () => {
    const run = (): unknown =>
      judgePerformance(input({ checks: checks({ metric: 'f1', maxDropVsChampion: 0.01 }) }));
    expect(run()).toEqual(run());
    const other = judgePerformance(
      input({ seed: 18, checks: checks({ metric: 'f1', maxDropVsChampion: 0.01 }) }),
    );
    expect(other.checks[0]!.interval).not.toEqual(
      judgePerformance(input({ checks: checks({ metric: 'f1', maxDropVsChampion: 0.01 }) })).checks[0]!
        .interval,
    );
  });
});

describe('performance gate – shared computation', () => {
  it('sorts each model once for AUC and bootstraps a metric once, however many checks read it', () => {
    const sorts = vi.spyOn(Float64Array.prototype, 'sort');
    const sortsFor = (...specs: unknown[]): number => {
      sorts.mockClear();
      judgePerformance(input({ checks: checks(...specs) }));
      return sorts.mock.calls.length;
    };
    try {
      const tableOnly = sortsFor({ metric: 'accuracy', min: 0 });
      const oneComparison = sortsFor({ metric: 'auc', maxDropVsChampion: 0.02 });
      const many = sortsFor(
        { metric: 'auc', min: 0.6 },
        { metric: 'auc', maxDropVsChampion: 0.02 },
        { metric: 'auc', maxDropVsChampion: 0.05, confidence: 0.9 },
      );
      // The evidence table already holds both models' AUC; a comparison adds one score order per
      // model and one sort of the resampled Δ; more checks on auc add nothing.
      expect(oneComparison - tableOnly).toBe(3);
      expect(many).toBe(oneComparison);
    } finally {
      sorts.mockRestore();
    }
  });

  it('reads each confidence off the same resamples, as a lone bootstrap would', () => {
    const v = judgePerformance(
      input({
        checks: checks(
          { metric: 'log_loss', maxRiseVsChampion: 0.05, confidence: 0.8 },
          { metric: 'auc', maxDropVsChampion: 0.05, confidence: 0.95 },
          { metric: 'log_loss', maxRiseVsChampion: 0.05, confidence: 0.95 },
        ),
      }),
    );
    for (const [i, metric, confidence] of [
      [0, 'log_loss', 0.8],
      [1, 'auc', 0.95],
      [2, 'log_loss', 0.95],
    ] as const) {
      const alone = pairedBootstrap({
        metric,
        candidate: similar,
        champion,
        labels: data.labels,
        threshold: 0.5,
        seed: 17,
        resamples: 400,
        confidence,
      });
      expect(v.checks[i]!.interval).toEqual({ lower: alone.lower, upper: alone.upper, confidence });
    }
    expect(v.checks[0]!.interval!.lower).toBeGreaterThan(v.checks[2]!.interval!.lower);
  });
});
