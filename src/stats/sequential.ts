// Over 350 lines on purpose: one family of anytime-valid tests sharing one mixture, its prior and the
// minimisation over the unknown stable rate; the doc comment below explains them together.
import { StatsInputError } from './errors';
import { logBeta, logBetaCdf, logBetaSf } from './sequential-special';

/**
 * Anytime-valid sequential tests for the live checks: e-processes that may be looked at after every
 * request, or every tick, and stopped the first time they cross 1/α, with a false-rejection
 * probability of at most α over the whole stream. Pure functions of the data seen so far (counts, or
 * the sorted samples): a judge that is handed the window of a step at every tick evaluates the same
 * e-process each time, so nothing has to be carried between ticks.
 *
 * ## The building block: Lindon and Malek's Beta-binomial mixture
 *
 * For a stream of 0/1 outcomes with P(1) = θ, the likelihood ratio of a mixture of Bernoulli(θ′) over a
 * prior π to Bernoulli(θ₀),
 *
 *     M_n(θ₀) = ∫ Π_i θ′^{x_i}(1 − θ′)^{1−x_i} dπ(θ′) / Π_i θ₀^{x_i}(1 − θ₀)^{1−x_i},
 *
 * is a nonnegative martingale with mean 1 when θ = θ₀ (each factor of the product has conditional mean
 * 1, and so has any mixture of them: Robbins 1970, "Statistical methods related to the law of the
 * iterated logarithm"). Ville's inequality (1939) then bounds the chance that it EVER reaches 1/α by α,
 * which is what makes optional stopping, continuation and a look at every tick valid. With the
 * conjugate prior π = Beta(kθ₀, k(1 − θ₀)), centred on the null with concentration k, it has a closed
 * form in the counts (s successes, f failures):
 *
 *     log M = log B(kθ₀ + s, k(1 − θ₀) + f) − log B(kθ₀, k(1 − θ₀)) − s·log θ₀ − f·log(1 − θ₀).
 *
 * This is the two-cell case of the Dirichlet-multinomial test of Lindon and Malek (2022), "Anytime-valid
 * inference for multinomial count data" (NeurIPS), used for Netflix's canaries and implemented in PyPI
 * `savvi` (`savvi.Multinomial`, whose `odds` is this M); the unit tests check this module against it.
 * The concentration k is the tuning parameter: the prior's spread, √(θ₀(1 − θ₀)/(k + 1)), is the size of
 * departure the test is quickest to detect; far smaller or far larger departures cost more time, never
 * validity. The checks therefore average two mixtures, one tuned to departures of the size of the spec's
 * margin and one nearly flat (k = 2) for gross ones — an average of test supermartingales is one, so
 * the hedge costs at most log 2 of evidence (`logOneSidedMixtures`).
 *
 * One-sided (composite) nulls H₀: θ ≤ θ₀ use the same prior truncated to θ′ > θ₀: each Bernoulli ratio
 * with θ′ ≥ θ₀ has conditional mean ≤ 1 for every θ ≤ θ₀, so the truncated mixture is a nonnegative
 * supermartingale under the whole composite null, and Ville's inequality still applies. The truncation
 * adds the ratio of posterior to prior tail mass, P_post(θ′ > θ₀) / P_prior(θ′ > θ₀) (regularised
 * incomplete beta functions), to the closed form. `logOneSidedMixture` computes it.
 *
 * ## Two samples with a margin: infimum over the nuisance
 *
 * A canary check compares the canary with the stable version under a tolerance the spec sets
 * (maxErrorRateIncrease, latency.maxIncreaseRatio, prediction.maxPsi). The null is composite and has a
 * nuisance parameter (the stable version's own rate or median). For every null value ν of the nuisance,
 * the product of a canary martingale and a stable martingale that are both valid at ν is a test
 * supermartingale (the two versions answer different requests, each routed before it is answered, so the
 * factors multiply in one filtration). The least of these products over all ν the null allows is then
 * below the one at the true ν, and so is an e-process for the composite null — a process bounded by a
 * test supermartingale under every distribution of the null (Ramdas, Grünwald, Vovk and Shafer 2023,
 * "Game-theoretic statistics and safe anytime-valid inference", Statist. Sci.) — which crosses 1/α with
 * probability at most α at any stopping time. savvi's `InhomogeneousBernoulliProcess` likewise takes
 * an infimum over the null set.
 *
 * The stable factor is a nuisance: at the ν that fits the stable data best it sits below 1 (it "pays"
 * about ½·log n for the prior's spread), which would be charged to the canary's evidence. It therefore
 * enters as (1 + M)/2, the average of the stable martingale and the constant martingale 1 — still a test
 * martingale, and never below ½ — so the nuisance costs at most a factor 2 of evidence (averaging
 * e-processes: Vovk and Wang 2021, "E-values: calibration, combination and applications").
 *
 * - Error rate (`logDifferenceEValue`): H₀: p_canary − p_stable ≤ δ with δ = maxErrorRateIncrease is
 *   rejected by  inf_ν  M⁺_canary(ν + δ) · (1 + M_stable(ν))/2  ≥ 1/α, where M⁺ is the one-sided mixture
 *   against p_canary ≤ ν + δ and M the two-sided one at p_stable = ν (each averaged over two
 *   concentrations, as above). The margin enters as the shift
 *   between the two null points. Non-inferiority (H₀′: p_canary − p_stable ≥ δ) is the mirror image,
 *   with M⁻ against p_canary ≥ ν + δ; rejecting it declares the canary within the margin. The two
 *   e-values at every margin δ′ give a confidence sequence for the difference (`differenceBounds`): its
 *   lower end is the largest δ′ still rejected by the first, its upper end the smallest δ′ rejected by the
 *   second. So "failed" is "the lower confidence bound is above the margin", and "passed" (early
 *   non-inferiority) is "the upper confidence bound is below the margin".
 *
 * - Quantiles (`QuantileRatioTest`): the spec bounds the canary/stable median latency ratio by r. This
 *   is a sequential test of stochastic order in the sense of Lindon, Sanden and Shirikian (2022), "Rapid
 *   regression detection in software deployments through sequential testing" (KDD), made from the
 *   block above: for any threshold q the indicator 1{X > q} is a Bernoulli stream, as in the quantile
 *   confidence sequences of Howard and Ramdas (2022). Under H₀: Q_c(p) ≤ r·Q_s(p), at
 *   q⋆ = r·Q_s(p) the canary's P(X > q⋆) ≤ 1 − p and the stable's P(Y < q⋆/r) ≤ p, so
 *   inf_q M⁺_c(#{X > q}) · (1 + M⁺_s(#{Y < q/r}))/2 is an e-process. The counts change only at the
 *   observed values, so the infimum is a sweep over the merged sorted samples. Ties and discrete
 *   latencies are handled by the strict inequalities: each indicator's probability is bounded, not
 *   assumed equal to p. The ratio r enters by scaling the stable sample. Non-inferiority
 *   (Q_c(p) ≥ r·Q_s(p) rejected) swaps the sides, and the two give a confidence sequence for the ratio.
 *   When the two samples are not independent (a shadow answers the same requests as the stable
 *   version), `combine: 'average'` uses (M_c + M_s)/2 instead of the product: valid under any
 *   dependence, like a union bound.
 *
 * - Distributions (`psiBounds`): the population stability index of two binned distributions, over bins
 *   fixed before the data they judge (a test whose statistic changed with the data would not be one
 *   e-process). Each bin's
 *   share in each sample gets a confidence sequence {θ: M(θ) < 2B/α} from the two-sided mixture (a union
 *   bound over the 2B shares, so all hold at once with probability ≥ 1 − α at every time); PSI is
 *   jointly convex, so its least value over the product of those intervals has a closed form per bin
 *   and its largest is at a corner. The check fails when the least possible PSI exceeds maxPsi and
 *   passes when the largest possible one is within it.
 *
 * Everything here is exact, not asymptotic: there is no normal approximation, so rare errors (0.1 %)
 * and small windows keep the guarantee. See also Howard, Ramdas, McAuliffe and Sekhon (2021),
 * "Time-uniform, nonparametric, nonasymptotic confidence sequences" (Ann. Statist.), for the general
 * theory of mixture boundaries, and Howard and Ramdas (2022), "Sequential estimation of quantiles with
 * applications to A/B-testing and best-arm identification" (Bernoulli), for quantile confidence
 * sequences built from the same Bernoulli indicators.
 */

