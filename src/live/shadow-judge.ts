// Over 350 lines on purpose: each shadow check's fixed-sample and anytime-valid forms sit side by side, so
// the two analysis modes stay comparable and share their evidence.
import { type CheckResult, combine, type GateVerdict } from '../promotion/verdict';
import { type Shadow } from '../spec/schema';
import { binShares, ks2Sample, psi, PSI_EPSILON, psiFromShares, quantileEdges } from '../stats/drift';
import { quantile } from '../stats/quantile';
import { logOneSidedMixtures, psiBounds, QuantileRatioTest } from '../stats/sequential';
import { latencySamples, scoreSamples, type StatsSnapshot } from '../promotion/stats-snapshot';
import type { HoldoutScores } from '../promotion/contracts';
import { finite, pct, psiBins, round, summarize } from './evidence';
import { skewCheck } from './skew';

/**
 * Shadow judgement: the candidate answered a mirrored copy of live requests and never served anyone,
 * so it is compared with the stable version on the same rows.
 *
 * Readiness: the shadow is judged once it has answered `minRequests` mirrored requests (the spec's
 * unit: requests, whatever their row count) AND `minDuration` has elapsed since it started. Until then
 * the verdict is inconclusive and says how many requests / how much time are still missing. If
 * `maxDuration` has elapsed and minRequests is still not reached, the shadow fails (the spec's rule:
 * a candidate that cannot be judged in time is not promoted).
 *
 * Clear failure before readiness: errors only accumulate, so once the shadow has MORE errors than
 * `maxErrorRate × minRequests` (the whole budget of the minimum window), judging at the first moment
 * it becomes ready would already fail on error rate. That is declared at once instead of waiting.
 *
 * Checks when ready (every one carries value, threshold and sample sizes), each saying what it compares:
 * - train/serve skew (against each model's OWN holdout scores, src/live/skew.ts): the candidate fails
 *   when its live scores moved away from its holdout scores and the champion's did not. Judged when
 *   the promotion passed a holdout reference and the spec has `checks.skew` (specs parsed before it
 *   existed, replayed from history, have none).
 * - agreement (against the champion, same rows): agreements / compared rows ≥ minAgreement (a NaN on
 *   either side is never an agreement); a loose sanity check against swapped classes or a wholesale break
 * - score PSI(stable, shadow) ≤ maxPsi when set (against the champion; off by default: a better model
 *   scores differently), and the KS statistic ≤ maxKsStatistic when set
 * - shadow error rate (errors / mirrored requests; the gateway counts non-finite outputs as errors)
 *   ≤ maxErrorRate
 * - p95 latency: shadow p95 ≤ max(maxLatencyRatio × stable p95, stable p95 + maxLatencyIncreaseMs),
 *   when either is set (see `latencyLimit`)
 */

export interface ShadowJudgement {
  readonly ready: boolean;
  readonly verdict: GateVerdict;
}

/**
 * - 'point' (the default): the checks above compare point estimates with the spec's limits once the
 *   shadow is ready.
 * - 'sequential': each check is an anytime-valid test against its limit (src/stats/sequential.ts), at
 *   level `alpha` per check: it fails as soon as the data show the limit is broken — before readiness
 *   too, which generalises the error-budget rule above — and passes only once they show the limit
 *   holds (a confidence sequence on the right side of it). Readiness still gates passing, and a ready
 *   shadow whose checks are not yet conclusive stays inconclusive (the watch keeps judging until its
 *   deadline). Error rate and agreement are one-sample tests of a proportion; the p95 latency ratio is
 *   the quantile test with `combine: 'average'` and the PSI bound is a union bound, because the shadow
 *   answers the same requests as the stable version, so the two samples are not independent.
 *   maxKsStatistic, when set, stays a point check. A limit of 0 (or an agreement limit of 1) cannot be
 *   shown to hold by any amount of data, so such a check passes on the point estimate instead (no error
 *   at all, or every row agreeing) and fails at the first counter-example.
 */
export type ShadowAnalysisMode = 'point' | 'sequential';

