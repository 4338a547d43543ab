import { beforeAll, describe, expect, it } from 'vitest';
import { aucOf, aucOrdered, scoreOrder } from '../../src/stats/auc';
import { ALL_METRICS, prepareMetric } from '../../src/stats/metrics';
import {
  LANES,
  POISSON_ONE_CDF_2_32,
  poissonWeights,
  prepareLanes,
  unpackLane,
} from '../../src/stats/resample';
import { createRng } from '../../src/stats/rng';
import { StatisticUndefinedError } from '../../src/stats/errors';
import { classifierData, oracleValue, runOracle, type OracleAnswer } from '../oracles/stats-oracle-client';

let oracle: Map<string, OracleAnswer>;
beforeAll(() => {
  oracle = runOracle([{ id: 'cdf', fn: 'poisson_cdf_2_32', args: { mu: 1, k_max: 12 } }]);
});

describe('rng – bulk draws', () => {
  it('fillUint32 continues the nextUint32 stream value for value', () => {
    const a = createRng(99);
    const b = createRng(99);
    const bulk = new Uint32Array(1000);
    a.nextUint32();
    b.nextUint32();
    a.fillUint32(bulk);
    for (const v of bulk) expect(v).toBe(b.nextUint32());
    expect(a.nextUint32()).toBe(b.nextUint32());
  });
});

describe('Poisson(1) resample weights', () => {
  it('uses the Poisson(1) CDF thresholds scipy gives, at 2^-32 resolution', () => {
    expect(POISSON_ONE_CDF_2_32).toEqual(oracleValue<number[]>(oracle, 'cdf'));
  });

  it('draws counts with the Poisson(1) frequencies in every lane', () => {
    const n = 50_000;
    const packed = new Uint32Array(n);
    poissonWeights(7).next(packed);
    const pmf = (k: number): number => {
      let f = Math.exp(-1);
      for (let j = 1; j <= k; j++) f /= j;
      return f;
    };
    const all = new Float64Array(13);
    for (let lane = 0; lane < LANES; lane++) {
      const w = unpackLane(packed, lane);
      const counts = new Float64Array(13);
      let sum = 0;
      let sq = 0;
      for (const x of w) {
        counts[x]! += 1;
        sum += x;
        sq += x * x;
      }
      const mean = sum / n;
      expect(Math.abs(mean - 1)).toBeLessThan(5 * Math.sqrt(1 / n));
      expect(Math.abs(sq / n - mean * mean - 1)).toBeLessThan(0.05);
      for (let k = 0; k <= 4; k++) {
        const p = pmf(k);
        expect(Math.abs(counts[k]! / n - p), `lane ${lane} k=${k}`).toBeLessThan(
          5 * Math.sqrt((p * (1 - p)) / n),
        );
      }
      counts.forEach((c, k) => (all[k]! += c));
    }
    // The tail (k ≥ 5: 0.37 %) lies in 16-bit prefixes that straddle thresholds and need 16 more bits.
    const tail = all.slice(5).reduce((a, b) => a + b, 0) / (n * LANES);
    const pTail = 1 - [0, 1, 2, 3, 4].reduce((a, k) => a + pmf(k), 0);
    expect(Math.abs(tail - pTail)).toBeLessThan(5 * Math.sqrt(pTail / (n * LANES)));
  });

  it('gives lanes that are uncorrelated and blocks that differ', () => {
    const n = 20_000;
    const w = poissonWeights(3);
    const first = new Uint32Array(n);
    const second = new Uint32Array(n);
    w.next(first);
    w.next(second);
    const corr = (x: Uint8Array, y: Uint8Array): number => {
      let sx = 0,
        sy = 0,
        sxy = 0,
        sxx = 0,
        syy = 0;
      for (let i = 0; i < x.length; i++) {
        sx += x[i]!;
        sy += y[i]!;
        sxy += x[i]! * y[i]!;
        sxx += x[i]! ** 2;
        syy += y[i]! ** 2;
      }
      const cov = sxy / n - (sx / n) * (sy / n);
      return cov / Math.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2));
    };
    for (let lane = 1; lane < LANES; lane++)
      expect(Math.abs(corr(unpackLane(first, 0), unpackLane(first, lane)))).toBeLessThan(0.04);
    expect(Math.abs(corr(unpackLane(first, 0), unpackLane(second, 0)))).toBeLessThan(0.04);
  });

  it('is reproducible from the seed alone', () => {
    const a = new Uint32Array(5000);
    const b = new Uint32Array(5000);
    poissonWeights(11).next(a);
    poissonWeights(11).next(b);
    expect(b).toEqual(a);
    poissonWeights(12).next(b);
    expect(b).not.toEqual(a);
  });
});