export type Side = 'greater' | 'less';

export interface BinomialCounts {
  /** Outcomes equal to 1 (errors, agreements, values above a threshold). */
  readonly successes: number;
  readonly trials: number;
}

/** θ₀ strictly inside (0, 1): the prior Beta(kθ₀, k(1 − θ₀)) needs both parameters positive. */
const EDGE = 1e-12;

function checkCounts(c: BinomialCounts, what: string): void {
  const { successes: s, trials: n } = c;
  if (!Number.isInteger(s) || !Number.isInteger(n) || s < 0 || n < 0 || s > n)
    throw new StatsInputError(`${what}: need integers 0 ≤ successes ≤ trials, got ${s}/${n}`, {
      successes: s,
      trials: n,
    });
}

function checkConcentration(k: number): void {
  if (!(k > 0) || !Number.isFinite(k))
    throw new StatsInputError(`concentration must be a positive number, got ${k}`, { k });
}

function xlogy(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(y);
}

/**
 * log M: the Beta-binomial mixture martingale for the point null θ = θ₀ with prior Beta(kθ₀, k(1 − θ₀))
 * (savvi's `Multinomial(alpha, [θ₀, 1 − θ₀], k)` after `update([s, f])`: its `odds`).
 */
export function logMixture(successes: number, trials: number, theta0: number, k: number): number {
  const t = Math.min(1 - EDGE, Math.max(EDGE, theta0));
  const a0 = k * t;
  const b0 = k * (1 - t);
  const f = trials - successes;
  return logBeta(a0 + successes, b0 + f) - logBeta(a0, b0) - xlogy(successes, t) - xlogy(f, 1 - t);
}