export interface ShadowJudgeOptions {
  readonly mode?: ShadowAnalysisMode;
  /** Significance level of every sequential check (the spec gives the shadow none). Default 0.05. */
  readonly alpha?: number;
  /** Both models' holdout score sketches, for the train/serve skew check. */
  readonly reference?: HoldoutScores;
}

type Window = NonNullable<StatsSnapshot['variants']['stable']>;
const PSI_VS_CHAMPION = "PSI(champion's live scores, candidate's live scores), same requests";
const KS_VS_CHAMPION = "Kolmogorov–Smirnov distance of champion's and candidate's live scores, same requests";
const EMPTY: Window = { version: '', requests: 0, errors: 0, latencyMs: [], scores: [] };

function seconds(ms: number): string {
  return `${round(ms / 1000, 1)}s`;
}

export function judgeShadow(
  stats: StatsSnapshot,
  shadow: Shadow,
  elapsedMs: number,
  options: ShadowJudgeOptions = {},
): ShadowJudgement {
  if (options.mode === 'sequential')
    return judgeShadowSequential(stats, shadow, elapsedMs, options.alpha ?? 0.05, options.reference);
  const stable = stats.variants.stable ?? EMPTY;
  const cand = stats.variants.shadow ?? EMPTY;
  const { minRequests, minDuration, maxDuration } = shadow;
  const enoughRequests = cand.requests >= minRequests;
  const enoughTime = elapsedMs >= minDuration;
  const progress = {
    mirroredRequests: cand.requests,
    minRequests,
    comparedRows: stats.shadowComparison.pairs,
    elapsedMs: Math.round(elapsedMs),
    minDurationMs: minDuration,
    maxDurationMs: maxDuration,
  };

  if (!enoughRequests || !enoughTime) {
    const checks: CheckResult[] = [];
    const errorBudget = shadow.checks.maxErrorRate * minRequests;
    if (cand.errors > errorBudget) {
      checks.push({
        name: 'shadow error rate',
        metric: 'shadow errors / mirrored requests',
        status: 'failed',
        value: round(cand.errors / Math.max(cand.requests, 1)),
        threshold: shadow.checks.maxErrorRate,
        comparator: '<=',
        sampleSize: cand.requests,
        message: `shadow already has ${cand.errors} errors in ${cand.requests} requests, more than the ${round(errorBudget, 2)} that ${minRequests} requests at ${pct(shadow.checks.maxErrorRate)} allow`,
        evidence: { ...progress, errors: cand.errors, errorBudget: round(errorBudget, 4), early: true },
      });
    }
    if (!enoughRequests && elapsedMs >= maxDuration) {
      checks.push(tooFewRequests(cand.requests, minRequests, elapsedMs, maxDuration, progress));
    }
    if (checks.length === 0) {
      const missing = [
        ...(enoughRequests ? [] : [`${minRequests - cand.requests} more mirrored requests`]),
        ...(enoughTime ? [] : [`${seconds(minDuration - elapsedMs)} more`]),
      ];
      checks.push({
        name: 'shadow sample size',
        metric: 'mirrored requests',
        status: 'inconclusive',
        value: cand.requests,
        threshold: minRequests,
        comparator: '>=',
        sampleSize: cand.requests,
        message: `shadow not ready: ${cand.requests}/${minRequests} mirrored requests, ${seconds(elapsedMs)}/${seconds(minDuration)}; waiting for ${missing.join(' and ')}`,
        evidence: progress,
      });
    }
    return { ready: false, verdict: combine('shadow', checks) };
  }

  const checks: CheckResult[] = [
    ...skewChecks(stable, cand, shadow, options.reference),
    agreementCheck(stats, shadow),
    ...distributionChecks(stable, cand, shadow),
    errorRateCheck(cand, shadow),
    ...optional(latencyLimit(shadow.checks), (limit) => latencyCheck(stable, cand, limit)),
  ];
  return { ready: true, verdict: combine('shadow', checks) };
}

