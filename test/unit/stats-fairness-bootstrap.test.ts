import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { toolPaths } from '../../src/devstack/tools';
import {
  fairnessBootstrap,
  fairnessInterval,
  fairnessPercentileInterval,
  type FairnessBootstrapInput,
  type FairnessDistribution,
} from '../../src/stats/fairness-bootstrap';
import { FAIRNESS_METRICS, type FairnessMetric } from '../../src/stats/metric-names';
import { LANES, poissonWeights, unpackLane } from '../../src/stats/resample';
import { createRng } from '../../src/stats/rng';

/**
 * The paired fairness bootstrap against an independent implementation: test/oracles/fairness_oracle.py
 * recomputes every resample with fairlearn's metrics and `sample_weight`, on the same Poisson(1)
 * weights (drawn here from the same seed, so the two agree resample by resample, not just in law), and
 * the simultaneous interval the checks judge from its definition, with numpy.
 */
type Answer = { readonly value: unknown } | { readonly error: string };
interface OracleMetric {
  readonly candidate: number;
  readonly champion: number;
  readonly deltas: number[];
  readonly skipped: number;
  readonly lower: number | null;
  readonly upper: number | null;
  readonly simultaneous: { readonly lower: number; readonly upper: number; readonly contrasts: number };
}

function runFairnessOracle(cases: readonly { id: string; fn: string; args: unknown }[]): Map<string, Answer> {
  const input = JSON.stringify({ cases }, (_key, v: unknown) =>
    ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v,
  );
  const r = spawnSync(toolPaths().python, [join(__dirname, '..', 'oracles', 'fairness_oracle.py')], {
    input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`fairness oracle failed (${r.status}): ${r.stderr}`);
  return new Map(Object.entries((JSON.parse(r.stdout) as { results: Record<string, Answer> }).results));
}

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

/**
 * Three large groups with different base rates, one group with no positives at all (TPR 0 by
 * Fairlearn's convention), two small ones (judged only when minGroupSize is 1: then `solo`, 2 rows,
 * has no weight in e⁻² ≈ 14 % of resamples); scores rounded so decisions tie at the threshold.
 */
function data(seed: number) {
  const rng = createRng(seed);
  const spec: [string, number, number][] = [
    ['north', 260, 0.3],
    ['south', 220, 0.7],
    ['east', 150, 0.9],
    ['west', 40, 0],
    ['islands', 12, 0.5],
    ['solo', 2, 0.5],
  ];
  const labels: number[] = [];
  const groups: string[] = [];
  const champion: number[] = [];
  const candidate: number[] = [];
  for (const [group, n, rate] of spec) {
    for (let i = 0; i < n; i++) {
      const y = rng.uniform() < rate ? 1 : 0;
      const logit = rng.normal(y === 1 ? 0.8 : -0.8, 1);
      const p = Math.round(100 / (1 + Math.exp(-logit))) / 100;
      const q =
        Math.round(100 / (1 + Math.exp(-(logit + rng.normal(group === 'north' ? -0.4 : 0.1, 0.5))))) / 100;
      labels.push(y);
      groups.push(group);
      champion.push(p);
      candidate.push(q);
    }
  }
  return { labels, groups, champion, candidate };
}

// fairlearn takes ≈ 0.3 s per model and resample for the four metrics on 2 cores: few resamples, all compared.
const RESAMPLES = 40;
const CONFIDENCE = 0.9;
const cases: { id: string; input: FairnessBootstrapInput }[] = [];
for (const [id, seed, minGroupSize] of [
  ['judged-30', 3, 30],
  ['every-group', 4, 1],
] as const) {
  const d = data(seed);
  cases.push({
    id,
    input: {
      metrics: FAIRNESS_METRICS,
      candidate: d.candidate,
      champion: d.champion,
      labels: d.labels,
      threshold: 0.5,
      groupOf: d.groups,
      minGroupSize,
      seed: 1000 + seed,
      resamples: RESAMPLES,
    },
  });
}

let oracle: Map<string, Answer>;
beforeAll(() => {
  oracle = runFairnessOracle(
    cases.map(({ id, input }) => ({
      id,
      fn: 'paired_fairness_deltas',
      args: {
        metrics: input.metrics,
        candidate: input.candidate,
        champion: input.champion,
        labels: input.labels,
        groups: input.groupOf,
        threshold: input.threshold,
        min_group_size: input.minGroupSize,
        confidence: CONFIDENCE,
        weights: poissonResamples(input.seed, input.labels.length, RESAMPLES),
      },
    })),
  );
}, 400_000);

function oracleFor(id: string, metric: FairnessMetric): OracleMetric {
  const a = oracle.get(id);
  if (a === undefined || 'error' in a) throw new Error(`oracle: ${JSON.stringify(a)}`);
  return (a.value as Record<FairnessMetric, OracleMetric>)[metric];
}

describe('paired fairness bootstrap vs fairlearn with sample weights', () => {
  for (const { id, input } of cases) {
    for (const metric of FAIRNESS_METRICS) {
      it(`${id}: ${metric} agrees resample by resample, and so does the interval`, () => {
        const outcome = fairnessBootstrap(input).outcomes.get(metric);
        if (outcome === undefined || !('distribution' in outcome)) throw new Error(JSON.stringify(outcome));
        const d: FairnessDistribution = outcome.distribution;
        const o = oracleFor(id, metric);
        expect(d.candidate).toBeCloseTo(o.candidate, 12);
        expect(d.champion).toBeCloseTo(o.champion, 12);
        expect(d.skipped).toBe(o.skipped);
        expect(d.deltas.length).toBe(o.deltas.length);
        d.deltas.forEach((x, i) => expect(x).toBeCloseTo(o.deltas[i]!, 12));
        const ci = fairnessPercentileInterval(d, CONFIDENCE);
        expect(ci.lower).toBeCloseTo(o.lower!, 12);
        expect(ci.upper).toBeCloseTo(o.upper!, 12);
        // The interval the checks judge: simultaneous over the champion's contrasts.
        const judged = fairnessInterval(d, CONFIDENCE);
        expect(d.simultaneous.contrasts.rate.length).toBe(o.simultaneous.contrasts);
        expect(judged.lower).toBeCloseTo(o.simultaneous.lower, 9);
        expect(judged.upper).toBeCloseTo(o.simultaneous.upper, 9);
        expect(judged.upper).toBeGreaterThan(judged.lower);
        // The deltas must vary: identical answers from two constant functions would prove nothing.
        expect(d.deltas[d.deltas.length - 1]! - d.deltas[0]!).toBeGreaterThan(0);
      });
    }
  }

  it('skips the resamples that leave a judged group without weight, as the oracle does', () => {
    // The per-metric tests compare the counts; here, that there is something to compare.
    const o = oracleFor('every-group', 'demographic_parity_difference');
    expect(o.skipped).toBeGreaterThan(RESAMPLES * 0.05);
    expect(o.skipped).toBeLessThan(RESAMPLES * 0.3);
    expect(oracleFor('judged-30', 'demographic_parity_difference').skipped).toBe(0);
  });
});