/**
 * log M⁺ ('greater': against H₀ θ ≤ θ₀) or log M⁻ ('less': against H₀ θ ≥ θ₀): the same mixture with
 * the prior truncated to the alternative's side of θ₀. A supermartingale under the whole one-sided
 * null, so `≥ log(1/α)` rejects it at level α at any stopping time.
 */
export function logOneSidedMixture(
  successes: number,
  trials: number,
  theta0: number,
  k: number,
  side: Side,
): number {
  const t = Math.min(1 - EDGE, Math.max(EDGE, theta0));
  const a0 = k * t;
  const b0 = k * (1 - t);
  const a = a0 + successes;
  const b = b0 + trials - successes;
  const tail =
    side === 'greater'
      ? logBetaSf(t, a, b) - logBetaSf(t, a0, b0)
      : logBetaCdf(t, a, b) - logBetaCdf(t, a0, b0);
  return logMixture(successes, trials, t, k) + tail;
}

/** log of the mean of e^{x_i}: the log of an equal-weight average of e-processes. */
export function logMeanExp(xs: readonly number[]): number {
  let max = -Infinity;
  for (const x of xs) if (x > max) max = x;
  if (max === -Infinity || max === Infinity) return max;
  let sum = 0;
  for (const x of xs) sum += Math.exp(x - max);
  return max + Math.log(sum / xs.length);
}

/** Concentrations as a list: a single k, or several averaged with equal weights. */
export type Concentration = number | readonly number[];

function concentrations(k: Concentration): readonly number[] {
  const ks = typeof k === 'number' ? [k] : k;
  if (ks.length === 0) throw new StatsInputError('give at least one concentration');
  ks.forEach(checkConcentration);
  return ks;
}

/**
 * `logOneSidedMixture` averaged over several prior concentrations. An average of supermartingales is
 * one, so this is as valid as each; it hedges the choice of k, costing at most log(#k) of evidence when
 * one k fits, and saving a lot when the departure is far larger than a narrow prior expects (a 30 %
 * error rate against a 1 % margin: k = 100 alone puts almost no mass there).
 */
export function logOneSidedMixtures(
  successes: number,
  trials: number,
  theta0: number,
  k: Concentration,
  side: Side,
): number {
  return logMeanExp(concentrations(k).map((kk) => logOneSidedMixture(successes, trials, theta0, kk, side)));
}

/** log((1 + e^x)/2): the e-process averaged with the constant 1, so never below log ½. */
export function logHedged(logE: number): number {
  return (logE > 0 ? logE + Math.log1p(Math.exp(-logE)) : Math.log1p(Math.exp(logE))) - Math.LN2;
}

// ---------------------------------------------------------------------------------------------------
// Difference of two proportions with a margin

export interface DifferenceTuning {
  /**
   * Prior concentration k of the first sample's (the canary's) one-sided mixture; several are averaged
   * (`logOneSidedMixtures`).
   */
  readonly kA: Concentration;
  /** Prior concentration k of the second sample's (the stable version's) mixture; several are averaged. */
  readonly kB: Concentration;
}

export interface DifferenceEValue {
  /** log of the e-value; ≥ log(1/α) rejects the null at level α. */
  readonly logE: number;
  /** The second sample's rate ν at which the infimum was attained (the least favourable null). */
  readonly nuisance: number;
}

/** Golden-section minimisation of `f` on [lo, hi]; returns the best point seen and its value. */
function goldenMin(
  f: (x: number) => number,
  lo: number,
  hi: number,
  iterations: number,
): { x: number; y: number } {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  let best = fc < fd ? { x: c, y: fc } : { x: d, y: fd };
  for (let i = 0; i < iterations && b - a > 1e-15 * Math.max(1, Math.abs(a)); i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
      if (fc < best.y) best = { x: c, y: fc };
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
      if (fd < best.y) best = { x: d, y: fd };
    }
  }
  return best;
}

