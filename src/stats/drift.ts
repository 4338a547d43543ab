import { assertNonEmpty, StatsInputError, type NumericArray } from './errors';
import { quantileSorted, sortedCopy } from './quantile';

/**
 * Distribution drift between a reference and a current sample of scores.
 *
 * Binning: edges are the reference's quantiles at k/bins (k = 1…bins−1, numpy linear), duplicates
 * removed (ties in the reference merge bins). Bins are right-closed, (e₍ₖ₋₁₎, eₖ], with open ends, so
 * every value lands somewhere; in numpy, bin = `searchsorted(edges, x, side='left')`.
 *
 * PSI = Σ (cur% − ref%)·ln(cur%/ref%). An empty bin would make that infinite, so each proportion is
 * floored at ε = 1e-4 (Evidently's choice) before the sum; the floor is applied to both sides and the
 * floored shares are not renormalised.
 *
 * Jensen–Shannon distance is √JS-divergence with base-2 logs over the same (unfloored) histograms,
 * = `scipy.spatial.distance.jensenshannon(p, q, base=2)`; it is bounded by 1 and needs no ε.
 *
 * KS is the two-sample statistic of `scipy.stats.ks_2samp` and its two-sided p-value by
 * `method='exact'` (the probability that a random lattice path leaves the band, computed with a
 * stable forward recursion) while n₁·n₂ ≤ 1e8; beyond that, Kolmogorov's limiting distribution at
 * √(n₁n₂/(n₁+n₂))·D, which differs from scipy's `asymp` by O(1/√n).
 */

export const DEFAULT_BINS = 10;
export const PSI_EPSILON = 1e-4;

export interface Histogram {
  /** Interior edges; bins = edges.length + 1. */
  readonly edges: readonly number[];
  readonly reference: readonly number[];
  readonly current: readonly number[];
}

export function quantileEdges(reference: NumericArray, bins = DEFAULT_BINS): number[] {
  if (!Number.isInteger(bins) || bins < 2)
    throw new StatsInputError(`bins must be an integer ≥ 2, got ${bins}`);
  assertNonEmpty('reference sample', reference);
  const sorted = sortedCopy(reference, 'reference sample');
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = quantileSorted(sorted, k / bins);
    if (edges.length === 0 || e !== edges[edges.length - 1]) edges.push(e);
  }
  return edges;
}

/** Share of `values` in each bin of `edges` (right-closed, open-ended). */
export function binShares(values: NumericArray, edges: readonly number[], what: string): number[] {
  assertNonEmpty(what, values);
  const sorted = sortedCopy(values, what);
  const counts = new Array<number>(edges.length + 1).fill(0);
  let bin = 0;
  for (const x of sorted) {
    while (bin < edges.length && x > (edges[bin] as number)) bin++;
    counts[bin]! += 1;
  }
  return counts.map((c) => c / sorted.length);
}

export function histogram(reference: NumericArray, current: NumericArray, bins = DEFAULT_BINS): Histogram {
  const edges = quantileEdges(reference, bins);
  return {
    edges,
    reference: binShares(reference, edges, 'reference sample'),
    current: binShares(current, edges, 'current sample'),
  };
}

export function psiFromShares(
  reference: readonly number[],
  current: readonly number[],
  epsilon = PSI_EPSILON,
): number {
  let psi = 0;
  for (let k = 0; k < reference.length; k++) {
    const r = Math.max(reference[k] as number, epsilon);
    const c = Math.max(current[k] as number, epsilon);
    psi += (c - r) * Math.log(c / r);
  }
  return psi;
}

export function psi(
  reference: NumericArray,
  current: NumericArray,
  bins = DEFAULT_BINS,
  epsilon = PSI_EPSILON,
): number {
  const h = histogram(reference, current, bins);
  return psiFromShares(h.reference, h.current, epsilon);
}

/** √(JS divergence), base 2, of two histograms (each normalised to sum 1 first, as scipy does). */
export function jensenShannonDistance(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length) throw new StatsInputError('histograms must have the same number of bins');
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  if (!(sp > 0 && sq > 0)) throw new StatsInputError('histograms must have positive mass');
  let js = 0;
  for (let k = 0; k < p.length; k++) {
    const a = (p[k] as number) / sp;
    const b = (q[k] as number) / sq;
    const m = (a + b) / 2;
    if (a > 0) js += a * Math.log(a / m);
    if (b > 0) js += b * Math.log(b / m);
  }
  return Math.sqrt(Math.max(js / 2, 0) / Math.LN2);
}

