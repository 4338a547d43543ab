import { type Canary } from '../spec/schema';
import { normalQuantile } from '../stats/quantile';
import { logDifferenceEValue, psiBounds, QuantileRatioTest } from '../stats/sequential';
import { analysisMode, plannedTests } from './alpha-spending';
import { DEFAULT_SEQUENTIAL_TUNING, errorConcentration } from './canary-judge';
import { stepWarnings } from './plan-warnings';

export { humanMs } from './plan-warnings';

/**
 * Sample-size planning for the sequential canary analysis: from the spec's margins and alphas, a power,
 * and the model's observed traffic, how long each bake or analysis step will likely need before its
 * checks decide, and whether that fits in the step's maximum.
 *
 * Planning runs the judges' own e-processes on the data a step would likely have seen by time t, not a
 * normal approximation of them: the e-processes are exact for rare errors and small samples, where
 * approximations are worst, and no second formula can drift from the tests the watch applies.
 * "Likely" is a quantile path: counts and samples placed `power` of the way towards the unfavourable
 * side (one-sided z = Φ⁻¹(power) standard errors of the estimate), so the check decides by t in at
 * least about `power` of rollouts (unit-tested against a simulation of the tests themselves).
 *
 * - healthy: the candidate as good as the champion. Time until every check is shown non-inferior —
 *   error rate within maxErrorRateIncrease, median latency ratio within maxIncreaseRatio, score PSI
 *   within maxPsi — which is when a sequential bake may end after its minimum.
 * - regression: error rate up by twice the margin, or median latency up by twice the tolerated
 *   increase (the larger of the ratio's and the absolute allowance's, at the champion's median). Time until the check fails, which is when the canary rolls back.
 *
 * Latencies and scores stop accumulating when a version has the gateway's maxSamples of them (the window
 * keeps a prefix), so checks on them may never decide at high weights over long steps; counts (errors)
 * always grow. Pure: the traffic profile is read by the caller (canary-plan.ts).
 */

export interface TrafficProfile {
  /** All requests to the model per second (the canary gets its weight's share). */
  readonly requestsPerSecond: number;
  /** The champion's error rate. */
  readonly errorRate: number;
  /** Standard deviation of log latency (latencies assumed log-normal around a common median). */
  readonly latencyLogSd: number;
  /**
   * The champion's median latency, ms, when known. The latency margin's absolute part
   * (latency.maxIncreaseMs) matters only relative to it; without it the plan uses the ratio alone,
   * which can only make a healthy step's planned time longer.
   */
  readonly latencyMedianMs?: number;
}

export interface PlanOptions {
  /** Chance that a check has decided by the planned time. Default 0.8. */
  readonly power?: number;
  /** Latencies and scores kept per version and window (the gateway's DEFAULT_WINDOW_STATS.maxSamples). */
  readonly maxSamples?: number;
  /** Longest time considered; beyond it a check is reported as not deciding. Default 7 days. */
  readonly horizonMs?: number;
}

export type CheckName = 'error rate increase' | 'latency increase' | 'prediction drift';

export interface CheckPlan {
  readonly name: CheckName;
  /** Time until a healthy candidate is shown within the margin; null: not within the horizon. */
  readonly nonInferiorMs: number | null;
  /** Time until the regression below fails the check; null: not within the horizon, or not planned. */
  readonly regressionMs: number | null;
  /** The regression planned for, in words ("+2 % errors", "1.4× median latency"). */
  readonly regression: string | null;
}

export interface StepPlan {
  /** Index in canary.steps. */
  readonly index: number;
  readonly weight: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly checks: readonly CheckPlan[];
  /** When every check of a healthy candidate is non-inferior; null when some check is not in time. */
  readonly nonInferiorMs: number | null;
  /** What the step will likely take for a healthy candidate. */
  readonly likelyMs: number;
  /** 'evidence': ends once non-inferior; 'maximum': runs to its end (fixed, bonferroni, too little traffic). */
  readonly endsBy: 'evidence' | 'maximum';
  /** Why this step cannot reach a decision within its maximum, if it cannot. */
  readonly warnings: readonly string[];
}

export interface CanaryPlan {
  readonly mode: 'sequential' | 'bonferroni';
  readonly power: number;
  readonly traffic: TrafficProfile;
  readonly steps: readonly StepPlan[];
  readonly likelyMs: number;
  readonly maxMs: number;
  readonly warnings: readonly string[];
}

const DEFAULTS = { power: 0.8, maxSamples: 20_000, horizonMs: 7 * 86_400_000 };

/** Counts a step has seen after t ms at weight w %, and the latencies / scores the gateway keeps of them. */
interface Seen {
  readonly canary: number;
  readonly stable: number;
  readonly canarySamples: number;
  readonly stableSamples: number;
}