/**
 * Minimises `f` over [lo, hi]: a grid (logit-spaced over the whole range, dense around each hint),
 * then golden-section search between the best grid point's neighbours. `f` is smooth and, in every
 * case met here, has one valley; the grid guards against a second one.
 */
function minimise(
  f: (x: number) => number,
  lo: number,
  hi: number,
  hints: readonly { centre: number; halfWidth: number }[],
): { x: number; y: number } {
  const xs: number[] = [lo, hi];
  const span = hi - lo;
  for (let i = 1; i < 32; i++) {
    const t = -24 + (48 * i) / 32;
    xs.push(lo + span / (1 + Math.exp(-t)));
  }
  for (const { centre, halfWidth } of hints) {
    if (!Number.isFinite(centre) || !(halfWidth > 0)) continue;
    for (let i = -16; i <= 16; i++) xs.push(centre + (halfWidth * i) / 16);
  }
  const grid = [...new Set(xs.filter((x) => x >= lo && x <= hi))].sort((p, q) => p - q);
  let bestIndex = 0;
  let bestY = Infinity;
  const ys = grid.map((x) => f(x));
  ys.forEach((y, i) => {
    if (y < bestY) {
      bestY = y;
      bestIndex = i;
    }
  });
  const left = grid[Math.max(0, bestIndex - 1)] as number;
  const right = grid[Math.min(grid.length - 1, bestIndex + 1)] as number;
  const refined = right > left ? goldenMin(f, left, right, 45) : { x: left, y: bestY };
  return refined.y < bestY ? refined : { x: grid[bestIndex] as number, y: bestY };
}

function spread(c: BinomialCounts): { rate: number; sd: number } {
  const n = Math.max(c.trials, 1);
  const rate = c.successes / n;
  return { rate, sd: Math.sqrt((rate * (1 - rate) + 1 / n) / n) };
}

/**
 * e-value against H₀: p_A − p_B ≤ margin ('greater') or H₀: p_A − p_B ≥ margin ('less'):
 * inf over the second sample's rate ν of M^±_A(ν + margin) · (1 + M_B(ν))/2. See the module comment.
 */
export function logDifferenceEValue(
  a: BinomialCounts,
  b: BinomialCounts,
  margin: number,
  side: Side,
  tuning: DifferenceTuning,
): DifferenceEValue {
  checkCounts(a, 'first sample');
  checkCounts(b, 'second sample');
  const kA = concentrations(tuning.kA);
  const kB = concentrations(tuning.kB);
  if (!(margin > -1 && margin < 1))
    throw new StatsInputError(`margin must lie in (−1, 1), got ${margin}`, { margin });
  // Null points: ν ∈ (0, 1) for which some rate of A satisfies the null. For 'greater' (p_A ≤ ν + margin)
  // that needs ν + margin ≥ 0, and once ν + margin ≥ 1 it is no restriction at all (A's factor is then
  // the constant 1); for 'less' (p_A ≥ ν + margin) it needs ν + margin ≤ 1, and it is no restriction
  // once ν + margin ≤ 0.
  const lo = (side === 'greater' ? Math.max(0, -margin) : 0) + EDGE;
  const hi = (side === 'greater' ? 1 : Math.min(1, 1 - margin)) - EDGE;
  if (!(hi > lo)) return { logE: Infinity, nuisance: NaN };
  const f = (nu: number): number => {
    const u = nu + margin;
    const vacuous = side === 'greater' ? u >= 1 - EDGE : u <= EDGE;
    const termA = vacuous ? 0 : logOneSidedMixtures(a.successes, a.trials, u, kA, side);
    const termB = logMeanExp(kB.map((k) => logMixture(b.successes, b.trials, nu, k)));
    return termA + logHedged(termB);
  };
  const sa = spread(a);
  const sb = spread(b);
  const best = minimise(f, lo, hi, [
    { centre: sb.rate, halfWidth: 12 * sb.sd },
    { centre: sa.rate - margin, halfWidth: 12 * sa.sd },
  ]);
  return { logE: best.y, nuisance: best.x };
}

export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/**
 * Bisection for the boundary of a monotone decision: the `x` in [lo, hi] where `reject(x)` flips.
 * `rejectBelow`: true when reject holds for small x (so the answer is the largest rejected x).
 */