export interface KsResult {
  readonly statistic: number;
  readonly pValue: number;
  readonly method: 'exact' | 'asymptotic';
}

/** sup |F₁ − F₂| over the pooled values (right-continuous ECDFs, so ties are handled as scipy does). */
export function ksStatistic(a: NumericArray, b: NumericArray): number {
  assertNonEmpty('first sample', a);
  assertNonEmpty('second sample', b);
  const x = sortedCopy(a, 'first sample');
  const y = sortedCopy(b, 'second sample');
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length || j < y.length) {
    const v = Math.min(
      i < x.length ? (x[i] as number) : Infinity,
      j < y.length ? (y[j] as number) : Infinity,
    );
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

const EXACT_LIMIT = 1e8;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * P(D ≥ d) under H₀ for sample sizes m, n: 1 − P(a uniformly random monotone lattice path from (0,0)
 * to (m,n) stays strictly inside |i·n − j·m| < h·g). Paths are followed forward with transition
 * probabilities rather than counted, so nothing overflows.
 */
function ksExactSf(m: number, n: number, d: number): number {
  const g = gcd(m, n);
  const lcm = (m / g) * n;
  const h = Math.round(d * lcm);
  if (h === 0) return 1;
  const band = h * g;
  const total = m + n;
  // Row i only visits the j with |i·n − j·m| < band; both ends move up with i, so cells above the
  // previous row's band are still 0 and cells below the current band are never read again.
  const prob = new Float64Array(n + 1);
  let jLo = 0;
  let jHi = 0;
  for (let i = 0; i <= m; i++) {
    const low = i * n - band; // need j·m > low
    const high = i * n + band; // need j·m < high
    while (jLo * m <= low) jLo++;
    while (jHi < n && (jHi + 1) * m < high) jHi++;
    for (let j = jLo; j <= jHi; j++) {
      if (i === 0 && j === 0) {
        prob[0] = 1;
        continue;
      }
      const remaining = total - i - j + 1; // steps left before the move into (i, j)
      const fromAbove = i > 0 ? ((prob[j] as number) * (m - i + 1)) / remaining : 0;
      const fromLeft = j > jLo ? ((prob[j - 1] as number) * (n - j + 1)) / remaining : 0;
      prob[j] = fromAbove + fromLeft;
    }
  }
  return Math.min(1, Math.max(0, 1 - (prob[n] as number)));
}

/** Kolmogorov's limiting survival function Q(x) = 2 Σ (−1)^(k−1) e^(−2k²x²). */
function kolmogorovSf(x: number): number {
  if (x <= 0) return 1;
  if (x < 0.2) return 1; // the series converges slowly here and Q(0.2) = 1 − 1e-10
  let sum = 0;
  for (let k = 1; k < 100; k++) {
    const term = Math.exp(-2 * k * k * x * x);
    sum += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** Two-sample Kolmogorov–Smirnov test, two-sided. */
export function ks2Sample(a: NumericArray, b: NumericArray): KsResult {
  const statistic = ksStatistic(a, b);
  const m = a.length;
  const n = b.length;
  if (m * n <= EXACT_LIMIT) return { statistic, pValue: ksExactSf(m, n, statistic), method: 'exact' };
  const en = (m * n) / (m + n);
  return { statistic, pValue: kolmogorovSf(Math.sqrt(en) * statistic), method: 'asymptotic' };
}

export interface DriftReport {
  readonly psi: number;
  readonly jensenShannon: number;
  readonly ks: KsResult;
  readonly histogram: Histogram;
}

export function driftReport(
  reference: NumericArray,
  current: NumericArray,
  bins = DEFAULT_BINS,
): DriftReport {
  const h = histogram(reference, current, bins);
  return {
    psi: psiFromShares(h.reference, h.current),
    jensenShannon: jensenShannonDistance(h.reference, h.current),
    ks: ks2Sample(reference, current),
    histogram: h,
  };
}