/** The skew check, when both the spec (`checks.skew`) and the promotion (a holdout reference) ask for it. */
function skewChecks(
  stable: Window,
  cand: Window,
  shadow: Shadow,
  reference: HoldoutScores | undefined,
): CheckResult[] {
  // A spec parsed before `skew` existed (replayed from workflow history) has none.
  const limits = shadow.checks.skew as Shadow['checks']['skew'] | undefined;
  if (limits === undefined || reference === undefined) return [];
  return [
    skewCheck({
      reference,
      candidate: scoreSamples(cand),
      champion: scoreSamples(stable),
      limits,
      role: 'shadow',
    }),
  ];
}

function agreementCheck(stats: StatsSnapshot, shadow: Shadow): CheckResult {
  const c = stats.shadowComparison;
  const min = shadow.checks.minAgreement;
  const base = {
    name: 'agreement',
    metric: 'share of the same rows where champion (stable) and candidate (shadow) decide alike',
    threshold: min,
    comparator: '>=' as const,
    sampleSize: c.pairs,
    evidence: {
      agreements: c.agreements,
      comparedRows: c.pairs,
      observedRows: c.observedPairs,
      nonFiniteRows: c.nanCount,
      decisionThreshold: c.threshold,
      meanAbsDiff: c.meanAbsDiff === null ? null : round(c.meanAbsDiff, 6),
      maxAbsDiff: c.maxAbsDiff === null ? null : round(c.maxAbsDiff, 6),
    },
  };
  if (c.pairs === 0) {
    return { ...base, status: 'inconclusive', message: 'agreement: no rows were compared yet' };
  }
  const rate = c.agreements / c.pairs;
  const what = `agreement ${pct(rate)} (${c.agreements}/${c.pairs} rows${c.nanCount > 0 ? `, ${c.nanCount} non-finite` : ''})`;
  return rate >= min
    ? { ...base, value: round(rate), status: 'passed', message: `${what} ≥ ${pct(min)}` }
    : { ...base, value: round(rate), status: 'failed', message: `${what} below ${pct(min)}` };
}

function distributionChecks(stable: Window, cand: Window, shadow: Shadow): CheckResult[] {
  const { maxPsi, maxKsStatistic } = shadow.checks;
  if (maxPsi === undefined && maxKsStatistic === undefined) return [];
  const s = finite(scoreSamples(stable));
  const c = finite(scoreSamples(cand));
  const sizes = { stable: summarize(s), shadow: summarize(c) };
  if (s.length === 0 || c.length === 0) {
    const message = `score distribution: no finite scores to compare (stable ${s.length}, shadow ${c.length})`;
    return [
      {
        name: maxPsi !== undefined ? 'score psi' : 'score ks',
        metric: maxPsi !== undefined ? PSI_VS_CHAMPION : KS_VS_CHAMPION,
        status: 'inconclusive',
        ...(maxPsi !== undefined
          ? { threshold: maxPsi }
          : maxKsStatistic !== undefined
            ? { threshold: maxKsStatistic }
            : {}),
        comparator: '<=',
        sampleSize: c.length,
        message,
        evidence: sizes,
      },
    ];
  }
  const checks: CheckResult[] = [];
  if (maxPsi !== undefined) {
    const bins = psiBins(s.length, c.length);
    const p = psi(s, c, bins);
    checks.push({
      name: 'score psi',
      metric: PSI_VS_CHAMPION,
      status: p <= maxPsi ? 'passed' : 'failed',
      value: round(p),
      threshold: maxPsi,
      comparator: '<=',
      sampleSize: c.length,
      message: `score PSI vs the champion ${round(p)} ${p <= maxPsi ? '≤' : '>'} ${maxPsi} (${c.length} shadow vs ${s.length} stable scores, ${bins} bins)`,
      evidence: { ...sizes, bins },
    });
  }
  if (maxKsStatistic !== undefined) {
    const ks = ks2Sample(s, c);
    checks.push({
      name: 'score ks',
      metric: KS_VS_CHAMPION,
      status: ks.statistic <= maxKsStatistic ? 'passed' : 'failed',
      value: round(ks.statistic),
      threshold: maxKsStatistic,
      comparator: '<=',
      sampleSize: c.length,
      message: `score KS distance ${round(ks.statistic)} ${ks.statistic <= maxKsStatistic ? '≤' : '>'} ${maxKsStatistic}`,
      evidence: { ...sizes, pValue: ks.pValue, method: ks.method },
    });
  }
  return checks;
}

