// Over 350 lines on purpose: each check's fixed-sample and anytime-valid forms sit side by side, so the
// two analysis modes stay comparable and share their evidence until the sequential mode becomes the default.
import { type CheckResult, combine, type GateVerdict } from '../promotion/verdict';
import { type CanaryAnalysis } from '../spec/schema';
import { binShares, driftReport, PSI_EPSILON, psiFromShares, quantileEdges } from '../stats/drift';
import { median, normalSf } from '../stats/quantile';
import { StatisticUndefinedError, StatsInputError } from '../stats/errors';
import { mannWhitneyU, twoProportionZTest } from '../stats/tests';
import {
  type Histogram,
  latencySamples,
  scoreSamples,
  type StatsSnapshot,
} from '../promotion/stats-snapshot';
import { evenSubsample, finite, pct, psiBins, round, summarize, waitingMessage } from './evidence';
import { differenceBounds, logDifferenceEValue, psiBounds, QuantileRatioTest } from '../stats/sequential';

/**
 * Canary analysis of one stats window: the canary against the stable version serving beside it, on
 * the same traffic over the same time (Kayenta's "fresh baseline"). Three checks, each of which needs
 * BOTH a statistically significant difference AND a difference larger than the spec tolerates to fail:
 *
 * - error rate: one-sided test of H₀ "canary rate − stable rate ≤ maxErrorRateIncrease" (Wald z with
 *   unpooled variance, shifted by the margin). Failed when H₀ is rejected at errorRateAlpha; passed when
 *   the observed increase is within the margin; inconclusive when it is above the margin but not yet
 *   significant (more samples will tell).
 * - latency: Mann–Whitney U, canary 'greater' than stable, at latency.alpha, AND the Hodges–Lehmann
 *   shift expressed as a ratio of medians, (median_stable + HL) / median_stable, above
 *   latency.maxIncreaseRatio. Large windows make a 5 % slowdown (or warm-up jitter) "significant"; the
 *   ratio keeps such tiny-but-significant shifts from failing a release (spinnaker #6278). Passed when
 *   the ratio is within bounds; inconclusive when it is above bounds but not significant.
 * - prediction distribution: PSI(stable scores, canary scores) above prediction.maxPsi AND the KS test
 *   rejecting equality at prediction.ksAlpha. PSI is the size of the shift, KS the evidence it is real:
 *   PSI of small samples is biased upwards by about (bins−1)·(1/n+1/m), so small windows use fewer
 *   bins (`psiBins`), and a high PSI without a significant KS is inconclusive rather than failed; a
 *   low PSI passes even when KS is significant on a large window.
 *
 * Fewer than minSamples per variant leaves a check inconclusive ("waiting for samples"), never failed:
 * low traffic waits, it does not roll back (flagger #1035). The verdict is failed if any check fails,
 * passed if all pass, inconclusive otherwise. Evidence holds counts and percentiles, never the raw
 * arrays, because verdicts are stored in workflow history.
 *
 * All of the above is the 'bonferroni' mode: fixed-sample tests, valid at one look, which is why the
 * workflow divides their alphas by every look the canary may take. The spec's default,
 * `mode: 'sequential'` (a judge called without options still uses 'bonferroni'), swaps
 * each check for an anytime-valid one on the same tolerances (error rate: difference of proportions
 * with the margin; latency: the median ratio; prediction: PSI over fixed bins), built from the
 * e-processes of src/stats/sequential.ts, which explains the statistics. Their alphas are divided only
 * by the number of windows (`plannedWindows`), and a check passes only once the data show it within
 * its tolerance (early non-inferiority), so a step can end as soon as every check has passed. They
 * assume the window holds every sample of the step since its start (or a random thinning of them):
 * a window that keeps only the most recent samples would restart the stream under the e-process.
 */

type Window = NonNullable<StatsSnapshot['variants']['stable']>;
const EMPTY: Window = { version: '', requests: 0, errors: 0, latencyMs: [], scores: [] };

/** Hodges–Lehmann is O(n·m) in memory; 1000 × 1000 pairs keep it at 8 MB and well under a second. */
const HL_MAX_PER_SIDE = 1000;

/**
 * How the checks turn a window into a verdict.
 *
 * - 'bonferroni' (when no mode is given; specs default to 'sequential'): the fixed-sample tests above,
 *   each look at alphas the caller has already divided by every look the canary may take
 *   (`alphaSpent(analysis, plannedLooks(canary))`).
 * - 'sequential': anytime-valid e-processes (canary-sequential.ts, src/stats/sequential.ts), valid at
 *   every look of a step's window at once, so the caller divides the alphas only by the number of
 *   windows (`plannedWindows(canary)`). A check fails when its confidence sequence lies beyond the
 *   spec's tolerance and passes — early non-inferiority — when it lies within it; in between it is
 *   inconclusive.
 */
export type CanaryAnalysisMode = 'bonferroni' | 'sequential';