function boundary(
  reject: (x: number) => boolean,
  lo: number,
  hi: number,
  rejectBelow: boolean,
  tolerance: number,
): number {
  // Invariant for rejectBelow: reject(l) (or l is the edge), !reject(h).
  let l = lo;
  let h = hi;
  if (rejectBelow) {
    if (!reject(lo)) return lo;
    if (reject(hi)) return hi;
  } else {
    if (!reject(hi)) return hi;
    if (reject(lo)) return lo;
  }
  while (h - l > tolerance) {
    const m = (l + h) / 2;
    if (reject(m) === rejectBelow) l = m;
    else h = m;
  }
  return rejectBelow ? l : h;
}

/**
 * The confidence sequence for p_A − p_B at level α: [largest margin still rejected by the 'greater'
 * test, smallest margin rejected by the 'less' test]. Within `tolerance` (outward).
 */
export function differenceBounds(
  a: BinomialCounts,
  b: BinomialCounts,
  alpha: number,
  tuning: DifferenceTuning,
  tolerance = 1e-4,
): Interval {
  checkAlpha(alpha);
  const c = Math.log(1 / alpha);
  const edge = 1 - 1e-9;
  const lower = boundary(
    (m) => logDifferenceEValue(a, b, m, 'greater', tuning).logE >= c,
    -edge,
    edge,
    true,
    tolerance,
  );
  const upper = boundary(
    (m) => logDifferenceEValue(a, b, m, 'less', tuning).logE >= c,
    -edge,
    edge,
    false,
    tolerance,
  );
  return { lower: Math.max(-1, lower - tolerance), upper: Math.min(1, upper + tolerance) };
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1))
    throw new StatsInputError(`alpha must lie in (0, 1), got ${alpha}`, { alpha });
}

// ---------------------------------------------------------------------------------------------------
// One proportion: confidence sequence

/**
 * {θ: M(θ) < 1/α} with the centred two-sided mixture: a confidence sequence for one proportion. The
 * observed share always lies inside (M ≤ 1 there, since a mixture never beats the best fit); the ends are
 * found by bisection on each side, where M grows away from the data.
 */
export function proportionBounds(c: BinomialCounts, alpha: number, k: number, tolerance = 1e-6): Interval {
  checkCounts(c, 'sample');
  checkAlpha(alpha);
  checkConcentration(k);
  if (c.trials === 0) return { lower: 0, upper: 1 };
  const limit = Math.log(1 / alpha);
  const rate = c.successes / c.trials;
  const reject = (t: number): boolean => logMixture(c.successes, c.trials, t, k) >= limit;
  const lower = rate <= EDGE ? 0 : boundary(reject, EDGE, rate, true, tolerance);
  const upper = rate >= 1 - EDGE ? 1 : boundary(reject, rate, 1 - EDGE, false, tolerance);
  return {
    lower: lower <= EDGE ? 0 : Math.max(0, lower - tolerance),
    upper: upper >= 1 - EDGE ? 1 : Math.min(1, upper + tolerance),
  };
}

// ---------------------------------------------------------------------------------------------------
// Quantile ratio of two samples

export interface QuantileTuning {
  /** Which quantile: 0.5 compares medians. */
  readonly p: number;
  /** Prior concentration of the indicator mixtures (centred on p or 1 − p); several are averaged. */
  readonly k: Concentration;
  /**
   * 'product' when the samples are independent (different requests: a canary), 'average' when they
   * may depend on each other (a shadow answers the same requests as the stable version).
   */
  readonly combine: 'product' | 'average';
}

/**
 * log M⁺(s; n, θ₀) for every count s = 0…n of one sample (averaged over the concentrations given).
 * Non-decreasing in s: every Bernoulli ratio with θ′ > θ₀ grows with the number of successes, and so
 * does any mixture of them.
 */
class OneSidedTable {
  private readonly values: Float64Array;
  constructor(
    private readonly n: number,
    theta0: number,
    k: Concentration,
  ) {
    const ks = concentrations(k);
    const tables = ks.map((kk) => OneSidedTable.fill(n, theta0, kk));
    if (tables.length === 1) {
      this.values = tables[0] as Float64Array;
      return;
    }
    this.values = new Float64Array(n + 1);
    const column: number[] = new Array<number>(tables.length);
    for (let s = 0; s <= n; s++) {
      tables.forEach((t, i) => (column[i] = t[s] as number));
      this.values[s] = logMeanExp(column);
    }
  }

