import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { toolPaths } from '../../src/devstack/tools';
import { StatsInputError } from '../../src/stats/errors';
import { createRng, type Rng } from '../../src/stats/rng';
import {
  differenceBounds,
  logDifferenceEValue,
  logHedged,
  logMixture,
  logOneSidedMixture,
  proportionBounds,
  psiBounds,
  QuantileRatioTest,
  type BinomialCounts,
  type Side,
} from '../../src/stats/sequential';
import { logBeta, logBetaCdf, logBetaSf, logGamma } from '../../src/stats/sequential-special';
import { normalSf } from '../../src/stats/quantile';

/**
 * src/stats/sequential.ts against an independent implementation (test/oracles/sequential_oracle.py:
 * PyPI savvi's Dirichlet-multinomial test for the mixture martingale, scipy and mpmath for the beta
 * tails, brute-force grids for the infima), and its anytime validity by seeded simulation: every look
 * of many streams, at the null's boundary, and the share of streams that EVER reject.
 */

interface OracleCase {
  readonly id: string;
  readonly fn: string;
  readonly args: Readonly<Record<string, unknown>>;
}
type Answer = { readonly value: unknown } | { readonly error: string };

function runSequentialOracle(cases: readonly OracleCase[]): Map<string, Answer> {
  const r = spawnSync(toolPaths().python, [join(__dirname, '..', 'oracles', 'sequential_oracle.py')], {
    input: JSON.stringify({ cases }),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`sequential oracle failed (${r.status}): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as { results: Record<string, Answer> };
  return new Map(Object.entries(parsed.results));
}

function value<T>(answers: Map<string, Answer>, id: string): T {
  const a = answers.get(id);
  if (a === undefined) throw new Error(`oracle has no answer for ${id}`);
  if ('error' in a) throw new Error(`oracle raised for ${id}: ${a.error}`);
  return a.value as T;
}

/** The oracle sends ±inf as strings. */
function num(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  return NaN;
}

const rng = createRng(20_261_201);
const logNormal = (r: Rng, n: number, median: number, sigma: number): Float64Array =>
  Float64Array.from({ length: n }, () => median * Math.exp(sigma * r.normal()));
const sorted = (xs: Float64Array): Float64Array => Float64Array.from(xs).sort();

const special = {
  xs: [1e-9, 0.3, 0.5, 1, 2.5, 10, 123.4, 1e5, 3e7],
  pairs: [
    [0.1, 99.9],
    [1100, 98900],
    [0.5, 0.5],
    [2, 3],
  ],
  triples: [
    [0.011, 1.1, 98.9],
    [0.011, 41.1, 2058.9],
    [0.5, 2600, 2400],
    [0.001, 0.1, 99.9],
    [0.3, 12.5, 40],
    [0.5, 12.5, 12.5],
  ],
};

const mixtures = [
  { s: 0, n: 0, theta0: 0.3, k: 10 },
  { s: 37, n: 2000, theta0: 0.011, k: 100 },
  { s: 0, n: 500, theta0: 0.001, k: 1000 },
  { s: 260, n: 500, theta0: 0.5, k: 25 },
  { s: 1, n: 12000, theta0: 0.0005, k: 100 },
  { s: 48, n: 90, theta0: 0.7, k: 2 },
];

const oneSided = mixtures.flatMap((m, i) =>
  (['greater', 'less'] as const).map((side) => ({ id: `one:${i}:${side}`, ...m, side })),
);

interface DifferenceCase {
  readonly a: BinomialCounts;
  readonly b: BinomialCounts;
  readonly margin: number;
  readonly side: Side;
  readonly k: number | readonly number[];
}
const differences: Record<string, DifferenceCase> = {
  regression: {
    a: { successes: 45, trials: 2000 },
    b: { successes: 9, trials: 8000 },
    margin: 0.01,
    side: 'greater',
    k: 100,
  },
  healthyNonInferior: {
    a: { successes: 2, trials: 2000 },
    b: { successes: 9, trials: 8000 },
    margin: 0.01,
    side: 'less',
    k: 100,
  },
  healthyFailTest: {
    a: { successes: 2, trials: 2000 },
    b: { successes: 9, trials: 8000 },
    margin: 0.01,
    side: 'greater',
    k: 100,
  },
  noErrors: {
    a: { successes: 0, trials: 700 },
    b: { successes: 0, trials: 2800 },
    margin: 0.01,
    side: 'less',
    k: 100,
  },
  noMargin: {
    a: { successes: 30, trials: 400 },
    b: { successes: 18, trials: 600 },
    margin: 0,
    side: 'greater',
    k: 20,
  },
  negativeMargin: {
    a: { successes: 30, trials: 400 },
    b: { successes: 60, trials: 600 },
    margin: -0.05,
    side: 'less',
    k: 20,
  },
  wideMargin: {
    a: { successes: 120, trials: 400 },
    b: { successes: 60, trials: 600 },
    margin: 0.1,
    side: 'greater',
    k: 10,
  },
  small: {
    a: { successes: 3, trials: 50 },
    b: { successes: 0, trials: 50 },
    margin: 0.01,
    side: 'greater',
    k: 100,
  },
  // The judge's choice: each version's mixture averaged over k = 1/margin and the flat k = 2.
  grossTwoK: {
    a: { successes: 15, trials: 50 },
    b: { successes: 0, trials: 50 },
    margin: 0.01,
    side: 'greater',
    k: [100, 2],
  },
  cleanTwoK: {
    a: { successes: 1, trials: 3000 },
    b: { successes: 14, trials: 12000 },
    margin: 0.01,
    side: 'less',
    k: [100, 2],
  },
};

interface QuantileCase {
  readonly a: Float64Array;
  readonly b: Float64Array;
  readonly ratio: number;
  readonly p: number;
  readonly k: number | readonly number[];
  readonly combine: 'product' | 'average';
}
const quantileCases: Record<string, QuantileCase> = {
  slower: {
    a: logNormal(rng, 300, 0.5, 0.3),
    b: logNormal(rng, 400, 0.4, 0.3),
    ratio: 1.1,
    p: 0.5,
    k: [25, 2],
    combine: 'product',
  },
  same: {
    a: logNormal(rng, 250, 0.4, 0.3),
    b: logNormal(rng, 350, 0.4, 0.3),
    ratio: 1.1,
    p: 0.5,
    k: 25,
    combine: 'product',
  },
  // Latencies on a 0.05 ms clock: many ties, inside a sample and across the two.
  ties: {
    a: logNormal(rng, 200, 0.4, 0.3).map((x) => Math.round(x * 20) / 20),
    b: logNormal(rng, 220, 0.4, 0.3).map((x) => Math.round(x * 20) / 20),
    ratio: 1,
    p: 0.5,
    k: 25,
    combine: 'product',
  },
  p95: {
    a: logNormal(rng, 300, 0.45, 0.4),
    b: logNormal(rng, 300, 0.4, 0.4),
    ratio: 1.05,
    p: 0.95,
    k: 50,
    combine: 'average',
  },
  tiny: {
    a: Float64Array.from([1, 2, 3, 4, 5]),
    b: Float64Array.from([2, 2, 3]),
    ratio: 1,
    p: 0.5,
    k: 5,
    combine: 'product',
  },
};

const proportions = [
  { s: 30, n: 400, alpha: 0.001, k: 20 },
  { s: 0, n: 300, alpha: 0.05, k: 20 },
  { s: 300, n: 300, alpha: 0.01, k: 50 },
  { s: 1, n: 10000, alpha: 0.005, k: 100 },
];

const psiCases = {
  similar: { reference: [410, 390, 400, 420, 380], current: [95, 105, 100, 98, 102], alpha: 0.01, k: 50 },
  drifted: { reference: [800, 800, 800, 800, 800], current: [100, 200, 300, 700, 1700], alpha: 0.01, k: 50 },
  empty: { reference: [0, 50, 50, 0], current: [30, 20, 0, 50], alpha: 0.05, k: 20 },
};

const cases: OracleCase[] = [
  { id: 'special', fn: 'special', args: special },
  ...mixtures.map((m, i) => ({ id: `mix:${i}`, fn: 'mixture', args: m })),
  ...oneSided.map(({ id, ...args }) => ({ id, fn: 'one_sided', args })),
  ...Object.entries(differences).map(([id, d]) => ({
    id: `diff:${id}`,
    fn: 'difference',
    args: {
      sA: d.a.successes,
      nA: d.a.trials,
      sB: d.b.successes,
      nB: d.b.trials,
      margin: d.margin,
      side: d.side,
      kA: d.k,
      kB: d.k,
    },
  })),
  ...Object.entries(quantileCases).flatMap(([id, q]) =>
    (['greater', 'less'] as const).map((side) => ({
      id: `q:${id}:${side}`,
      fn: 'quantile',
      args: {
        a: Array.from(q.a),
        b: Array.from(q.b),
        ratio: q.ratio,
        p: q.p,
        k: q.k,
        side,
        combine: q.combine,
      },
    })),
  ),
  ...proportions.map((p, i) => ({ id: `prop:${i}`, fn: 'proportion_bounds', args: p })),
  ...Object.entries(psiCases).map(([id, c]) => ({
    id: `psi:${id}`,
    fn: 'psi_bounds',
    args: { ...c, epsilon: 1e-4 },
  })),
];

let oracle: Map<string, Answer>;
beforeAll(() => {
  oracle = runSequentialOracle(cases);
}, 180_000);

describe('sequential special functions', () => {
  it('log Γ, log B and the log beta tails match scipy', () => {
    const expected = value<{ gammaln: number[]; betaln: number[]; logcdf: unknown[]; logsf: unknown[] }>(
      oracle,
      'special',
    );
    special.xs.forEach((x, i) => expect(logGamma(x)).toBeCloseTo(expected.gammaln[i]!, 8));
    special.pairs.forEach(([a, b], i) => expect(logBeta(a!, b!)).toBeCloseTo(expected.betaln[i]!, 8));
    special.triples.forEach(([x, a, b], i) => {
      expect(logBetaCdf(x!, a!, b!)).toBeCloseTo(num(expected.logcdf[i]), 9);
      expect(logBetaSf(x!, a!, b!)).toBeCloseTo(num(expected.logsf[i]), 9);
    });
  });

  it('keeps tails that underflow a double: log P(Beta(10, 5010) > 0.3) ≈ −1733.89 (mpmath)', () => {
    expect(logBetaSf(0.3, 10, 5010)).toBeCloseTo(-1733.8931571242665, 6);
  });
});

describe('Beta-binomial mixture martingales', () => {
  mixtures.forEach((m, i) => {
    it(`log M matches savvi's Multinomial odds: ${m.s}/${m.n} at θ₀=${m.theta0}, k=${m.k}`, () => {
      expect(logMixture(m.s, m.n, m.theta0, m.k)).toBeCloseTo(value<number>(oracle, `mix:${i}`), 8);
    });
  });
  for (const c of oneSided) {
    it(`one-sided ${c.side} mixture matches savvi × scipy tails: ${c.s}/${c.n} at θ₀=${c.theta0}`, () => {
      expect(logOneSidedMixture(c.s, c.n, c.theta0, c.k, c.side)).toBeCloseTo(value<number>(oracle, c.id), 7);
    });
  }

  it('hedging never goes below log ½ and tends to the e-value when it is large', () => {
    expect(logHedged(-1000)).toBeCloseTo(-Math.LN2, 12);
    expect(logHedged(0)).toBe(0);
    expect(logHedged(50)).toBeCloseTo(50 - Math.LN2, 12);
  });

  it('is a martingale: its mean under the null is 1 (exact sum over the binomial)', () => {
    const n = 40;
    const theta0 = 0.2;
    let mean = 0;
    let meanGreater = 0;
    let logC = 0; // log C(n, s)
    for (let s = 0; s <= n; s++) {
      if (s > 0) logC += Math.log((n - s + 1) / s);
      const pmf = Math.exp(logC + s * Math.log(theta0) + (n - s) * Math.log(1 - theta0));
      mean += pmf * Math.exp(logMixture(s, n, theta0, 10));
      meanGreater += pmf * Math.exp(logOneSidedMixture(s, n, theta0, 10, 'greater'));
    }
    expect(mean).toBeCloseTo(1, 10);
    expect(meanGreater).toBeCloseTo(1, 10);
  });

  it('one-sided mixtures are supermartingales inside the composite null (mean below 1)', () => {
    const n = 40;
    const theta0 = 0.2;
    for (const truth of [0.05, 0.1, 0.19]) {
      let mean = 0;
      let logC = 0;
      for (let s = 0; s <= n; s++) {
        if (s > 0) logC += Math.log((n - s + 1) / s);
        const pmf = Math.exp(logC + s * Math.log(truth) + (n - s) * Math.log(1 - truth));
        mean += pmf * Math.exp(logOneSidedMixture(s, n, theta0, 10, 'greater'));
      }
      expect(mean).toBeLessThan(1);
    }
  });
});