export interface CanaryJudgeOptions {
  readonly mode?: CanaryAnalysisMode;
  /** Tuning of the sequential mode (prior concentrations, bins); the defaults are documented there. */
  readonly sequential?: Partial<SequentialTuning>;
  /**
   * Sequential mode only: this is a watch's last look (its deadline, at the end of a bake or of an
   * extension). A check that is still inconclusive then passes if the Bonferroni design's check passes
   * on the same window — its point estimate within the tolerance — marked
   * `evidence.decidedOnPointEstimate`. Failures still need their e-process, so false rollbacks stay
   * bounded by alpha; what this gives up is the guarantee of the pass (non-inferiority shown at level
   * alpha), which the Bonferroni design never had. Without it, a canary with too little traffic to
   * show non-inferiority within its bakes is rolled back for lack of evidence. Off by default.
   */
  readonly lastLook?: boolean;
}

export function judgeCanary(
  stats: StatsSnapshot,
  analysis: CanaryAnalysis,
  options: CanaryJudgeOptions = {},
): GateVerdict {
  const stable = stats.variants.stable ?? EMPTY;
  const canary = stats.variants.canary ?? EMPTY;
  const tuning = { ...DEFAULT_SEQUENTIAL_TUNING, ...options.sequential };
  type Fixed = typeof errorRateCheck;
  type Sequential = typeof sequentialErrorRateCheck;
  // A provider may not measure latency or scores at all (`unmeasured`, e.g. a model server that exports
  // no score histogram): that check is left out of the verdict, never waited for.
  const measured = (what: 'latency' | 'scores'): boolean =>
    !(stable.unmeasured?.includes(what) === true && canary.unmeasured?.includes(what) === true);
  const pairs: [Fixed, Sequential][] = [
    [errorRateCheck, sequentialErrorRateCheck],
    ...(measured('latency') ? [[latencyCheck, sequentialLatencyCheck] as [Fixed, Sequential]] : []),
    ...(measured('scores') ? [[predictionCheck, sequentialPredictionCheck] as [Fixed, Sequential]] : []),
  ];
  const checks =
    options.mode === 'sequential'
      ? pairs.map(([fixed, sequential]) => {
          const c = sequential(stable, canary, analysis, tuning);
          return options.lastLook === true && c.status === 'inconclusive'
            ? onPointEstimate(c, fixed(stable, canary, analysis))
            : c;
        })
      : pairs.map(([fixed]) => fixed(stable, canary, analysis));
  // What every check compares, in the report too: the two versions serving side by side in one step.
  const compares = `canary v${canary.version || '?'} (candidate) vs stable v${stable.version || '?'} (champion): requests of the same step, routed at random, since the step began`;
  const verdict = combine(
    'canary',
    checks.map((c) => ({ ...c, evidence: { ...c.evidence, compares } })),
  );
  return {
    ...verdict,
    summary: `generation ${stats.generation}, window ${round((stats.windowEndMs - stats.windowStartMs) / 1000, 1)}s: ${verdict.summary}`,
  };
}

function errorRateCheck(stable: Window, canary: Window, analysis: CanaryAnalysis): CheckResult {
  const name = 'error rate increase';
  const metric = 'canary error rate − stable error rate';
  const margin = analysis.maxErrorRateIncrease;
  const alpha = analysis.errorRateAlpha;
  const base = { name, metric, threshold: margin, comparator: '<=' as const };
  const counts = errorCounts(canary, stable, analysis.minSamples);
  const waiting = waitingForErrorSamples(base, counts);
  if (waiting) return waiting;
  const pc = canary.errors / canary.requests;
  const ps = stable.errors / stable.requests;
  const diff = pc - ps;
  const se = Math.sqrt((pc * (1 - pc)) / canary.requests + (ps * (1 - ps)) / stable.requests);
  // Zero variance only when both rates are 0 or 1: the difference is then known exactly.
  const z = se > 0 ? (diff - margin) / se : diff > margin ? Infinity : -Infinity;
  const pValue = normalSf(z);
  const evidence = {
    ...counts,
    canaryRate: round(pc),
    stableRate: round(ps),
    increase: round(diff),
    z: round(z),
    pValue,
    alpha,
    test: 'one-sided Wald z, H0: increase <= margin',
    equalRatesPValue: equalRatesPValue(canary, stable),
  };
  const rates = `canary error rate ${pct(pc)} (${canary.errors}/${canary.requests}) vs stable ${pct(ps)} (${stable.errors}/${stable.requests})`;
  const common = { ...base, value: round(diff), sampleSize: canary.requests, evidence };
  if (pValue < alpha) {
    return {
      ...common,
      status: 'failed',
      message: `${rates}: increase ${pct(diff)} exceeds the allowed ${pct(margin)} (p=${round(pValue, 6)} < ${alpha})`,
    };
  }
  if (diff <= margin) {
    return {
      ...common,
      status: 'passed',
      message: `${rates}: increase ${pct(diff)} within the allowed ${pct(margin)}`,
    };
  }
  return {
    ...common,
    status: 'inconclusive',
    message: `${rates}: increase ${pct(diff)} is above the allowed ${pct(margin)} but not significant yet (p=${round(pValue, 4)} ≥ ${alpha}); waiting for more samples`,
  };
}