  /**
   * One concentration, filled in one pass with the exact recurrences B(a + 1, b − 1) = B(a, b)·a/(b − 1)
   * and P(Beta(a + 1, b − 1) > θ₀) = P(Beta(a, b) > θ₀) + θ₀^a (1 − θ₀)^(b−1) / (a·B(a, b)) (a sum of
   * positive terms, so stable in log space); log B is recomputed directly every 256 steps so that
   * rounding cannot drift over 10⁵ counts.
   */
  private static fill(n: number, theta0: number, k: number): Float64Array {
    const t = Math.min(1 - EDGE, Math.max(EDGE, theta0));
    const values = new Float64Array(n + 1);
    const a0 = k * t;
    const b0 = k * (1 - t);
    const logT = Math.log(t);
    const log1T = Math.log1p(-t);
    const priorB = logBeta(a0, b0);
    const priorTail = logBetaSf(t, a0, b0);
    let a = a0;
    let b = b0 + n;
    let logB = logBeta(a, b);
    let logTail = logBetaSf(t, a, b);
    for (let s = 0; ; s++) {
      values[s] = logB - priorB - xlogy(s, t) - (n - s) * log1T + logTail - priorTail;
      if (s === n) break;
      const term = a * logT + (b - 1) * log1T - Math.log(a) - logB;
      logTail =
        logTail > term
          ? logTail + Math.log1p(Math.exp(term - logTail))
          : term + Math.log1p(Math.exp(logTail - term));
      logB += Math.log(a) - Math.log(b - 1);
      a += 1;
      b -= 1;
      if ((s & 255) === 255) logB = logBeta(a, b);
    }
    return values;
  }
  get(s: number): number {
    return this.values[s] as number;
  }
  /** The least count c with get(c) ≥ level, or n + 1 when there is none (binary search). */
  firstAtLeast(level: number): number {
    if (this.get(this.n) < level) return this.n + 1;
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.get(mid) >= level) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

function isSortedFinite(xs: Float64Array, what: string): void {
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] as number;
    if (!Number.isFinite(x)) throw new StatsInputError(`${what} has a non-finite value at ${i}`);
    if (i > 0 && x < (xs[i - 1] as number)) throw new StatsInputError(`${what} must be sorted ascending`);
  }
}

/** #{i: xs[i] < q} in a sorted array. */
function countBelow(xs: Float64Array, q: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) < q) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** #{i: xs[i] ≤ q} in a sorted array. */
function countAtMost(xs: Float64Array, q: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= q) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A two-sample quantile comparison prepared once per look: the sorted samples and the lazily filled
 * tables of one-sided mixtures, reused by every ratio the bisection for the bounds tries.
 */
export class QuantileRatioTest {
  private readonly aAbove: OneSidedTable;
  private readonly aBelow: OneSidedTable;
  private readonly bAbove: OneSidedTable;
  private readonly bBelow: OneSidedTable;
  private readonly scaled: Float64Array;

  /** `a` (canary) and `b` (stable): sorted ascending, finite, positive for a ratio to mean anything. */
  constructor(
    private readonly a: Float64Array,
    private readonly b: Float64Array,
    private readonly tuning: QuantileTuning,
  ) {
    isSortedFinite(a, 'first sample');
    isSortedFinite(b, 'second sample');
    if (a.length === 0 || b.length === 0) throw new StatsInputError('both samples need values');
    const { p } = tuning;
    if (!(p > 0 && p < 1)) throw new StatsInputError(`quantile p must lie in (0, 1), got ${p}`);
    const k = concentrations(tuning.k);
    // 'above' indicators have probability ≤ 1 − p under the null, 'below' ones ≤ p; for the median the
    // two tables of a sample are one.
    this.aAbove = new OneSidedTable(a.length, 1 - p, k);
    this.aBelow = p === 0.5 ? this.aAbove : new OneSidedTable(a.length, p, k);
    this.bAbove = new OneSidedTable(b.length, 1 - p, k);
    this.bBelow = p === 0.5 ? this.bAbove : new OneSidedTable(b.length, p, k);
    this.scaled = new Float64Array(b.length);
  }