function errorRateCheck(cand: Window, shadow: Shadow): CheckResult {
  const max = shadow.checks.maxErrorRate;
  const rate = cand.errors / cand.requests;
  const what = `shadow error rate ${pct(rate)} (${cand.errors}/${cand.requests}, non-finite outputs included)`;
  return {
    name: 'shadow error rate',
    metric: 'shadow errors / mirrored requests',
    status: rate <= max ? 'passed' : 'failed',
    value: round(rate),
    threshold: max,
    comparator: '<=',
    sampleSize: cand.requests,
    message: `${what} ${rate <= max ? '≤' : '>'} ${pct(max)}`,
    evidence: { errors: cand.errors, requests: cand.requests },
  };
}

/**
 * The p95 latency limit a spec sets, or undefined when it sets none. The shadow's p95 may reach
 * max(ratio × stable p95, stable p95 + allowanceMs). The absolute part is why: the shadow answers on
 * its own thread and the stable version often inline, so on sub-millisecond p95s a ratio alone would
 * call a 0.2 ms scheduling difference a 2× regression (the canary's latency margin has the same two
 * parts, for the same reason). A ratio given alone gets the canary's default allowance, 0.5 ms; an
 * allowance given alone is the whole limit (ratio 1).
 */
interface LatencyLimit {
  readonly ratio: number;
  readonly allowanceMs: number;
}

const DEFAULT_LATENCY_ALLOWANCE_MS = 0.5;

export function latencyLimit(checks: Shadow['checks']): LatencyLimit | undefined {
  const { maxLatencyRatio: ratio, maxLatencyIncreaseMs: allowanceMs } = checks;
  if (ratio === undefined && allowanceMs === undefined) return undefined;
  return { ratio: ratio ?? 1, allowanceMs: allowanceMs ?? DEFAULT_LATENCY_ALLOWANCE_MS };
}

function optional<T>(value: T | undefined, check: (value: T) => CheckResult): CheckResult[] {
  return value === undefined ? [] : [check(value)];
}

function limitText({ ratio, allowanceMs }: LatencyLimit): string {
  if (allowanceMs === 0) return `${ratio}×`;
  if (ratio === 1) return `+${allowanceMs}ms`;
  return `${ratio}× or +${allowanceMs}ms, whichever is larger`;
}

/** The ratio the limit allows at a stable p95 of `stableMs` (the check's threshold). */
function allowedRatio({ ratio, allowanceMs }: LatencyLimit, stableMs: number): number {
  return round(Math.max(ratio, (stableMs + allowanceMs) / stableMs));
}

const LATENCY_CHECK = {
  name: 'shadow latency ratio',
  metric: 'p95 latency shadow / stable',
  comparator: '<=' as const,
};

function notEnoughLatency(
  limit: LatencyLimit,
  stable: number,
  shadow: number,
  evidence: Record<string, unknown>,
): CheckResult {
  return {
    ...LATENCY_CHECK,
    threshold: limit.ratio,
    sampleSize: shadow,
    status: 'inconclusive',
    message: `shadow latency ratio: not enough latency samples (stable ${stable}, shadow ${shadow})`,
    evidence,
  };
}

function latencyCheck(stable: Window, cand: Window, limit: LatencyLimit): CheckResult {
  const s = finite(latencySamples(stable));
  const c = finite(latencySamples(cand));
  const evidence = {
    stable: summarize(s),
    shadow: summarize(c),
    maxRatio: limit.ratio,
    allowanceMs: limit.allowanceMs,
  };
  const sp95 = s.length > 0 ? quantile(s, 0.95) : 0;
  if (c.length === 0 || !(sp95 > 0)) return notEnoughLatency(limit, s.length, c.length, evidence);
  const cp95 = quantile(c, 0.95);
  const limitMs = Math.max(limit.ratio * sp95, sp95 + limit.allowanceMs);
  const ratio = cp95 / sp95;
  const within = cp95 <= limitMs;
  return {
    ...LATENCY_CHECK,
    threshold: allowedRatio(limit, sp95),
    sampleSize: c.length,
    status: within ? 'passed' : 'failed',
    value: round(ratio),
    message: `shadow p95 latency ${round(cp95, 3)}ms, ${round(ratio, 3)}× stable's ${round(sp95, 3)}ms: ${within ? 'within' : 'above'} ${limitText(limit)}`,
    evidence: { ...evidence, limitMs: round(limitMs) },
  };
}