/** The pooled one-sided test of equal rates (no margin), as supporting evidence; null when undefined. */
function equalRatesPValue(canary: Window, stable: Window): number | null {
  try {
    return twoProportionZTest(canary.errors, canary.requests, stable.errors, stable.requests, 'greater')
      .pValue;
  } catch (e) {
    if (e instanceof StatisticUndefinedError) return null;
    throw e;
  }
}

function errorCounts(canary: Window, stable: Window, minSamples: number) {
  return {
    canary: { requests: canary.requests, errors: canary.errors },
    stable: { requests: stable.requests, errors: stable.errors },
    minSamples,
  };
}

/** The error-rate form of waitingForSamples: its evidence keeps the error counts seen so far. */
function waitingForErrorSamples(
  base: { name: string; metric: string; threshold: number; comparator: '<=' },
  counts: ReturnType<typeof errorCounts>,
): CheckResult | undefined {
  const { canary, stable, minSamples } = counts;
  if (canary.requests >= minSamples && stable.requests >= minSamples) return undefined;
  return {
    ...base,
    status: 'inconclusive',
    sampleSize: canary.requests,
    message: waitingMessage(base.name, { canary: canary.requests, stable: stable.requests }, minSamples),
    evidence: counts,
  };
}

/** Too few samples on either side: wait, never fail (low traffic is not a verdict). */
function waitingForSamples(
  base: { name: string; metric: string; threshold: number; comparator: '<=' },
  canary: number,
  stable: number,
  minSamples: number,
): CheckResult | undefined {
  if (canary >= minSamples && stable >= minSamples) return undefined;
  return {
    ...base,
    status: 'inconclusive',
    sampleSize: canary,
    message: waitingMessage(base.name, { canary, stable }, minSamples),
    evidence: { canary: { n: canary }, stable: { n: stable }, minSamples },
  };
}

function latencyCheck(stable: Window, canary: Window, analysis: CanaryAnalysis): CheckResult {
  const name = 'latency increase';
  const metric = 'canary/stable median latency ratio (Hodges–Lehmann)';
  const { alpha, maxIncreaseRatio, maxIncreaseMs } = analysis.latency;
  const base = { name, metric, threshold: maxIncreaseRatio, comparator: '<=' as const };
  const c = finite(latencySamples(canary));
  const s = finite(latencySamples(stable));
  const waiting = waitingForSamples(base, c.length, s.length, analysis.minSamples);
  if (waiting) return waiting;
  const mw = mannWhitneyU(c, s, 'greater');
  const cSub = evenSubsample(c, HL_MAX_PER_SIDE);
  const sSub = evenSubsample(s, HL_MAX_PER_SIDE);
  const shift = hodgesLehmannShift(cSub, sSub);
  const stableMedian = median(s);
  // Latencies are positive milliseconds; a zero median only happens with a broken clock.
  const ratio = stableMedian > 0 ? (stableMedian + shift) / stableMedian : shift > 0 ? Infinity : 1;
  const margin = latencyMargin(analysis, stableMedian);
  const evidence = {
    canary: summarize(c),
    stable: summarize(s),
    hodgesLehmannShiftMs: round(shift),
    hodgesLehmannPairs: cSub.length * sSub.length,
    ratio: Number.isFinite(ratio) ? round(ratio) : null,
    maxIncreaseMs,
    allowedShiftMs: round(margin.allowedShiftMs),
    mannWhitneyU: mw.statistic,
    z: round(mw.z),
    pValue: mw.pValue,
    alpha,
    alternative: 'greater',
  };
  const common = {
    ...base,
    threshold: margin.ratio,
    ...(Number.isFinite(ratio) ? { value: round(ratio) } : {}),
    sampleSize: c.length,
    evidence,
  };
  const what = `canary latency ${round(ratio, 3)}× stable (median ${round(stableMedian, 2)}ms, shift ${round(shift, 2)}ms)`;
  const significant = mw.pValue < alpha;
  const within = shift <= margin.allowedShiftMs;
  if (significant && !within) {
    return {
      ...common,
      status: 'failed',
      message: `${what} exceeds ${margin.text} and is significant (Mann–Whitney p=${round(mw.pValue, 6)} < ${alpha})`,
    };
  }
  if (within) {
    return {
      ...common,
      status: 'passed',
      message: `${what} within ${margin.text}${significant ? ` (significant, p=${round(mw.pValue, 6)}, but too small to matter)` : ''}`,
    };
  }
  return {
    ...common,
    status: 'inconclusive',
    message: `${what} exceeds ${margin.text} but is not significant yet (Mann–Whitney p=${round(mw.pValue, 4)} ≥ ${alpha}); waiting for more samples`,
  };
}