describe('difference of two proportions with a margin', () => {
  for (const [id, d] of Object.entries(differences)) {
    it(`matches the brute-force infimum over the nuisance: ${id}`, () => {
      const expected = value<{ logE: unknown; nuisance: number; savviAtNuisance: unknown }>(
        oracle,
        `diff:${id}`,
      );
      const got = logDifferenceEValue(d.a, d.b, d.margin, d.side, { kA: d.k, kB: d.k });
      // The brute force takes the least of 5500 grid points and a bounded minimiser; the TypeScript
      // search must find the same valley (never a higher value: that would overstate the evidence).
      expect(got.logE).toBeLessThanOrEqual(num(expected.logE) + 1e-6);
      expect(got.logE).toBeCloseTo(num(expected.logE), 5);
      // At the oracle's least-favourable point, savvi's own value agrees with the closed form.
      expect(num(expected.savviAtNuisance)).toBeCloseTo(num(expected.logE), 6);
    });
  }

  it('rejects a clear regression and declares a clean candidate non-inferior', () => {
    const k = { kA: 100, kB: 100 };
    const broken = logDifferenceEValue(
      { successes: 45, trials: 2000 },
      { successes: 9, trials: 8000 },
      0.01,
      'greater',
      k,
    );
    expect(broken.logE).toBeGreaterThan(Math.log(1 / 0.05));
    const clean = logDifferenceEValue(
      { successes: 2, trials: 2000 },
      { successes: 9, trials: 8000 },
      0.01,
      'less',
      k,
    );
    expect(clean.logE).toBeGreaterThan(Math.log(1 / 0.05));
  });

  it('its confidence sequence holds the observed difference and matches the two tests at its ends', () => {
    const a = { successes: 45, trials: 2000 };
    const b = { successes: 9, trials: 8000 };
    const k = { kA: 100, kB: 100 };
    const cs = differenceBounds(a, b, 0.05, k);
    const observed = 45 / 2000 - 9 / 8000;
    expect(cs.lower).toBeLessThan(observed);
    expect(cs.upper).toBeGreaterThan(observed);
    expect(cs.lower).toBeGreaterThan(0.01); // the regression test above: the lower end is past the margin
    const limit = Math.log(1 / 0.05);
    expect(logDifferenceEValue(a, b, cs.lower - 1e-3, 'greater', k).logE).toBeGreaterThanOrEqual(limit);
    expect(logDifferenceEValue(a, b, cs.lower + 1e-3, 'greater', k).logE).toBeLessThan(limit);
    expect(logDifferenceEValue(a, b, cs.upper + 1e-3, 'less', k).logE).toBeGreaterThanOrEqual(limit);
    expect(logDifferenceEValue(a, b, cs.upper - 1e-3, 'less', k).logE).toBeLessThan(limit);
  });

  it('refuses counts that cannot be counts', () => {
    const k = { kA: 10, kB: 10 };
    expect(() =>
      logDifferenceEValue({ successes: 5, trials: 4 }, { successes: 0, trials: 4 }, 0, 'greater', k),
    ).toThrow(StatsInputError);
    expect(() =>
      logDifferenceEValue({ successes: 1.5, trials: 4 }, { successes: 0, trials: 4 }, 0, 'greater', k),
    ).toThrow(StatsInputError);
    expect(() =>
      logDifferenceEValue({ successes: 1, trials: 4 }, { successes: 0, trials: 4 }, 0, 'greater', {
        kA: 0,
        kB: 1,
      }),
    ).toThrow(StatsInputError);
  });
});