/** Every lane of the kernel against the scalar weighted metric under that lane's weights. */
function expectLanesMatchScalar(
  name: string,
  scores: Float64Array | Float32Array,
  labels: Float64Array,
  threshold: number,
  seed: number,
): void {
  const packed = new Uint32Array(scores.length);
  poissonWeights(seed).next(packed);
  const out = new Float64Array(LANES);
  for (const metric of ALL_METRICS) {
    prepareLanes(metric, scores, labels, threshold)(packed, out);
    const scalar = prepareMetric(metric, scores, labels, threshold);
    for (let lane = 0; lane < LANES; lane++) {
      let expected: number;
      try {
        expected = scalar(unpackLane(packed, lane));
      } catch (e) {
        if (!(e instanceof StatisticUndefinedError)) throw e;
        expected = NaN;
      }
      if (Number.isNaN(expected)) expect(out[lane], `${name} ${metric} lane ${lane}`).toBeNaN();
      else expect(out[lane], `${name} ${metric} lane ${lane}`).toBeCloseTo(expected, 12);
    }
  }
}

describe('eight-resample kernels – agreement with the weighted metrics', () => {
  const rng = createRng(424242);

  it('agree on continuous scores', () => {
    const d = classifierData(rng, 3000, { positiveRate: 0.3 });
    expectLanesMatchScalar('continuous', d.scores, d.labels, 0.5, 1);
  });

  it('agree on float32 scores with many ties across the classes', () => {
    const d = classifierData(rng, 4000, { decimals: 2 });
    expectLanesMatchScalar('ties', Float32Array.from(d.scores), d.labels, 0.4, 2);
  });

  it('agree when the label runs in score order are longer than a packed sum can hold', () => {
    // Perfect separation: 5000 negatives, then 5000 positives, in score order (runs > 2048 rows).
    const n = 10_000;
    const labels = Float64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const scores = Float64Array.from(labels, (y, i) => (y === 1 ? 0.6 : 0.1) + (i / n) * 0.3);
    expectLanesMatchScalar('separated', scores, labels, 0.5, 3);
    // …and one big tie group holding both classes.
    expectLanesMatchScalar('one tie', new Float64Array(n).fill(0.5), labels, 0.5, 4);
  });

  it('report NaN exactly where the metric is undefined under a lane (one class left)', () => {
    const scores = Float64Array.from([0.9, 0.2, 0.4, 0.3]);
    const labels = Float64Array.from([1, 0, 0, 0]);
    for (let seed = 0; seed < 6; seed++) expectLanesMatchScalar('tiny', scores, labels, 0.5, seed);
  });
});

describe('AUC through typed-array sorts', () => {
  const rng = createRng(31337);

  /** The order a comparator sort gives: score ascending, negatives first within ties. */
  function expectSortedByScoreThenLabel(
    order: Uint32Array,
    scores: ArrayLike<number>,
    labels: ArrayLike<number>,
  ) {
    expect(new Set(order).size).toBe(order.length);
    for (let k = 1; k < order.length; k++) {
      const a = order[k - 1]!;
      const b = order[k]!;
      const ok = scores[a]! < scores[b]! || (scores[a] === scores[b] && labels[a]! <= labels[b]!);
      if (!ok) expect.fail(`rows ${a}, ${b} out of order at ${k}`);
    }
  }

  it('orders float64 scores exactly, negative values, −0 and near-equal values included', () => {
    const n = 20_000;
    const labels = Float64Array.from({ length: n }, () => (rng.uniform() < 0.4 ? 1 : 0));
    const scores = Float64Array.from({ length: n }, (_, i) => {
      if (i % 7 === 0) return i % 14 === 0 ? -0 : 0;
      const base = Math.round(rng.normal() * 50) / 10; // ties
      return i % 3 === 0 ? base + rng.uniform() * 1e-12 : base; // same top bits, different doubles
    });
    const order = scoreOrder(scores, labels);
    expectSortedByScoreThenLabel(order, scores, labels);
    expect(aucOrdered(scores, labels, order)).toBe(aucOf(scores, labels));
  });

  it('orders float32 scores, including more rows than the exact packed key holds', () => {
    const n = (1 << 20) + 5000; // 21 row bits: the float32 key loses its lowest bit
    const d = classifierData(rng, n, { decimals: 5 });
    const scores = Float32Array.from(d.scores, (s, i) => (i % 5 === 0 ? s + 1e-7 * (i % 3) : s));
    const order = scoreOrder(scores, d.labels);
    expectSortedByScoreThenLabel(order, scores, d.labels);
    expect(aucOrdered(scores, d.labels, order)).toBe(aucOf(scores, d.labels));
  });
});