/**
 * The latency margin at a stable median m: the canary's median may reach max(ratio·m, m + ms). Reported
 * as the ratio it allows at m (the check's threshold) and in words.
 */
function latencyMargin(
  analysis: CanaryAnalysis,
  stableMedianMs: number,
): { ratio: number; allowedShiftMs: number; text: string } {
  const { maxIncreaseRatio: r, maxIncreaseMs: ms } = analysis.latency;
  const allowedShiftMs = Math.max((r - 1) * stableMedianMs, ms);
  const ratio = stableMedianMs > 0 ? round(Math.max(r, (stableMedianMs + ms) / stableMedianMs)) : r;
  const text = ms > 0 ? `${r}× or +${ms}ms, whichever is larger` : `${r}×`;
  return { ratio, allowedShiftMs, text };
}

function predictionCheck(stable: Window, canary: Window, analysis: CanaryAnalysis): CheckResult {
  const name = 'prediction drift';
  const metric = 'PSI(stable scores, canary scores)';
  const { maxPsi, ksAlpha } = analysis.prediction;
  const base = { name, metric, threshold: maxPsi, comparator: '<=' as const };
  const c = finite(scoreSamples(canary));
  const s = finite(scoreSamples(stable));
  const waiting = waitingForSamples(base, c.length, s.length, analysis.minSamples);
  if (waiting) return waiting;
  const bins = psiBins(s.length, c.length);
  const d = driftReport(s, c, bins);
  const evidence = {
    psi: round(d.psi),
    jensenShannon: round(d.jensenShannon),
    ks: { statistic: round(d.ks.statistic), pValue: d.ks.pValue, method: d.ks.method, alpha: ksAlpha },
    canary: summarize(c),
    stable: summarize(s),
    bins: {
      count: bins,
      edges: d.histogram.edges.map((e) => round(e)),
      stable: d.histogram.reference.map((x) => round(x)),
      canary: d.histogram.current.map((x) => round(x)),
    },
  };
  const common = { ...base, value: round(d.psi), sampleSize: c.length, evidence };
  const what = `score PSI ${round(d.psi)} (KS D=${round(d.ks.statistic)}, p=${round(d.ks.pValue, 6)}; ${c.length} canary vs ${s.length} stable scores)`;
  const significant = d.ks.pValue < ksAlpha;
  if (d.psi > maxPsi && significant) {
    return {
      ...common,
      status: 'failed',
      message: `${what}: above ${maxPsi} and KS significant at ${ksAlpha}`,
    };
  }
  if (d.psi <= maxPsi) {
    return { ...common, status: 'passed', message: `${what}: within ${maxPsi}` };
  }
  return {
    ...common,
    status: 'inconclusive',
    message: `${what}: above ${maxPsi} but KS not significant at ${ksAlpha} (small-sample PSI is noisy); waiting for more samples`,
  };
}

/**
 * The Hodges–Lehmann shift of `hodgesLehmann` in src/stats/tests.ts — the median of every xᵢ − yⱼ,
 * computed with the same floating-point subtraction, so the value is identical — found by selection
 * instead of sorting the n·m differences: O((n + m)·log) instead of O(n·m·log(n·m)), which took
 * most of a tick's time at 1000 × 1000.
 *
 * Both samples sorted, the differences xᵢ − yⱼ ≤ t form a suffix of j for each i that shrinks as i
 * grows, so counting them is one two-pointer pass. Bisection on t narrows an interval (L, H] holding
 * the wanted rank until few differences lie inside it, and those are then listed and sorted.
 */
