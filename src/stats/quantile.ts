import { assertFinite, assertNonEmpty, StatsInputError, type NumericArray } from './errors';

/**
 * Sample quantiles and the standard normal distribution.
 *
 * `quantile` is numpy's default (`method='linear'`, type 7): h = (n−1)·p, linear interpolation between
 * the order statistics either side, using numpy's two-sided lerp so results agree to the last bits.
 */

/** Ascending copy as a Float64Array (NaN rejected first). */
export function sortedCopy(values: NumericArray, what = 'values'): Float64Array {
  assertFinite(what, values);
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/** Quantile of already-sorted ascending data, p in [0, 1]. */
export function quantileSorted(sorted: Float64Array, p: number): number {
  assertNonEmpty('quantile input', sorted);
  if (!(p >= 0 && p <= 1)) throw new StatsInputError(`quantile level must be in [0, 1], got ${p}`, { p });
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  const t = h - lo;
  // numpy's _lerp: from the nearer end, so t = 1 returns b exactly.
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/** numpy.quantile(values, p) with the default linear method. */
export function quantile(values: NumericArray, p: number): number {
  return quantileSorted(sortedCopy(values), p);
}

export function quantiles(values: NumericArray, ps: readonly number[]): number[] {
  const s = sortedCopy(values);
  return ps.map((p) => quantileSorted(s, p));
}

export function median(values: NumericArray): number {
  return quantile(values, 0.5);
}

const SQRT2 = Math.SQRT2;
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/**
 * erfc for x ≥ 0, accurate to ~1e-15 relative. Below 2.5 a positive-term series for erf (no
 * cancellation); above it the Laplace continued fraction (modified Lentz), which converges fast there.
 */
function erfcNonNegative(x: number): number {
  if (x < 2.5) return 1 - erfSeries(x);
  if (x > 27.3) return 0; // below the smallest subnormal
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / f;
}

/** erf(x) = 2/√π · e^(−x²) · Σ (2x²)^k · x / (1·3·…·(2k+1)); all terms positive. */
function erfSeries(x: number): number {
  const x2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let k = 1; k < 1000; k++) {
    term *= x2 / (2 * k + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

export function erfc(x: number): number {
  return x >= 0 ? erfcNonNegative(x) : 2 - erfcNonNegative(-x);
}

/** Standard normal CDF Φ(z); tails computed directly (not as 1 − …) so small values keep precision. */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return z < 0 ? 0.5 * erfcNonNegative(-z / SQRT2) : 1 - 0.5 * erfcNonNegative(z / SQRT2);
}

/** Survival function 1 − Φ(z), accurate in the upper tail. */
export function normalSf(z: number): number {
  return normalCdf(-z);
}

/**
 * Inverse standard normal CDF: Acklam's rational approximation (relative error 1.15e-9) polished by
 * one Halley step against the accurate `normalCdf`, which brings it to ~1e-15.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1))
    throw new StatsInputError(`normal quantile level must be in [0, 1], got ${p}`, { p });
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const pLow = 0.02425;
  let x: number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - pLow) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
      (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x =
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  // Halley refinement; in the upper half work with the survival function to avoid 1 − p cancellation.
  for (let i = 0; i < 2; i++) {
    const e = x < 0 ? normalCdf(x) - p : 1 - p - normalSf(x);
    const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
    x = x - u / (1 + (x * u) / 2);
  }
  return x;
}