  /**
   * log e-value against H₀: Q_a(p) ≤ g(Q_b(p)) ('greater') or H₀: Q_a(p) ≥ g(Q_b(p)) ('less'), with
   * g(y) = max(ratio·y, y + allowance): the infimum over every threshold q of the canary's and the
   * stable's indicator mixtures. `allowance` (default 0: a pure ratio) is an absolute increase that is
   * always within the margin, so that a ratio on sub-millisecond medians does not call scheduling noise
   * a regression. Any strictly increasing g keeps the test exact: Q_{g(Y)}(p) = g(Q_Y(p)), so the
   * stable sample is mapped through g and compared with the canary's as it is.
   */
  logEValue(ratio: number, side: Side, allowance = 0): number {
    if (!(ratio > 0) || !Number.isFinite(ratio))
      throw new StatsInputError(`ratio must be positive, got ${ratio}`);
    if (!(allowance >= 0) || !Number.isFinite(allowance))
      throw new StatsInputError(`allowance must be finite and at least 0, got ${allowance}`);
    const { a, b, scaled } = this;
    const nA = a.length;
    const nB = b.length;
    // (Without an allowance g is the ratio alone, also below 1, where the bounds' bisection looks.)
    if (allowance === 0) for (let j = 0; j < nB; j++) scaled[j] = ratio * (b[j] as number);
    else
      for (let j = 0; j < nB; j++) {
        const y = b[j] as number;
        scaled[j] = Math.max(ratio * y, y + allowance);
      }
    const product = this.tuning.combine === 'product';
    const combine = (la: number, lb: number): number =>
      product ? la + logHedged(lb) : Math.max(la, lb) + Math.log1p(Math.exp(-Math.abs(la - lb))) - Math.LN2;
    // Counts at a threshold q: for 'greater', A above (#{a > q}) and B below (#{g(b) < q}); for 'less',
    // A below (#{a < q}) and B above (#{g(b) > q}). Both are smallest exactly at an observed value, so
    // the infimum over q is attained at one of them, or at ±∞.
    const greater = side === 'greater';
    const tableA = greater ? this.aAbove : this.aBelow;
    const tableB = greater ? this.bBelow : this.bAbove;
    const countsAt = (q: number): [number, number] =>
      greater
        ? [nA - countAtMost(a, q), countBelow(scaled, q)]
        : [countBelow(a, q), nB - countAtMost(scaled, q)];
    const at = (q: number): number => {
      const [cA, cB] = countsAt(q);
      return combine(tableA.get(cA), tableB.get(cB));
    };
    // A first bound from the thresholds where the two quantiles are estimated, then every threshold
    // whose value could still be lower: each term is monotone in its count, and the combined value is
    // at least (A's term − log 2) and at least (A's least term + B's hedged term), so thresholds where
    // either count is past the level those bounds allow are skipped without being evaluated.
    const qa = a[Math.min(nA - 1, Math.floor(this.tuning.p * nA))] as number;
    const qb = scaled[Math.min(nB - 1, Math.floor(this.tuning.p * nB))] as number;
    let best = Math.min(at(qa), at(qb), at(-Infinity), at(Infinity));
    const minA = tableA.get(0);
    const minB = tableB.get(0);
    const capA = tableA.firstAtLeast(best + Math.LN2); // counts of A at or past this cannot win
    const capB = product
      ? countWhere((c) => minA + logHedged(tableB.get(c)) >= best, nB)
      : tableB.firstAtLeast(best + Math.LN2);
    void minB;
    // Translate the count caps into a range of thresholds q (A's count moves one way with q, B's the
    // other), then sweep only the observed values inside it.
    let qLo = -Infinity;
    let qHi = Infinity;
    if (greater) {
      // #{a > q} < capA  ⟺  q ≥ a[nA − capA];  #{g(b) < q} < capB  ⟺  q ≤ scaled[capB − 1].
      if (capA <= nA) qLo = capA === 0 ? Infinity : (a[nA - capA] as number);
      if (capB <= nB) qHi = capB === 0 ? -Infinity : (scaled[capB - 1] as number);
    } else {
      // #{a < q} < capA  ⟺  q ≤ a[capA − 1];  #{g(b) > q} < capB  ⟺  q ≥ scaled[nB − capB].
      if (capA <= nA) qHi = capA === 0 ? -Infinity : (a[capA - 1] as number);
      if (capB <= nB) qLo = capB === 0 ? Infinity : (scaled[nB - capB] as number);
    }
    if (qLo > qHi) return best;
    let i = countBelow(a, qLo);
    let j = countBelow(scaled, qLo);
    while (i < nA || j < nB) {
      const q = Math.min(i < nA ? (a[i] as number) : Infinity, j < nB ? (scaled[j] as number) : Infinity);
      if (q > qHi) break;
      const v = at(q);
      if (v < best) best = v;
      while (i < nA && (a[i] as number) <= q) i++;
      while (j < nB && (scaled[j] as number) <= q) j++;
    }
    return best;
  }