export function hodgesLehmannShift(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) throw new StatsInputError('Hodges–Lehmann needs values on both sides');
  const xs = Float64Array.from(x).sort();
  const ys = Float64Array.from(y).sort();
  if (!Number.isFinite(xs[0]) || !Number.isFinite(xs[n - 1]) || xs.some(Number.isNaN))
    throw new StatsInputError('Hodges–Lehmann needs finite values');
  if (!Number.isFinite(ys[0]) || !Number.isFinite(ys[m - 1]) || ys.some(Number.isNaN))
    throw new StatsInputError('Hodges–Lehmann needs finite values');
  const total = n * m;
  /** #{(i, j): xᵢ − yⱼ ≤ t}. */
  const countAtMost = (t: number): number => {
    let count = 0;
    let j = 0; // first j with xᵢ − yⱼ ≤ t (non-decreasing in i)
    for (let i = 0; i < n; i++) {
      const xi = xs[i] as number;
      while (j < m && xi - (ys[j] as number) > t) j++;
      count += m - j;
    }
    return count;
  };
  /** The value of rank r (0-based) among the n·m differences. */
  const select = (r: number): number => {
    let low = (xs[0] as number) - (ys[m - 1] as number); // the least difference
    if (countAtMost(low) > r) return low;
    let high = (xs[n - 1] as number) - (ys[0] as number); // the largest
    let belowLow = countAtMost(low); // ≤ r: the wanted value is in (low, high]
    for (;;) {
      const inside = countAtMost(high) - belowLow;
      if (inside <= 4 * (n + m)) break;
      const mid = low + (high - low) / 2;
      if (!(mid > low && mid < high)) return high; // no double strictly between: all inside equal high
      const c = countAtMost(mid);
      if (c > r) high = mid;
      else {
        low = mid;
        belowLow = c;
      }
    }
    const inside: number[] = [];
    let jLow = 0; // first j with xᵢ − yⱼ ≤ high
    let jHigh = 0; // first j with xᵢ − yⱼ ≤ low
    for (let i = 0; i < n; i++) {
      const xi = xs[i] as number;
      while (jLow < m && xi - (ys[jLow] as number) > high) jLow++;
      while (jHigh < m && xi - (ys[jHigh] as number) > low) jHigh++;
      for (let j = jLow; j < jHigh; j++) inside.push(xi - (ys[j] as number));
    }
    inside.sort((a, b) => a - b);
    return inside[r - belowLow] as number;
  };
  const mid = total >> 1;
  return total % 2 === 1 ? select(mid) : (select(mid - 1) + select(mid)) / 2;
}

// ---------------------------------------------------------------------------------------------------
// Sequential mode: anytime-valid checks (the statistics are explained in src/stats/sequential.ts)

/**
 * Tuning of the sequential checks. None of it affects validity (every choice keeps the false-failure
 * and false-pass rates at or below the spec's alphas); it only moves the evidence a given departure
 * needs.
 */
export interface SequentialTuning {
  /**
   * Prior concentration k of the error-rate mixtures, the first of each version's two (the second is
   * the nearly flat k = 2, for gross failures and for a stable rate far from the margin's scale). Default (null): 1 / maxErrorRateIncrease,
   * clamped to [10, 1000], which makes the prior's spread about the margin itself around the null, so
   * the test is quickest for increases of one to a few margins.
   */
  readonly errorRateConcentration: number | null;
  /**
   * Prior concentrations of the latency indicator mixtures, averaged: 25 (spread ≈ 0.5/√(k+1) ≈ 0.1,
   * shifts of some 10–30 %) and 2 (flat, for gross slowdowns).
   */
  readonly latencyConcentration: readonly number[];
  /** Prior concentration of the score-bin share mixtures. */
  readonly predictionConcentration: number;
  /** Score bins for PSI: fixed, because an e-process may not change its statistic with the data. */
  readonly bins: number;
  /**
   * The first this-many stable scores of the window set the bin edges (their quantiles) and are then
   * left out of the test, so the edges do not depend on the data they judge.
   */
  readonly edgeSamples: number;
  /** Also compute the confidence sequences' ends as evidence (a bisection; decisions never need it). */
  readonly bounds: boolean;
}

export const DEFAULT_SEQUENTIAL_TUNING: SequentialTuning = {
  errorRateConcentration: null,
  latencyConcentration: [25, 2],
  predictionConcentration: 50,
  bins: 5,
  edgeSamples: 100,
  bounds: true,
};

export function errorConcentration(margin: number, tuning: SequentialTuning): number {
  if (tuning.errorRateConcentration !== null) return tuning.errorRateConcentration;
  return Math.min(1000, Math.max(10, 1 / Math.max(margin, 1e-9)));
}

/**
 * The last look's fallback (`CanaryJudgeOptions.lastLook`): an inconclusive sequential check passes
 * when the Bonferroni design's check of the same window passes (its point estimate within the
 * tolerance; never on significance alone).
 */
function onPointEstimate(check: CheckResult, fixed: CheckResult): CheckResult {
  if (fixed.status !== 'passed') return check;
  return {
    ...check,
    status: 'passed',
    message: `${check.message.replace(/; waiting for more samples$/, '')}; passed at the watch's last look on the point estimate (${fixed.message})`,
    evidence: { ...check.evidence, decidedOnPointEstimate: true, pointEstimate: fixed.value ?? null },
  };
}

/** "e=3.1e+4" for evidence: the e-value itself, which is what is compared with 1/α. */
function eValue(logE: number): number {
  if (logE > 700) return Infinity;
  return Number(Math.exp(logE).toPrecision(4));
}

function sequentialBase(name: string, metric: string, threshold: number) {
  return { name, metric, threshold, comparator: '<=' as const };
}

/**
 * Error rate, sequentially: H₀ "canary − stable ≤ margin" is rejected (failed) when its e-value reaches
 * 1/errorRateAlpha; H₀′ "canary − stable ≥ margin" is rejected (passed: non-inferior) when its own
 * e-value does. The confidence sequence for the increase is reported: failed means its lower end is
 * above the margin, passed that its upper end is below.
 */