function seenAfter(t: number, weight: number, traffic: TrafficProfile, maxSamples: number): Seen {
  const total = (traffic.requestsPerSecond * t) / 1000;
  const canary = Math.floor((total * weight) / 100);
  const stable = Math.floor((total * (100 - weight)) / 100);
  const busiest = Math.max(canary, stable);
  const keep = busiest > maxSamples ? maxSamples / busiest : 1;
  return {
    canary,
    stable,
    canarySamples: Math.floor(canary * keep),
    stableSamples: Math.floor(stable * keep),
  };
}

/**
 * The least t in (0, horizon] at which `decides(t)` holds, to within 1 % (bisection over a doubling
 * bracket); null when it does not hold at the horizon. Decisions are monotone in t on a quantile path
 * up to the rounding of counts, which the 1 % resolution absorbs.
 */
function firstTime(decides: (t: number) => boolean, horizonMs: number): number | null {
  let hi = 1000;
  while (hi < horizonMs && !decides(hi)) hi *= 2;
  hi = Math.min(hi, horizonMs);
  if (!decides(hi)) return null;
  let lo = hi / 2;
  if (hi === 1000) lo = 0;
  while (hi - lo > Math.max(100, hi * 0.01)) {
    const mid = (lo + hi) / 2;
    if (decides(mid)) hi = mid;
    else lo = mid;
  }
  return Math.ceil(hi / 100) * 100;
}

interface Levels {
  readonly errorRate: number;
  readonly latency: number;
  readonly prediction: number;
}

function errorRateDecides(
  seen: Seen,
  traffic: TrafficProfile,
  margin: number,
  alpha: number,
  z: number,
  increase: number,
  side: 'greater' | 'less',
): boolean {
  if (seen.canary < 1 || seen.stable < 1) return false;
  const p = Math.min(0.5, Math.max(traffic.errorRate, 1e-5));
  const pc = Math.min(1, p + increase);
  const sd = Math.sqrt((pc * (1 - pc)) / seen.canary + (p * (1 - p)) / seen.stable);
  // The unfavourable side: more canary errors when showing non-inferiority, fewer when failing.
  const rate = Math.min(1, Math.max(0, side === 'less' ? pc + z * sd : pc - z * sd));
  const k = errorConcentration(margin, DEFAULT_SEQUENTIAL_TUNING);
  const a = { successes: Math.round(rate * seen.canary), trials: seen.canary };
  const b = { successes: Math.round(p * seen.stable), trials: seen.stable };
  const e = logDifferenceEValue(a, b, margin, side, { kA: [k, 2], kB: [k, 2] });
  return e.logE >= Math.log(1 / alpha);
}

/** n log-normal quantiles around median e^{shift}: a sample without sampling noise. */
function grid(n: number, sd: number, shift: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.exp(shift + sd * normalQuantile((i + 0.5) / n));
  return out;
}

/** The judge's latency margin at the champion's median; unknown median: the ratio alone (allowance 0, median 1). */
interface LatencyMargin {
  readonly maxRatio: number;
  readonly maxIncreaseMs: number;
  readonly medianMs: number;
}

function latencyDecides(
  seen: Seen,
  traffic: TrafficProfile,
  margin: LatencyMargin,
  alpha: number,
  z: number,
  ratio: number,
  side: 'greater' | 'less',
): boolean {
  const nC = seen.canarySamples;
  const nS = seen.stableSamples;
  if (nC < 2 || nS < 2) return false;
  const sd = Math.max(traffic.latencyLogSd, 1e-3);
  // Standard error of a log median: √(π/2)·σ/√n per side.
  const se = Math.sqrt(Math.PI / 2) * sd * Math.sqrt(1 / nC + 1 / nS);
  const shift = Math.log(ratio) + (side === 'less' ? z * se : -z * se);
  const centre = Math.log(margin.medianMs);
  const test = new QuantileRatioTest(grid(nC, sd, centre + shift), grid(nS, sd, centre), {
    p: 0.5,
    k: DEFAULT_SEQUENTIAL_TUNING.latencyConcentration,
    combine: 'product',
  });
  return test.logEValue(margin.maxRatio, side, margin.maxIncreaseMs) >= Math.log(1 / alpha);
}

function predictionNonInferior(seen: Seen, maxPsi: number, alpha: number): boolean {
  const { bins, edgeSamples, predictionConcentration } = DEFAULT_SEQUENTIAL_TUNING;
  const nS = seen.stableSamples - edgeSamples;
  const nC = seen.canarySamples;
  if (nS < bins || nC < bins) return false;
  const even = (n: number): number[] =>
    Array.from({ length: bins }, (_, i) => Math.floor((n * (i + 1)) / bins) - Math.floor((n * i) / bins));
  return psiBounds(even(nS), even(nC), alpha, predictionConcentration).upper <= maxPsi;
}