describe('quantile ratio of two samples', () => {
  for (const [id, q] of Object.entries(quantileCases)) {
    for (const side of ['greater', 'less'] as const) {
      it(`matches the brute-force infimum over every threshold: ${id}, ${side}`, () => {
        const test = new QuantileRatioTest(sorted(q.a), sorted(q.b), { p: q.p, k: q.k, combine: q.combine });
        expect(test.logEValue(q.ratio, side)).toBeCloseTo(num(value(oracle, `q:${id}:${side}`)), 7);
      });
    }
  }

  it('fails a 25 % slowdown against a 1.1× tolerance, and passes an unchanged version within it', () => {
    const r = createRng(3);
    const slow = new QuantileRatioTest(
      sorted(logNormal(r, 800, 0.5, 0.3)),
      sorted(logNormal(r, 3000, 0.4, 0.3)),
      {
        p: 0.5,
        k: 25,
        combine: 'product',
      },
    );
    expect(slow.logEValue(1.1, 'greater')).toBeGreaterThan(Math.log(100));
    expect(slow.logEValue(1.1, 'less')).toBeLessThan(0);
    const same = new QuantileRatioTest(
      sorted(logNormal(r, 800, 0.4, 0.3)),
      sorted(logNormal(r, 3000, 0.4, 0.3)),
      {
        p: 0.5,
        k: 25,
        combine: 'product',
      },
    );
    expect(same.logEValue(1.1, 'less')).toBeGreaterThan(Math.log(100));
    const cs = same.bounds(0.01);
    expect(cs.lower).toBeLessThan(1);
    expect(cs.upper).toBeGreaterThan(1);
    expect(cs.upper).toBeLessThan(1.1);
  });

  it('an absolute allowance is the same test on the stable sample mapped through max(r·y, y + d)', () => {
    const r = createRng(5);
    const a = sorted(logNormal(r, 400, 0.16, 0.1));
    const b = sorted(logNormal(r, 900, 0.12, 0.1));
    const mapped = sorted(b.map((y) => Math.max(1.2 * y, y + 0.5)));
    const t = { p: 0.5, k: 25, combine: 'product' as const };
    for (const side of ['greater', 'less'] as const)
      expect(new QuantileRatioTest(a, b, t).logEValue(1.2, side, 0.5)).toBe(
        new QuantileRatioTest(a, mapped, t).logEValue(1, side),
      );
    // 1.33× on 0.12 ms medians: beyond a 1.2× ratio, well within +0.5 ms.
    const test = new QuantileRatioTest(a, b, t);
    expect(test.logEValue(1.2, 'greater')).toBeGreaterThan(Math.log(100));
    expect(test.logEValue(1.2, 'less', 0.5)).toBeGreaterThan(Math.log(100));
    expect(test.logEValue(1.2, 'greater', 0.5)).toBeLessThan(0);
    expect(() => test.logEValue(1.2, 'less', -0.1)).toThrow(StatsInputError);
    expect(() => test.logEValue(1.2, 'less', Number.NaN)).toThrow(StatsInputError);
    expect(() => test.logEValue(1.2, 'less', Infinity)).toThrow(StatsInputError);
  });

  it('refuses unsorted or non-finite samples', () => {
    const t = { p: 0.5, k: 10, combine: 'product' as const };
    expect(() => new QuantileRatioTest(Float64Array.from([2, 1]), Float64Array.from([1]), t)).toThrow(
      StatsInputError,
    );
    expect(() => new QuantileRatioTest(Float64Array.from([1, NaN]), Float64Array.from([1]), t)).toThrow(
      StatsInputError,
    );
    expect(() => new QuantileRatioTest(Float64Array.from([]), Float64Array.from([1]), t)).toThrow(
      StatsInputError,
    );
  });
});