function sequentialErrorRateCheck(
  stable: Window,
  canary: Window,
  analysis: CanaryAnalysis,
  tuning: SequentialTuning,
): CheckResult {
  const name = 'error rate increase';
  const margin = analysis.maxErrorRateIncrease;
  const alpha = analysis.errorRateAlpha;
  const base = sequentialBase(name, 'canary error rate − stable error rate', margin);
  const counts = errorCounts(canary, stable, analysis.minSamples);
  const waiting = waitingForErrorSamples(base, counts);
  if (waiting) return waiting;
  const k = errorConcentration(margin, tuning);
  const kk = { kA: [k, 2], kB: [k, 2] };
  const a = { successes: canary.errors, trials: canary.requests };
  const b = { successes: stable.errors, trials: stable.requests };
  const fail = logDifferenceEValue(a, b, margin, 'greater', kk);
  const pass = logDifferenceEValue(a, b, margin, 'less', kk);
  const limit = Math.log(1 / alpha);
  const pc = canary.errors / canary.requests;
  const ps = stable.errors / stable.requests;
  const diff = pc - ps;
  const cs = tuning.bounds ? differenceBounds(a, b, alpha, kk) : undefined;
  const evidence = {
    ...counts,
    canaryRate: round(pc),
    stableRate: round(ps),
    increase: round(diff),
    eValueExceedsMargin: eValue(fail.logE),
    eValueWithinMargin: eValue(pass.logE),
    alpha,
    ...(cs ? { confidenceSequence: { lower: round(cs.lower, 5), upper: round(cs.upper, 5) } } : {}),
    concentration: k,
    test: 'anytime-valid Beta-binomial mixture e-processes, infimum over the stable rate',
  };
  const rates = `canary error rate ${pct(pc)} (${canary.errors}/${canary.requests}) vs stable ${pct(ps)} (${stable.errors}/${stable.requests})`;
  const range = cs ? `; ${pct(1 - alpha)} confidence sequence ${pct(cs.lower)}…${pct(cs.upper)}` : '';
  const common = {
    ...base,
    value: round(diff),
    sampleSize: canary.requests,
    evidence,
    ...(cs
      ? { interval: { lower: round(cs.lower, 5), upper: round(cs.upper, 5), confidence: 1 - alpha } }
      : {}),
  };
  if (fail.logE >= limit) {
    return {
      ...common,
      status: 'failed',
      message: `${rates}: increase above the allowed ${pct(margin)} (e-value ${eValue(fail.logE)} ≥ 1/α = ${round(1 / alpha, 2)})${range}`,
    };
  }
  if (pass.logE >= limit) {
    return {
      ...common,
      status: 'passed',
      message: `${rates}: increase within the allowed ${pct(margin)} (e-value ${eValue(pass.logE)} ≥ 1/α = ${round(1 / alpha, 2)})${range}`,
    };
  }
  return {
    ...common,
    status: 'inconclusive',
    message: `${rates}: not yet known to be within or above the allowed ${pct(margin)}${range}; waiting for more samples`,
  };
}

/**
 * Latency, sequentially: the canary/stable median ratio against latency.maxIncreaseRatio by the
 * quantile test of stochastic order (`QuantileRatioTest`, medians, independent samples). Failed when
 * "ratio ≤ max" is rejected at latency.alpha, passed when "ratio ≥ max" is.
 */
