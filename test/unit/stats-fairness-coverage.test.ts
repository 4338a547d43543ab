import { describe, expect, it } from 'vitest';
import { fairnessMetric } from '../../src/stats/fairness';
import {
  fairnessBootstrap,
  fairnessInterval,
  fairnessPercentileInterval,
} from '../../src/stats/fairness-bootstrap';
import { type FairnessMetric } from '../../src/stats/metric-names';
import { createRng } from '../../src/stats/rng';

/**
 * Coverage of the relative-fairness interval, measured (docs/fairness.md has the full table): base
 * rates 0.33 and 0.90; the champion ignores the group (at parity on TPR and FPR), the candidate leans
 * on a group proxy. The side that matters is the lenient one: a true Δ above the upper end for the
 * differences, below the lower end for the ratio. Seeded, so the counts are fixed; the bounds leave
 * room for a changed seed's Monte Carlo noise (binomial sd ≈ 1.1 % at 200 runs).
 */
function holdout(n: number, seed: number) {
  const rng = createRng(seed);
  const labels: number[] = [];
  const group: string[] = [];
  const champion: number[] = [];
  const candidate: number[] = [];
  for (let i = 0; i < n; i++) {
    const g = rng.uniform() < 0.5 ? 'a' : 'b';
    const y = rng.uniform() < (g === 'a' ? 0.33 : 0.9) ? 1 : 0;
    const f0 = rng.normal(y ? 1 : -1, 1);
    const proxy = rng.normal(g === 'a' ? 1.5 : -1.5, 0.5);
    const noise = rng.normal();
    labels.push(y);
    group.push(g);
    champion.push(2 * f0 + 0.3 * noise >= 0 ? 1 : 0);
    candidate.push(2 * f0 - 0.3 * proxy >= 0 ? 1 : 0);
  }
  return { labels, group, champion, candidate };
}

const METRICS: FairnessMetric[] = ['demographic_parity_ratio', 'equal_opportunity_difference'];
const RUNS = 200;

describe('relative fairness interval – coverage with a champion at parity', () => {
  it('misses on the lenient side far less often than a percentile interval', () => {
    const population = holdout(400_000, 999);
    const truth = new Map(
      METRICS.map((m) => {
        const value = (scores: number[]) => {
          const o = fairnessMetric(m, scores, population.labels, 0.5, population.group, 1);
          if (o.status !== 'measured') throw new Error(o.reason);
          return o.value;
        };
        return [m, value(population.candidate) - value(population.champion)];
      }),
    );
    const misses = new Map(METRICS.map((m) => [m, { judged: 0, percentile: 0 }]));
    for (let r = 0; r < RUNS; r++) {
      const h = holdout(2000, r + 1);
      const b = fairnessBootstrap({
        metrics: METRICS,
        candidate: h.candidate,
        champion: h.champion,
        labels: h.labels,
        threshold: 0.5,
        groupOf: h.group,
        minGroupSize: 30,
        seed: r,
        resamples: 500,
      });
      for (const m of METRICS) {
        const o = b.outcomes.get(m);
        if (o === undefined || !('distribution' in o)) throw new Error(`no distribution for ${m}`);
        const t = truth.get(m)!;
        const lenient = (ci: { lower: number; upper: number }) =>
          m === 'demographic_parity_ratio' ? t < ci.lower : t > ci.upper;
        const x = misses.get(m)!;
        if (lenient(fairnessInterval(o.distribution, 0.95))) x.judged++;
        if (lenient(fairnessPercentileInterval(o.distribution, 0.95))) x.percentile++;
      }
    }
    const share = (m: FairnessMetric, k: 'judged' | 'percentile') => misses.get(m)![k] / RUNS;
    // Nominal 2.5 % a side.
    expect(share('equal_opportunity_difference', 'percentile')).toBeGreaterThan(0.1);
    expect(share('equal_opportunity_difference', 'judged')).toBeLessThan(0.09);
    expect(share('demographic_parity_ratio', 'judged')).toBeLessThan(0.05);
  }, 300_000);
});