function planChecks(
  canary: Canary,
  weight: number,
  traffic: TrafficProfile,
  levels: Levels,
  z: number,
  o: typeof DEFAULTS,
): CheckPlan[] {
  const a = canary.analysis;
  const at = (t: number): Seen => seenAfter(t, weight, traffic, o.maxSamples);
  const margin = a.maxErrorRateIncrease;
  const maxRatio = a.latency.maxIncreaseRatio;
  const m = traffic.latencyMedianMs;
  const latencyMargin: LatencyMargin =
    m !== undefined && m > 0
      ? { maxRatio, maxIncreaseMs: a.latency.maxIncreaseMs, medianMs: m }
      : { maxRatio, maxIncreaseMs: 0, medianMs: 1 };
  // Twice the tolerated increase at the champion's median (the ratio's alone when it is not known).
  const byAllowance = latencyMargin.maxIncreaseMs / latencyMargin.medianMs > maxRatio - 1;
  const tolerated = byAllowance ? latencyMargin.maxIncreaseMs / latencyMargin.medianMs : maxRatio - 1;
  const slowRatio = 1 + 2 * tolerated;
  const latencyPlanned = tolerated > 0;
  const slowText = byAllowance
    ? `+${round(2 * latencyMargin.maxIncreaseMs)} ms median latency (${round(slowRatio)}×)`
    : `${round(slowRatio)}× median latency`;
  return [
    {
      name: 'error rate increase',
      nonInferiorMs: firstTime(
        (t) => errorRateDecides(at(t), traffic, margin, levels.errorRate, z, 0, 'less'),
        o.horizonMs,
      ),
      regressionMs:
        margin > 0 && 2 * margin < 1
          ? firstTime(
              (t) => errorRateDecides(at(t), traffic, margin, levels.errorRate, z, 2 * margin, 'greater'),
              o.horizonMs,
            )
          : null,
      regression: margin > 0 ? `+${round(200 * margin)} % errors` : null,
    },
    {
      name: 'latency increase',
      nonInferiorMs: latencyPlanned
        ? firstTime(
            (t) => latencyDecides(at(t), traffic, latencyMargin, levels.latency, z, 1, 'less'),
            o.horizonMs,
          )
        : null,
      regressionMs: latencyPlanned
        ? firstTime(
            (t) => latencyDecides(at(t), traffic, latencyMargin, levels.latency, z, slowRatio, 'greater'),
            o.horizonMs,
          )
        : null,
      regression: latencyPlanned ? slowText : null,
    },
    {
      name: 'prediction drift',
      nonInferiorMs: firstTime(
        (t) => predictionNonInferior(at(t), a.prediction.maxPsi, levels.prediction),
        o.horizonMs,
      ),
      regressionMs: null,
      regression: null,
    },
  ];
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** The plan of every bake and analysis step of `canary` for a model with `traffic`. */
export function planCanary(canary: Canary, traffic: TrafficProfile, options: PlanOptions = {}): CanaryPlan {
  const o = { ...DEFAULTS, ...options };
  if (!(o.power > 0 && o.power < 1)) throw new RangeError(`power must lie in (0, 1), got ${o.power}`);
  const mode = analysisMode(canary.analysis);
  const a = canary.analysis;
  // The sequential tests' levels; the plan answers "how long until the evidence is there".
  const windows = plannedTests(canary, 'sequential');
  const levels: Levels = {
    errorRate: a.errorRateAlpha / windows,
    latency: a.latency.alpha / windows,
    prediction: a.prediction.ksAlpha / windows,
  };
  const z = normalQuantile(o.power);
  const steps: StepPlan[] = [];
  let weight = 0;
  canary.steps.forEach((step, index) => {
    if ('setWeight' in step) weight = step.setWeight;
    let minMs: number;
    let maxMs: number;
    if ('bake' in step) {
      maxMs = step.bake;
      minMs = step.minBake ?? step.bake;
    } else if ('analysis' in step) {
      maxMs = step.analysis.maxDuration;
      minMs = 0;
    } else return;
    const checks = traffic.requestsPerSecond > 0 ? planChecks(canary, weight, traffic, levels, z, o) : [];
    const times = checks.map((c) => c.nonInferiorMs);
    const nonInferiorMs = checks.length > 0 && times.every((t) => t !== null) ? Math.max(...times) : null;
    const byEvidence = mode === 'sequential' && nonInferiorMs !== null && nonInferiorMs < maxMs;
    const likelyMs = byEvidence
      ? Math.min(maxMs, Math.max(minMs, Math.ceil(nonInferiorMs / a.interval) * a.interval))
      : maxMs;
    steps.push({
      index,
      weight,
      minMs,
      maxMs,
      checks,
      nonInferiorMs,
      likelyMs,
      endsBy: byEvidence && likelyMs < maxMs ? 'evidence' : 'maximum',
      warnings: stepWarnings(index, weight, maxMs, traffic, checks),
    });
  });
  const likelyMs = steps.reduce((s, x) => s + x.likelyMs, 0);
  const maxMs = steps.reduce((s, x) => s + x.maxMs, 0);
  return {
    mode,
    power: o.power,
    traffic,
    steps,
    likelyMs,
    maxMs,
    warnings: steps.flatMap((s) => s.warnings),
  };
}