function sequentialLatencyCheck(
  stable: Window,
  canary: Window,
  analysis: CanaryAnalysis,
  tuning: SequentialTuning,
): CheckResult {
  const name = 'latency increase';
  const { alpha, maxIncreaseRatio, maxIncreaseMs } = analysis.latency;
  const base = sequentialBase(name, 'canary/stable median latency ratio', maxIncreaseRatio);
  const c = Float64Array.from(finite(latencySamples(canary))).sort();
  const s = Float64Array.from(finite(latencySamples(stable))).sort();
  const waiting = waitingForSamples(base, c.length, s.length, analysis.minSamples);
  if (waiting) return waiting;
  const test = new QuantileRatioTest(c, s, {
    p: 0.5,
    k: tuning.latencyConcentration,
    combine: 'product',
  });
  const fail = test.logEValue(maxIncreaseRatio, 'greater', maxIncreaseMs);
  const pass = test.logEValue(maxIncreaseRatio, 'less', maxIncreaseMs);
  const limit = Math.log(1 / alpha);
  const cm = median(c);
  const sm = median(s);
  const ratio = sm > 0 ? cm / sm : cm > 0 ? Infinity : 1;
  const margin = latencyMargin(analysis, sm);
  const cs = tuning.bounds ? test.bounds(alpha) : undefined;
  const evidence = {
    canary: summarize(Array.from(c)),
    stable: summarize(Array.from(s)),
    medianRatio: Number.isFinite(ratio) ? round(ratio) : null,
    maxIncreaseMs,
    eValueExceedsMax: eValue(fail),
    eValueWithinMax: eValue(pass),
    alpha,
    ...(cs ? { confidenceSequence: { lower: round(cs.lower), upper: round(cs.upper) } } : {}),
    concentration: tuning.latencyConcentration,
    test: 'anytime-valid sequential test of the median ratio (indicator mixtures, infimum over thresholds)',
  };
  const common = {
    ...base,
    threshold: margin.ratio,
    ...(Number.isFinite(ratio) ? { value: round(ratio) } : {}),
    sampleSize: c.length,
    evidence,
    ...(cs ? { interval: { lower: round(cs.lower), upper: round(cs.upper), confidence: 1 - alpha } } : {}),
  };
  const what = `canary median latency ${round(ratio, 3)}× stable's (${round(cm, 2)}ms vs ${round(sm, 2)}ms)`;
  const range = cs
    ? `; ${pct(1 - alpha)} confidence sequence ${round(cs.lower, 3)}×…${round(cs.upper, 3)}×`
    : '';
  if (fail >= limit) {
    return {
      ...common,
      status: 'failed',
      message: `${what}: above ${margin.text} (e-value ${eValue(fail)} ≥ 1/α = ${round(1 / alpha, 2)})${range}`,
    };
  }
  if (pass >= limit) {
    return {
      ...common,
      status: 'passed',
      message: `${what}: within ${margin.text} (e-value ${eValue(pass)} ≥ 1/α = ${round(1 / alpha, 2)})${range}`,
    };
  }
  return {
    ...common,
    status: 'inconclusive',
    message: `${what}: not yet known to be within or above ${margin.text}${range}; waiting for more samples`,
  };
}

/**
 * Prediction drift, sequentially: PSI over `bins` fixed bins (edges from the first `edgeSamples` stable
 * scores, which the test then leaves out), bounded at every time by `psiBounds` at prediction.ksAlpha.
 * Failed when even the least PSI the data allow exceeds maxPsi, passed when the largest is within it.
 */
function sequentialPredictionCheck(
  stable: Window,
  canary: Window,
  analysis: CanaryAnalysis,
  tuning: SequentialTuning,
): CheckResult {
  const name = 'prediction drift';
  const { maxPsi } = analysis.prediction;
  const base = sequentialBase(name, 'PSI(stable scores, canary scores)', maxPsi);
  const binned = histogramBins(stable, canary, tuning);
  if (binned) return sequentialPsi(base, binned, analysis, tuning);
  const c = finite(canary.scores);
  const sAll = finite(stable.scores);
  const need = Math.max(analysis.minSamples, tuning.edgeSamples + 1);
  if (c.length < analysis.minSamples || sAll.length < need) {
    return {
      ...base,
      status: 'inconclusive',
      sampleSize: c.length,
      message: `${name}: waiting for samples: canary ${Math.min(c.length, analysis.minSamples)}/${analysis.minSamples}, stable ${Math.min(sAll.length, need)}/${need} (the first ${tuning.edgeSamples} stable scores set the bins)`,
      evidence: {
        canary: { n: c.length },
        stable: { n: sAll.length },
        minSamples: analysis.minSamples,
        edgeSamples: tuning.edgeSamples,
      },
    };
  }
  const edges = quantileEdges(sAll.slice(0, tuning.edgeSamples), tuning.bins);
  const s = sAll.slice(tuning.edgeSamples);
  const count = (xs: readonly number[]): number[] =>
    binShares(xs, edges, 'scores').map((share) => Math.round(share * xs.length));
  return sequentialPsi(
    base,
    {
      edges,
      stable: count(s),
      canary: count(c),
      summaries: { canary: summarize(c), stable: summarize(s) },
      edgeSamples: tuning.edgeSamples,
    },
    analysis,
    tuning,
  );
}

interface ScoreBins {
  readonly edges: readonly number[];
  readonly stable: readonly number[];
  readonly canary: readonly number[];
  readonly summaries: { canary: ReturnType<typeof summarize>; stable: ReturnType<typeof summarize> };
  /** Stable scores spent on choosing the edges (0 when the bins are a histogram's fixed buckets). */
  readonly edgeSamples: number;
}

/**
 * The bins of a provider's score histograms (Prometheus): its fixed buckets, chosen before any data,
 * so every stable score counts (none is spent on edges). Buckets empty on both sides are dropped. Only
 * when both variants come as histograms with the same bounds; otherwise undefined (raw samples).
 */
function histogramBins(stable: Window, canary: Window, tuning: SequentialTuning): ScoreBins | undefined {
  const hs = stable.scoreHistogram;
  const hc = canary.scoreHistogram;
  if (!hs || !hc || stable.scores.length > 0 || canary.scores.length > 0) return undefined;
  if (hs.bounds.length !== hc.bounds.length || hs.bounds.some((b, i) => b !== hc.bounds[i])) return undefined;
  const bounds = groupBounds(hs.bounds, tuning.bins);
  return {
    ...mergeEmpty(regroup(hs, bounds), regroup(hc, bounds)),
    summaries: { canary: summarize(scoreSamples(canary)), stable: summarize(scoreSamples(stable)) },
    edgeSamples: 0,
  };
}