  /**
   * Confidence sequence for the ratio Q_a(p)/Q_b(p) at level α: the largest ratio still rejected by
   * the 'greater' test and the smallest rejected by the 'less' one (bisection on the log ratio, from a
   * bracket around the ratio of the sample quantiles).
   */
  bounds(alpha: number, relativeTolerance = 1e-3): Interval {
    checkAlpha(alpha);
    const c = Math.log(1 / alpha);
    const { a, b } = this;
    const qa = a[Math.min(a.length - 1, Math.floor(this.tuning.p * a.length))] as number;
    const qb = b[Math.min(b.length - 1, Math.floor(this.tuning.p * b.length))] as number;
    const centre = Math.log(Math.max(qa, 1e-300) / Math.max(qb, 1e-300));
    const tol = Math.log1p(relativeTolerance);
    const lower = flip(
      (x) => this.logEValue(Math.exp(x), 'greater') >= c,
      centre,
      0.05,
      true,
      tol,
      -700,
      700,
    );
    const upper = flip((x) => this.logEValue(Math.exp(x), 'less') >= c, centre, 0.05, false, tol, -700, 700);
    return { lower: Math.exp(lower - tol), upper: Math.exp(upper + tol) };
  }
}

/** The least c in [0, n] with `holds(c)` for a predicate that is monotone (false…false, true…true). */
function countWhere(holds: (c: number) => boolean, n: number): number {
  if (!holds(n)) return n + 1;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (holds(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Where a monotone decision flips, searched outward from `start` in doubling steps and then by
 * bisection to `tolerance`, clamped to [min, max]. `rejectBelow`: reject holds for small x, so the
 * answer is (about) the largest rejected x; otherwise the smallest rejected x.
 */
function flip(
  reject: (x: number) => boolean,
  start: number,
  step: number,
  rejectBelow: boolean,
  tolerance: number,
  min: number,
  max: number,
): number {
  // Bracket [l, h] with reject(l) === rejectBelow and reject(h) !== rejectBelow.
  let l: number;
  let h: number;
  let s = step;
  if (reject(start) === rejectBelow) {
    l = start;
    h = Math.min(max, start + s);
    while (h < max && reject(h) === rejectBelow) {
      l = h;
      s *= 2;
      h = Math.min(max, h + s);
    }
    if (reject(h) === rejectBelow) return h;
  } else {
    h = start;
    l = Math.max(min, start - s);
    while (l > min && reject(l) !== rejectBelow) {
      h = l;
      s *= 2;
      l = Math.max(min, l - s);
    }
    if (reject(l) !== rejectBelow) return l;
  }
  while (h - l > tolerance) {
    const m = (l + h) / 2;
    if (reject(m) === rejectBelow) l = m;
    else h = m;
  }
  return rejectBelow ? l : h;
}

// ---------------------------------------------------------------------------------------------------
// PSI of two binned distributions

export interface PsiBounds {
  readonly lower: number;
  readonly upper: number;
  /** Each bin's share interval in the reference and in the current sample. */
  readonly reference: readonly Interval[];
  readonly current: readonly Interval[];
}

/** (c − r)·ln(c/r) with both shares floored at ε, as `psiFromShares` does. */
function psiTerm(c: number, r: number, epsilon: number): number {
  const cc = Math.max(c, epsilon);
  const rr = Math.max(r, epsilon);
  return (cc - rr) * Math.log(cc / rr);
}

/**
 * Bounds on PSI(reference, current) that hold at every time with probability ≥ 1 − α: every bin share of
 * both samples in its confidence sequence at level α/(2·bins). The least PSI over those boxes is 0 for a
 * bin whose intervals overlap and otherwise the term at the two nearest ends; the largest is at one of
 * the four corners (the term is convex).
 */
export function psiBounds(
  referenceCounts: readonly number[],
  currentCounts: readonly number[],
  alpha: number,
  k: number,
  epsilon = 1e-4,
): PsiBounds {
  if (referenceCounts.length !== currentCounts.length || referenceCounts.length < 2)
    throw new StatsInputError('both samples need the same number (≥ 2) of bins');
  checkAlpha(alpha);
  const bins = referenceCounts.length;
  const nR = referenceCounts.reduce((s, x) => s + x, 0);
  const nC = currentCounts.reduce((s, x) => s + x, 0);
  const level = alpha / (2 * bins);
  const reference = referenceCounts.map((x) => proportionBounds({ successes: x, trials: nR }, level, k));
  const current = currentCounts.map((x) => proportionBounds({ successes: x, trials: nC }, level, k));
  let lower = 0;
  let upper = 0;
  for (let i = 0; i < bins; i++) {
    const r = reference[i] as Interval;
    const c = current[i] as Interval;
    if (c.lower > r.upper) lower += psiTerm(c.lower, r.upper, epsilon);
    else if (r.lower > c.upper) lower += psiTerm(c.upper, r.lower, epsilon);
    upper += Math.max(
      psiTerm(c.lower, r.lower, epsilon),
      psiTerm(c.lower, r.upper, epsilon),
      psiTerm(c.upper, r.lower, epsilon),
      psiTerm(c.upper, r.upper, epsilon),
    );
  }
  return { lower, upper, reference, current };
}
