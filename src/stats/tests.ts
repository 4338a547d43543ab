import {
  assertFinite,
  assertNonEmpty,
  assertSameLength,
  StatisticUndefinedError,
  StatsInputError,
  type NumericArray,
} from './errors';
import { erfc, normalCdf, normalSf } from './quantile';

/** Hypothesis tests used to compare a candidate with a baseline. */

export type Alternative = 'two-sided' | 'greater' | 'less';

export interface TestResult {
  readonly statistic: number;
  readonly pValue: number;
}

/** Midranks (1-based) of the pooled sample, plus the sizes of tie groups. */
function midranks(pooled: Float64Array): { ranks: Float64Array; tieSizes: number[] } {
  const order = new Uint32Array(pooled.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => (pooled[a] as number) - (pooled[b] as number));
  const ranks = new Float64Array(pooled.length);
  const tieSizes: number[] = [];
  let k = 0;
  while (k < order.length) {
    let end = k;
    while (end + 1 < order.length && pooled[order[end + 1] as number] === pooled[order[k] as number]) end++;
    const rank = (k + end) / 2 + 1;
    for (let t = k; t <= end; t++) ranks[order[t] as number] = rank;
    tieSizes.push(end - k + 1);
    k = end + 1;
  }
  return { ranks, tieSizes };
}

export interface MannWhitneyResult extends TestResult {
  /** Standardised statistic of the alternative's tail (after continuity correction). */
  readonly z: number;
}

/**
 * Mann–Whitney U test of x against y, = `scipy.stats.mannwhitneyu(x, y, alternative, method='asymptotic')`:
 * statistic U₁ = R₁ − n₁(n₁+1)/2; normal approximation with tie-corrected variance and continuity
 * correction. 'greater' means x tends to be larger than y.
 */
export function mannWhitneyU(
  x: NumericArray,
  y: NumericArray,
  alternative: Alternative = 'two-sided',
): MannWhitneyResult {
  assertNonEmpty('x', x);
  assertNonEmpty('y', y);
  assertFinite('x', x);
  assertFinite('y', y);
  const n1 = x.length;
  const n2 = y.length;
  const pooled = new Float64Array(n1 + n2);
  pooled.set(x);
  pooled.set(y, n1);
  const { ranks, tieSizes } = midranks(pooled);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i] as number;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const u = alternative === 'greater' ? u1 : alternative === 'less' ? u2 : Math.max(u1, u2);
  const factor = alternative === 'two-sided' ? 2 : 1;
  const n = n1 + n2;
  const tieTerm = tieSizes.reduce((s, t) => s + t ** 3 - t, 0);
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const numerator = u - (n1 * n2) / 2 - 0.5;
  // All values tied: no information, and scipy's z = −∞ gives p = 1 as well.
  const z = variance > 0 ? numerator / Math.sqrt(variance) : -Infinity;
  const pValue = Math.min(1, Math.max(0, factor * normalSf(z)));
  return { statistic: u1, pValue, z };
}

const HL_MAX_PAIRS = 5e7;

/**
 * Hodges–Lehmann estimate of the shift x − y: the median of all pairwise differences xᵢ − yⱼ
 * (exact; O(n·m) memory, refused above 5e7 pairs).
 */
export function hodgesLehmann(x: NumericArray, y: NumericArray): number {
  assertNonEmpty('x', x);
  assertNonEmpty('y', y);
  assertFinite('x', x);
  assertFinite('y', y);
  const pairs = x.length * y.length;
  if (pairs > HL_MAX_PAIRS) {
    throw new StatsInputError(
      `Hodges–Lehmann over ${pairs} pairs is too large (limit ${HL_MAX_PAIRS}); subsample first`,
      {
        pairs,
      },
    );
  }
  const diffs = new Float64Array(pairs);
  let k = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i] as number;
    for (let j = 0; j < y.length; j++) diffs[k++] = xi - (y[j] as number);
  }
  diffs.sort();
  const mid = pairs >> 1;
  return pairs % 2 === 1 ? (diffs[mid] as number) : ((diffs[mid - 1] as number) + (diffs[mid] as number)) / 2;
}

/**
 * Two-proportion z-test with the pooled variance (= statsmodels `proportions_ztest`), H₀: p₁ = p₂.
 * 'greater' means p₁ > p₂.
 */
export function twoProportionZTest(
  successes1: number,
  trials1: number,
  successes2: number,
  trials2: number,
  alternative: Alternative = 'two-sided',
): TestResult {
  for (const [name, s, t] of [
    ['first', successes1, trials1],
    ['second', successes2, trials2],
  ] as const) {
    if (!Number.isInteger(s) || !Number.isInteger(t) || t <= 0 || s < 0 || s > t) {
      throw new StatsInputError(
        `${name} proportion needs integer successes within 0..trials and trials > 0, got ${s}/${t}`,
        {
          successes: s,
          trials: t,
        },
      );
    }
  }
  const p1 = successes1 / trials1;
  const p2 = successes2 / trials2;
  const pooled = (successes1 + successes2) / (trials1 + trials2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / trials1 + 1 / trials2));
  if (se === 0) {
    throw new StatisticUndefinedError(
      'two-proportion z-test',
      `both samples are all ${pooled === 0 ? 'failures' : 'successes'}`,
    );
  }
  const z = (p1 - p2) / se;
  const pValue =
    alternative === 'two-sided'
      ? Math.min(1, 2 * normalSf(Math.abs(z)))
      : alternative === 'greater'
        ? normalSf(z)
        : normalCdf(z);
  return { statistic: z, pValue };
}

export interface McNemarResult extends TestResult {
  readonly method: 'exact' | 'chi2';
  /** Discordant pairs: b = only the first model right, c = only the second right. */
  readonly b: number;
  readonly c: number;
}

const MCNEMAR_EXACT_BELOW = 25;

/**
 * McNemar's test on the discordant counts b and c. Exact two-sided binomial (statistic min(b, c),
 * p = min(1, 2·P[Bin(b+c, ½) ≤ min(b, c)])) when b + c < 25; otherwise χ² with continuity correction,
 * (|b − c| − 1)² / (b + c) on 1 degree of freedom. Same as statsmodels `mcnemar(exact=…, correction=True)`.
 */
export function mcnemar(b: number, c: number): McNemarResult {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) {
    throw new StatsInputError(`McNemar needs non-negative integer counts, got b=${b}, c=${c}`, { b, c });
  }
  const n = b + c;
  if (n < MCNEMAR_EXACT_BELOW) {
    const k = Math.min(b, c);
    let coef = 1; // C(n, 0)
    let cdf = 0;
    for (let i = 0; i <= k; i++) {
      cdf += coef;
      coef = (coef * (n - i)) / (i + 1);
    }
    return { statistic: k, pValue: Math.min(1, (2 * cdf) / 2 ** n), method: 'exact', b, c };
  }
  const statistic = (Math.abs(b - c) - 1) ** 2 / n;
  return { statistic, pValue: erfc(Math.sqrt(statistic / 2)), method: 'chi2', b, c };
}

/** McNemar from per-row correctness of two models on the same rows (truthy = correct). */
export function mcnemarFromCorrectness(
  first: ArrayLike<boolean | number>,
  second: ArrayLike<boolean | number>,
): McNemarResult {
  assertSameLength('first model correctness', first, 'second model correctness', second);
  let b = 0;
  let c = 0;
  for (let i = 0; i < first.length; i++) {
    const a = Boolean(first[i]);
    const s = Boolean(second[i]);
    if (a && !s) b++;
    else if (!a && s) c++;
  }
  return mcnemar(b, c);
}