/**
 * At most `bins` bins from a histogram's bounds, chosen by position alone (every k-th bound), never by
 * the counts: data-independent, so the e-process stays valid. For the gateway's score buckets
 * (twentieths of [0, 1]) and 5 bins: fifths, 0.2 … 0.8. More bins than the tuning's would widen the
 * union bound over bin shares and need several times the samples to pass (measured: some 4,000 a side
 * with 22 buckets against 500 with 5, at maxPsi 1).
 */
function groupBounds(bounds: readonly number[], bins: number): number[] {
  if (bounds.length + 1 <= bins) return [...bounds];
  const last = bounds.length - 1;
  const picked = new Set<number>();
  for (let i = 1; i < bins; i++) picked.add(Math.round((i * last) / bins));
  return [...picked].sort((a, b) => a - b).map((i) => bounds[i] as number);
}

/** `h`'s counts summed into the buckets of `bounds`, a subset of its own bounds. */
function regroup(h: Histogram, bounds: readonly number[]): Histogram {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  let j = 0;
  h.counts.forEach((n, i) => {
    const upper = i < h.bounds.length ? (h.bounds[i] as number) : Infinity;
    while (j < bounds.length && upper > (bounds[j] as number)) j++;
    counts[j] = (counts[j] as number) + n;
  });
  return { bounds: [...bounds], counts };
}

function mergeEmpty(hs: Histogram, hc: Histogram): { edges: number[]; stable: number[]; canary: number[] } {
  const edges: number[] = [];
  const stable: number[] = [];
  const canary: number[] = [];
  hs.counts.forEach((n, i) => {
    const m = hc.counts[i] ?? 0;
    if (n === 0 && m === 0) return;
    // A kept bucket's upper bound is the edge between it and the next kept one.
    if (stable.length > 0) edges.push(hs.bounds[i - 1] as number);
    stable.push(n);
    canary.push(m);
  });
  return { edges, stable, canary };
}

function sequentialPsi(
  base: ReturnType<typeof sequentialBase>,
  bins: ScoreBins,
  analysis: CanaryAnalysis,
  tuning: SequentialTuning,
): CheckResult {
  const name = 'prediction drift';
  const { maxPsi, ksAlpha: alpha } = analysis.prediction;
  const sc = [...bins.stable];
  const cc = [...bins.canary];
  const sn = sc.reduce((a, x) => a + x, 0);
  const cn = cc.reduce((a, x) => a + x, 0);
  const edges = bins.edges;
  if (bins.edgeSamples === 0 && (cn < analysis.minSamples || sn < analysis.minSamples)) {
    return {
      ...base,
      status: 'inconclusive',
      sampleSize: cn,
      message: waitingMessage(name, { canary: cn, stable: sn }, analysis.minSamples),
      evidence: { canary: { n: cn }, stable: { n: sn }, minSamples: analysis.minSamples, histogram: true },
    };
  }
  const s = { length: sn };
  const c = { length: cn };
  const bounds = psiBounds(sc, cc, alpha, tuning.predictionConcentration, PSI_EPSILON);
  const point = psiFromShares(
    sc.map((x) => x / s.length),
    cc.map((x) => x / c.length),
  );
  const evidence = {
    psi: round(point),
    psiBounds: { lower: round(bounds.lower), upper: round(bounds.upper) },
    alpha,
    canary: bins.summaries.canary,
    stable: bins.summaries.stable,
    bins: { count: edges.length + 1, edges: edges.map((e) => round(e)), stable: sc, canary: cc },
    edgeSamples: bins.edgeSamples,
    ...(bins.edgeSamples === 0 ? { binsFrom: 'the score histogram buckets' } : {}),
    concentration: tuning.predictionConcentration,
    test: 'anytime-valid confidence sequences for every bin share (union bound), PSI bounded over them',
  };
  const common = {
    ...base,
    value: round(point),
    sampleSize: c.length,
    evidence,
    interval: { lower: round(bounds.lower), upper: round(bounds.upper), confidence: 1 - alpha },
  };
  const what = `score PSI ${round(point)}, between ${round(bounds.lower)} and ${round(bounds.upper)} with ${pct(1 - alpha)} confidence at every time (${c.length} canary vs ${s.length} stable scores, ${edges.length + 1} bins)`;
  if (bounds.lower > maxPsi) return { ...common, status: 'failed', message: `${what}: above ${maxPsi}` };
  if (bounds.upper <= maxPsi) return { ...common, status: 'passed', message: `${what}: within ${maxPsi}` };
  return {
    ...common,
    status: 'inconclusive',
    message: `${what}: not yet known to be within or above ${maxPsi}; waiting for more samples`,
  };
}