describe('proportion confidence sequences and PSI bounds', () => {
  proportions.forEach((p, i) => {
    it(`matches brentq on savvi's mixture: ${p.s}/${p.n} at α=${p.alpha}`, () => {
      const expected = value<{ lower: number; upper: number }>(oracle, `prop:${i}`);
      const got = proportionBounds({ successes: p.s, trials: p.n }, p.alpha, p.k);
      expect(got.lower).toBeCloseTo(expected.lower, 5);
      expect(got.upper).toBeCloseTo(expected.upper, 5);
      expect(got.lower).toBeLessThanOrEqual(expected.lower + 1e-9); // rounded outward, never inward
      expect(got.upper).toBeGreaterThanOrEqual(expected.upper - 1e-9);
    });
  });

  for (const [id, c] of Object.entries(psiCases)) {
    it(`bounds PSI as a grid over every bin's box does: ${id}`, () => {
      const expected = value<{ lower: number; upper: number }>(oracle, `psi:${id}`);
      const got = psiBounds(c.reference, c.current, c.alpha, c.k);
      // Relative: an empty bin's term is steep in its share, and the shares' ends are rounded outward.
      expect(Math.abs(got.lower - expected.lower)).toBeLessThanOrEqual(1e-4 * Math.max(1, expected.lower));
      expect(Math.abs(got.upper - expected.upper)).toBeLessThanOrEqual(1e-4 * Math.max(1, expected.upper));
      expect(got.upper).toBeGreaterThanOrEqual(expected.upper - 1e-9);
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// Anytime validity by simulation: many streams, a look after every batch, at the null's boundary.

/** Share of `streams` that ever reject, and the Monte Carlo allowance three standard errors above α. */
function everRejects(streams: number, alpha: number, run: (r: Rng) => boolean, seed: number) {
  const r = createRng(seed);
  let rejected = 0;
  for (let i = 0; i < streams; i++) if (run(r)) rejected++;
  const slack = 3 * Math.sqrt((alpha * (1 - alpha)) / streams);
  return { rate: rejected / streams, bound: alpha + slack };
}

describe('anytime validity (seeded simulation)', () => {
  it('difference test: at p_canary − p_stable = margin, looking every 100 requests, rejects in ≤ α of streams', () => {
    const alpha = 0.1;
    const limit = Math.log(1 / alpha);
    let naiveRejected = 0;
    const result = everRejects(
      150,
      alpha,
      (r) => {
        const pS = 0.02;
        const pC = pS + 0.03;
        let a = { successes: 0, trials: 0 };
        let b = { successes: 0, trials: 0 };
        let naive = false;
        for (let look = 1; look <= 20; look++) {
          for (let i = 0; i < 100; i++) {
            if (r.uniform() < 0.3)
              a = { successes: a.successes + (r.uniform() < pC ? 1 : 0), trials: a.trials + 1 };
            else b = { successes: b.successes + (r.uniform() < pS ? 1 : 0), trials: b.trials + 1 };
          }
          // What peeking does to a fixed-sample test: one-sided Wald z at α at every look.
          const ra = a.successes / a.trials;
          const rb = b.successes / b.trials;
          const se = Math.sqrt((ra * (1 - ra)) / a.trials + (rb * (1 - rb)) / b.trials);
          if (se > 0 && normalSf((ra - rb - 0.03) / se) < alpha) naive = true;
          if (logDifferenceEValue(a, b, 0.03, 'greater', { kA: 33, kB: 33 }).logE >= limit) return true;
        }
        if (naive) naiveRejected++;
        return false;
      },
      11,
    );
    expect(result.rate).toBeLessThanOrEqual(result.bound);
    // Peeking at a fixed-sample test rejects far more often than α (here in about a third of streams).
    expect(naiveRejected / 150).toBeGreaterThan(alpha);
  });

  it('non-inferiority: at p_canary − p_stable = margin, declares "within the margin" in ≤ α of streams', () => {
    const alpha = 0.1;
    const limit = Math.log(1 / alpha);
    const result = everRejects(
      150,
      alpha,
      (r) => {
        let a = { successes: 0, trials: 0 };
        let b = { successes: 0, trials: 0 };
        for (let look = 1; look <= 20; look++) {
          for (let i = 0; i < 100; i++) {
            if (r.uniform() < 0.5)
              a = { successes: a.successes + (r.uniform() < 0.011 ? 1 : 0), trials: a.trials + 1 };
            else b = { successes: b.successes + (r.uniform() < 0.001 ? 1 : 0), trials: b.trials + 1 };
          }
          if (logDifferenceEValue(a, b, 0.01, 'less', { kA: 100, kB: 100 }).logE >= limit) return true;
        }
        return false;
      },
      12,
    );
    expect(result.rate).toBeLessThanOrEqual(result.bound);
  });

  /**
   * Streams of a canary (30 % of traffic) with median `canaryMedian` against a stable one with median
   * 0.4 ms, both log-normal (σ 0.3), looked at every 20 requests: how often either side of the median
   * test at ratio 1.2 (and `allowance`) ever rejects, against α.
   */
  function medianStreams(canaryMedian: number, allowance: number, seeds: [number, number]): void {
    const alpha = 0.1;
    const limit = Math.log(1 / alpha);
    for (const side of ['greater', 'less'] as const) {
      const result = everRejects(
        300,
        alpha,
        (r) => {
          const a: number[] = [];
          const b: number[] = [];
          for (let look = 1; look <= 25; look++) {
            for (let i = 0; i < 20; i++) {
              if (r.uniform() < 0.3) a.push(canaryMedian * Math.exp(0.3 * r.normal()));
              else b.push(0.4 * Math.exp(0.3 * r.normal()));
            }
            if (a.length === 0 || b.length === 0) continue;
            const test = new QuantileRatioTest(sorted(Float64Array.from(a)), sorted(Float64Array.from(b)), {
              p: 0.5,
              k: 25,
              combine: 'product',
            });
            if (test.logEValue(1.2, side, allowance) >= limit) return true;
          }
          return false;
        },
        side === 'greater' ? seeds[0] : seeds[1],
      );
      expect(result.rate).toBeLessThanOrEqual(result.bound);
    }
  }

  it('median ratio test: canary exactly r× slower, looking every 20 samples, rejects "≤ r" in ≤ α of streams', () => {
    medianStreams(1.2 * 0.4, 0, [13, 14]);
  });

  it('median test with an absolute allowance: canary median exactly m + d, rejects either side in ≤ α of streams', () => {
    // m = 0.4 ms, d = 0.5 ms ≥ (1.2 − 1)·m: the margin's bound is m + d = 0.9 ms.
    medianStreams(0.9, 0.5, [15, 16]);
  });

  it('proportion confidence sequences cover the truth at every look in ≥ 1 − α of streams', () => {
    const alpha = 0.1;
    const result = everRejects(
      300,
      alpha,
      (r) => {
        let s = 0;
        for (let n = 1; n <= 1000; n++) {
          if (r.uniform() < 0.07) s++;
          if (n % 25 !== 0) continue;
          const cs = proportionBounds({ successes: s, trials: n }, alpha, 20, 1e-4);
          if (cs.lower > 0.07 || cs.upper < 0.07) return true;
        }
        return false;
      },
      15,
    );
    expect(result.rate).toBeLessThanOrEqual(result.bound);
  });
});