// ---------------------------------------------------------------------------------------------------
// Sequential mode

/** Bins and edge samples of the sequential PSI bound, as in the canary judge's sequential mode. */
const SEQ_BINS = 5;
const SEQ_EDGE_SAMPLES = 100;

function eValue(logE: number): number {
  if (logE > 700) return Infinity;
  return Number(Math.exp(logE).toPrecision(4));
}

function concentrationFor(limit: number): readonly number[] {
  const m = Math.min(limit, 1 - limit);
  return [Math.min(1000, Math.max(10, 1 / Math.max(m, 1e-9))), 2];
}

/**
 * A proportion against a limit: `upper` limits (error rate ≤ max) fail when "rate ≤ limit" is rejected
 * and pass when "rate ≥ limit" is; `lower` limits (agreement ≥ min) the other way round.
 */
function proportionCheck(
  base: { name: string; metric: string; threshold: number; comparator: '<=' | '>=' },
  successes: number,
  trials: number,
  alpha: number,
  what: string,
  evidence: Readonly<Record<string, unknown>>,
): CheckResult {
  const limit = base.threshold;
  const upper = base.comparator === '<=';
  const rate = trials > 0 ? successes / trials : NaN;
  const common = { ...base, sampleSize: trials, ...(trials > 0 ? { value: round(rate) } : {}) };
  // Limits no data can show to hold: judge the point estimate, fail at the first counter-example.
  const edge = upper ? limit <= 0 : limit >= 1;
  const vacuous = upper ? limit >= 1 : limit <= 0;
  if (vacuous || edge || trials === 0) {
    const ok = vacuous || (trials > 0 && (upper ? successes === 0 : successes === trials));
    const bad = !vacuous && (upper ? successes > 0 : successes < trials);
    return {
      ...common,
      status: ok ? 'passed' : bad ? 'failed' : 'inconclusive',
      message: `${what} ${upper ? '≤' : '≥'} ${pct(limit)}: ${ok ? 'holds' : bad ? 'broken' : 'no data yet'}`,
      evidence: { ...evidence, alpha },
    };
  }
  const k = concentrationFor(limit);
  const logFail = logOneSidedMixtures(successes, trials, limit, k, upper ? 'greater' : 'less');
  const logPass = logOneSidedMixtures(successes, trials, limit, k, upper ? 'less' : 'greater');
  const threshold = Math.log(1 / alpha);
  const full = { ...evidence, eValueBroken: eValue(logFail), eValueHolds: eValue(logPass), alpha };
  const side = upper ? '≤' : '≥';
  if (logFail >= threshold)
    return {
      ...common,
      status: 'failed',
      message: `${what}: not ${side} ${pct(limit)} (e-value ${eValue(logFail)} ≥ 1/α = ${round(1 / alpha, 2)})`,
      evidence: full,
    };
  if (logPass >= threshold)
    return {
      ...common,
      status: 'passed',
      message: `${what} ${side} ${pct(limit)} (e-value ${eValue(logPass)} ≥ 1/α = ${round(1 / alpha, 2)})`,
      evidence: full,
    };
  return {
    ...common,
    status: 'inconclusive',
    message: `${what}: not yet known to be ${side} ${pct(limit)}; waiting for more samples`,
    evidence: full,
  };
}

function sequentialErrorRate(cand: Window, shadow: Shadow, alpha: number): CheckResult {
  return proportionCheck(
    {
      name: 'shadow error rate',
      metric: 'shadow errors / mirrored requests',
      threshold: shadow.checks.maxErrorRate,
      comparator: '<=',
    },
    cand.errors,
    cand.requests,
    alpha,
    `shadow error rate ${cand.requests > 0 ? pct(cand.errors / cand.requests) : '—'} (${cand.errors}/${cand.requests}, non-finite outputs included)`,
    { errors: cand.errors, requests: cand.requests },
  );
}

