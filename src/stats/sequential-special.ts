/**
 * Special functions for the sequential tests, in log space so that the mixtures of windows with
 * 10⁵ requests neither overflow nor lose their small tails: log Γ, log B and the logarithms of the
 * regularised incomplete beta function and its complement. Checked against scipy (`gammaln`, `betaln`,
 * `beta.logcdf`, `beta.logsf`) in the unit tests.
 */

/** Lanczos coefficients for g = 7, n = 9 (relative error below 1e-15 for x ≥ 0.5). */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (!(x > 0)) return x === 0 ? Infinity : NaN;
  if (x < 0.5) {
    // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  if (x > 1e7) {
    // Stirling with two correction terms; Lanczos' sum loses digits to cancellation far out.
    const inv = 1 / x;
    return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + inv / 12 - (inv * inv * inv) / 360;
  }
  const z = x - 1;
  let sum = LANCZOS[0] as number;
  for (let i = 1; i < 9; i++) sum += (LANCZOS[i] as number) / (z + i);
  const t = z + 7.5;
  return HALF_LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** The continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** log I_x(a, b) computed directly by the continued fraction: accurate when x < (a + 1)/(a + b + 2). */
function logIncompleteBetaDirect(x: number, a: number, b: number): number {
  const front = a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b) - Math.log(a);
  return front + Math.log(betaContinuedFraction(a, b, x));
}

function log1mExp(logP: number): number {
  // log(1 − e^p) for p ≤ 0, accurate at both ends.
  if (logP > -Math.LN2) return Math.log(-Math.expm1(logP));
  return Math.log1p(-Math.exp(logP));
}

/** log P(Beta(a, b) ≤ x). */
export function logBetaCdf(x: number, a: number, b: number): number {
  if (x <= 0) return -Infinity;
  if (x >= 1) return 0;
  if (x < (a + 1) / (a + b + 2)) return logIncompleteBetaDirect(x, a, b);
  return log1mExp(logIncompleteBetaDirect(1 - x, b, a));
}

/** log P(Beta(a, b) > x). */
export function logBetaSf(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return -Infinity;
  if (x < (a + 1) / (a + b + 2)) return log1mExp(logIncompleteBetaDirect(x, a, b));
  return logIncompleteBetaDirect(1 - x, b, a);
}