function sequentialAgreement(stats: StatsSnapshot, shadow: Shadow, alpha: number): CheckResult {
  const c = stats.shadowComparison;
  return proportionCheck(
    {
      name: 'agreement',
      metric: 'share of the same rows where champion (stable) and candidate (shadow) decide alike',
      threshold: shadow.checks.minAgreement,
      comparator: '>=',
    },
    c.agreements,
    c.pairs,
    alpha,
    `agreement ${c.pairs > 0 ? pct(c.agreements / c.pairs) : '—'} (${c.agreements}/${c.pairs} rows${c.nanCount > 0 ? `, ${c.nanCount} non-finite` : ''})`,
    {
      agreements: c.agreements,
      comparedRows: c.pairs,
      observedRows: c.observedPairs,
      nonFiniteRows: c.nanCount,
    },
  );
}

function sequentialPsi(stable: Window, cand: Window, maxPsi: number, alpha: number): CheckResult {
  const base = {
    name: 'score psi',
    metric: PSI_VS_CHAMPION,
    threshold: maxPsi,
    comparator: '<=' as const,
  };
  const c = finite(scoreSamples(cand));
  const sAll = finite(scoreSamples(stable));
  if (c.length === 0 || sAll.length <= SEQ_EDGE_SAMPLES) {
    return {
      ...base,
      status: 'inconclusive',
      sampleSize: c.length,
      message: `score distribution: waiting for scores (stable ${sAll.length}/${SEQ_EDGE_SAMPLES + 1}, shadow ${c.length}; the first ${SEQ_EDGE_SAMPLES} stable scores set the bins)`,
      evidence: { stable: { n: sAll.length }, shadow: { n: c.length } },
    };
  }
  const edges = quantileEdges(sAll.slice(0, SEQ_EDGE_SAMPLES), SEQ_BINS);
  const s = sAll.slice(SEQ_EDGE_SAMPLES);
  const count = (xs: readonly number[]): number[] =>
    binShares(xs, edges, 'scores').map((share) => Math.round(share * xs.length));
  const sc = count(s);
  const cc = count(c);
  const bounds = psiBounds(sc, cc, alpha, 50, PSI_EPSILON);
  const point = psiFromShares(
    sc.map((x) => x / s.length),
    cc.map((x) => x / c.length),
  );
  const common = {
    ...base,
    value: round(point),
    sampleSize: c.length,
    interval: { lower: round(bounds.lower), upper: round(bounds.upper), confidence: 1 - alpha },
    evidence: {
      stable: summarize(s),
      shadow: summarize(c),
      bins: edges.length + 1,
      psiBounds: { lower: round(bounds.lower), upper: round(bounds.upper) },
      alpha,
    },
  };
  const what = `score PSI ${round(point)}, between ${round(bounds.lower)} and ${round(bounds.upper)} with ${pct(1 - alpha)} confidence at every time`;
  if (bounds.lower > maxPsi) return { ...common, status: 'failed', message: `${what}: above ${maxPsi}` };
  if (bounds.upper <= maxPsi) return { ...common, status: 'passed', message: `${what}: within ${maxPsi}` };
  return { ...common, status: 'inconclusive', message: `${what}: not yet known to be within ${maxPsi}` };
}

function sequentialLatency(stable: Window, cand: Window, limit: LatencyLimit, alpha: number): CheckResult {
  const s = Float64Array.from(finite(latencySamples(stable))).sort();
  const c = Float64Array.from(finite(latencySamples(cand))).sort();
  const evidence = {
    stable: summarize(Array.from(s)),
    shadow: summarize(Array.from(c)),
    maxRatio: limit.ratio,
    allowanceMs: limit.allowanceMs,
  };
  if (c.length === 0 || s.length === 0 || !((s[0] as number) > 0))
    return notEnoughLatency(limit, s.length, c.length, evidence);
  const test = new QuantileRatioTest(c, s, { p: 0.95, k: [50, 2], combine: 'average' });
  const fail = test.logEValue(limit.ratio, 'greater', limit.allowanceMs);
  const pass = test.logEValue(limit.ratio, 'less', limit.allowanceMs);
  const threshold = Math.log(1 / alpha);
  const sp95 = quantile(s, 0.95);
  const ratio = quantile(c, 0.95) / sp95;
  const common = {
    ...LATENCY_CHECK,
    threshold: allowedRatio(limit, sp95),
    value: round(ratio),
    sampleSize: c.length,
    evidence: { ...evidence, eValueAbove: eValue(fail), eValueWithin: eValue(pass), alpha },
  };
  const what = `shadow p95 latency ${round(ratio, 3)}× stable's (${round(sp95, 3)}ms)`;
  const text = limitText(limit);
  if (fail >= threshold)
    return { ...common, status: 'failed', message: `${what}: above ${text} (e-value ${eValue(fail)})` };
  if (pass >= threshold)
    return { ...common, status: 'passed', message: `${what}: within ${text} (e-value ${eValue(pass)})` };
  return { ...common, status: 'inconclusive', message: `${what}: not yet known to be within ${text}` };
}

function judgeShadowSequential(
  stats: StatsSnapshot,
  shadow: Shadow,
  elapsedMs: number,
  alpha: number,
  reference: HoldoutScores | undefined,
): ShadowJudgement {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must lie in (0, 1), got ${alpha}`);
  const stable = stats.variants.stable ?? EMPTY;
  const cand = stats.variants.shadow ?? EMPTY;
  const { minRequests, minDuration, maxDuration } = shadow;
  const { maxPsi } = shadow.checks;
  const checks: CheckResult[] = [
    ...skewChecks(stable, cand, shadow, reference),
    sequentialAgreement(stats, shadow, alpha),
    ...(maxPsi !== undefined ? [sequentialPsi(stable, cand, maxPsi, alpha)] : []),
    ...(shadow.checks.maxKsStatistic !== undefined
      ? distributionChecks(stable, cand, shadow).filter((c) => c.name === 'score ks')
      : []),
    sequentialErrorRate(cand, shadow, alpha),
    ...optional(latencyLimit(shadow.checks), (limit) => sequentialLatency(stable, cand, limit, alpha)),
  ];
  const ready = cand.requests >= minRequests && elapsedMs >= minDuration;
  if (ready) return { ready: true, verdict: combine('shadow', checks) };
  // Not ready: a check the data already show broken fails now (KS and skew, point checks, wait for readiness).
  const broken = checks.filter(
    (c) => c.status === 'failed' && c.name !== 'score ks' && c.name !== 'train/serve skew',
  );
  const progress = {
    mirroredRequests: cand.requests,
    minRequests,
    comparedRows: stats.shadowComparison.pairs,
    elapsedMs: Math.round(elapsedMs),
    minDurationMs: minDuration,
    maxDurationMs: maxDuration,
  };
  const pending: CheckResult[] = [];
  if (cand.requests < minRequests && elapsedMs >= maxDuration) {
    pending.push(tooFewRequests(cand.requests, minRequests, elapsedMs, maxDuration, progress));
  } else if (broken.length === 0) {
    pending.push({
      name: 'shadow sample size',
      metric: 'mirrored requests',
      status: 'inconclusive',
      value: cand.requests,
      threshold: minRequests,
      comparator: '>=',
      sampleSize: cand.requests,
      message: `shadow not ready: ${cand.requests}/${minRequests} mirrored requests, ${seconds(elapsedMs)}/${seconds(minDuration)}`,
      evidence: progress,
    });
  }
  return { ready: false, verdict: combine('shadow', [...broken, ...pending]) };
}

/** The shadow's maxDuration passed before it saw minRequests: a candidate that cannot be judged in time fails. */
function tooFewRequests(
  requests: number,
  minRequests: number,
  elapsedMs: number,
  maxDuration: number,
  progress: Record<string, unknown>,
): CheckResult {
  return {
    name: 'shadow sample size',
    metric: 'mirrored requests',
    status: 'failed',
    value: requests,
    threshold: minRequests,
    comparator: '>=',
    sampleSize: requests,
    message: `only ${requests}/${minRequests} mirrored requests after ${seconds(elapsedMs)} (maxDuration ${seconds(maxDuration)})`,
    evidence: progress,
  };
}
