import { type PerformanceCheck, type PerformanceMetric } from '../spec/gates-schema';
import {
  type DistributionOutcome,
  nonInferiority,
  pairedBootstrapDistributions,
  percentileInterval,
} from '../stats/bootstrap';
import { nonFiniteReason, StatisticUndefinedError, type NumericArray } from '../stats/errors';
import { isHigherBetter, ModelMetrics, type MetricOutcome } from '../stats/metrics';
import { formatStat as fmt } from '../stats/format';
import { type CheckResult, combine, type GateVerdict } from '../promotion/verdict';

/**
 * The performance gate, judged from scores that were already computed (no model in here).
 *
 * - Absolute checks hold the candidate's metric to `min`/`max`.
 * - `maxDropVsChampion` / `maxRiseVsChampion` checks are non-inferiority tests on a paired bootstrap
 *   of Δ = candidate − champion (see `src/stats/bootstrap.ts`); the pessimistic end of the interval at
 *   the check's confidence must stay within the margin. With no champion (the first model) they pass,
 *   saying so.
 * - Non-finite candidate scores fail every check (the candidate emitted them); a metric with no value
 *   (AUC on one class) or a champion with non-finite scores makes a check inconclusive.
 * - A comparison is inconclusive when more than 10 % of the bootstrap resamples had no value.
 * - Wiring errors (scores and labels of different lengths, labels other than 0/1, NaN labels) throw
 *   `STATS_INVALID_INPUT` / `NON_FINITE_INPUT`: they say nothing about the candidate.
 * - Each metric is computed once per model and each bootstrap once per gate, all metrics compared with
 *   the champion sharing one set of resamples; checks read the shared results (issue 14).
 */
export interface PerformanceInput {
  readonly checks: readonly PerformanceCheck[];
  readonly candidate: NumericArray;
  readonly champion?: NumericArray;
  readonly labels: NumericArray;
  readonly threshold: number;
  readonly seed: number;
  readonly resamples: number;
}

type MetricsTable = Readonly<Record<PerformanceMetric, MetricOutcome>>;

interface Context {
  readonly input: PerformanceInput;
  readonly n: number;
  readonly candidate: ModelMetrics;
  readonly champion?: ModelMetrics;
  readonly table: { readonly candidate: MetricsTable; readonly champion?: MetricsTable };
  /** The paired bootstraps of every metric compared with the champion, drawn on first use. */
  bootstraps?: Map<PerformanceMetric, DistributionOutcome>;
  /** Why the candidate's / champion's scores cannot be judged at all, if they cannot. */
  readonly candidateBroken?: string;
  readonly championBroken?: string;
}

const pct = (c: number): string => `${Math.round(c * 1000) / 10}%`;

export function judgePerformance(input: PerformanceInput): GateVerdict {
  const candidateBroken = nonFiniteReason('candidate scores', input.candidate);
  const championBroken = input.champion ? nonFiniteReason('champion scores', input.champion) : undefined;
  const candidate = new ModelMetrics(input.candidate, input.labels, input.threshold);
  const champion = input.champion
    ? new ModelMetrics(input.champion, input.labels, input.threshold)
    : undefined;
  const ctx: Context = {
    input,
    n: input.labels.length,
    candidate,
    ...(champion ? { champion } : {}),
    table: {
      candidate: candidate.table(),
      ...(champion ? { champion: champion.table() } : {}),
    },
    ...(candidateBroken !== undefined ? { candidateBroken } : {}),
    ...(championBroken !== undefined ? { championBroken } : {}),
  };
  const checks = input.checks.map((check) => judgeCheck(ctx, check));
  return combine('performance', checks);
}

function judgeCheck(ctx: Context, check: PerformanceCheck): CheckResult {
  if ('maxDropVsChampion' in check)
    return judgeVsChampion(ctx, check.metric, check.maxDropVsChampion, check.confidence);
  if ('maxRiseVsChampion' in check)
    return judgeVsChampion(ctx, check.metric, check.maxRiseVsChampion, check.confidence);
  return judgeAbsolute(ctx, check);
}

function judgeAbsolute(
  ctx: Context,
  check: { metric: PerformanceMetric; min?: number | undefined; max?: number | undefined },
): CheckResult {
  const { metric, min, max } = check;
  const name =
    min !== undefined && max !== undefined
      ? `${fmt(min)} <= ${metric} <= ${fmt(max)}`
      : min !== undefined
        ? `${metric} >= ${fmt(min)}`
        : `${metric} <= ${fmt(max ?? NaN)}`;
  const bounds = {
    metric,
    sampleSize: ctx.n,
    ...(min !== undefined && max !== undefined
      ? { comparator: 'in' as const }
      : min !== undefined
        ? { comparator: '>=' as const, threshold: min }
        : { comparator: '<=' as const, threshold: max ?? NaN }),
  };
  const evidence = { min, max, decisionThreshold: ctx.input.threshold, n: ctx.n, metrics: ctx.table };
  if (ctx.candidateBroken !== undefined) {
    return { name, status: 'failed', ...bounds, message: `${name}: ${ctx.candidateBroken}`, evidence };
  }
  let value: number;
  try {
    value = ctx.candidate.value(metric);
  } catch (e) {
    if (!(e instanceof StatisticUndefinedError)) throw e;
    return { name, status: 'inconclusive', ...bounds, message: `${name}: ${e.message}`, evidence };
  }
  const tooLow = min !== undefined && value < min;
  const tooHigh = max !== undefined && value > max;
  const message = tooLow
    ? `${metric} ${fmt(value)} is below the minimum ${fmt(min)} (n=${ctx.n})`
    : tooHigh
      ? `${metric} ${fmt(value)} is above the maximum ${fmt(max)} (n=${ctx.n})`
      : `${metric} ${fmt(value)} satisfies ${name} (n=${ctx.n})`;
  return {
    name,
    status: tooLow || tooHigh ? 'failed' : 'passed',
    ...bounds,
    value,
    message,
    evidence: { ...evidence, value },
  };
}

/**
 * Skipping a resample conditions the interval on resamples where the metric exists (both classes
 * present). That bias is negligible while skips are rare; beyond 10 % the data set is too small or too
 * imbalanced for the comparison and a person should look.
 */
const MIN_USABLE_RESAMPLE_SHARE = 0.9;

/** Every vs-champion metric of the gate bootstrapped together on first use, then read from the cache. */
function bootstrapOf(ctx: Context, champion: ModelMetrics, metric: PerformanceMetric): DistributionOutcome {
  ctx.bootstraps ??= pairedBootstrapDistributions({
    metrics: ctx.input.checks.flatMap((c) =>
      'maxDropVsChampion' in c || 'maxRiseVsChampion' in c ? [c.metric] : [],
    ),
    candidate: ctx.candidate,
    champion,
    seed: ctx.input.seed,
    resamples: ctx.input.resamples,
  });
  const outcome = ctx.bootstraps.get(metric);
  if (outcome === undefined) throw new Error(`no bootstrap was drawn for ${metric}`);
  return outcome;
}

function judgeVsChampion(
  ctx: Context,
  metric: PerformanceMetric,
  margin: number,
  confidence: number,
): CheckResult {
  const higherIsBetter = isHigherBetter(metric);
  const name = higherIsBetter
    ? `${metric} drop vs champion <= ${fmt(margin)}`
    : `${metric} rise vs champion <= ${fmt(margin)}`;
  const limit = higherIsBetter ? -margin : margin;
  const base = {
    name,
    metric,
    threshold: limit,
    comparator: higherIsBetter ? ('>=' as const) : ('<=' as const),
    sampleSize: ctx.n,
  };
  const evidence = {
    margin,
    confidence,
    decisionThreshold: ctx.input.threshold,
    n: ctx.n,
    metrics: ctx.table,
  };
  const { champion } = ctx;
  if (champion === undefined) {
    return { ...base, status: 'passed', message: `${metric}: no champion: comparison skipped`, evidence };
  }
  if (ctx.candidateBroken !== undefined) {
    return { ...base, status: 'failed', message: `${name}: ${ctx.candidateBroken}`, evidence };
  }
  if (ctx.championBroken !== undefined) {
    return { ...base, status: 'inconclusive', message: `${name}: ${ctx.championBroken}`, evidence };
  }
  const outcome = bootstrapOf(ctx, champion, metric);
  if ('undefined' in outcome) {
    return { ...base, status: 'inconclusive', message: `${name}: ${outcome.undefined.message}`, evidence };
  }
  const result = percentileInterval(outcome.distribution, confidence);
  const interval = { lower: result.lower, upper: result.upper, confidence };
  const full = {
    ...base,
    value: result.delta,
    interval,
    evidence: {
      ...evidence,
      value: result.candidate,
      championValue: result.champion,
      delta: result.delta,
      ci: interval,
      resamples: result.resamples,
      skippedResamples: result.skipped,
      seed: result.seed,
    },
  };
  const ci = `${pct(confidence)} CI ${fmt(result.lower)}…${fmt(result.upper)}`;
  if (result.resamples < MIN_USABLE_RESAMPLE_SHARE * result.requested) {
    return {
      ...full,
      status: 'inconclusive',
      message: `${name}: ${metric} was undefined in ${result.skipped} of ${result.requested} bootstrap resamples; too few to judge`,
    };
  }
  const decision = nonInferiority(result, margin);
  const vs = `candidate ${fmt(result.candidate)} vs champion ${fmt(result.champion)}, Δ = ${fmt(result.delta)}, ${ci}`;
  const message = decision.passed
    ? `${metric} is within the allowed ${higherIsBetter ? 'drop' : 'rise'} of ${fmt(margin)}: ${vs}`
    : `${metric} may be worse than the champion by more than ${fmt(margin)}: ${vs}; the ${decision.bound} bound ${fmt(decision.boundValue)} is ${higherIsBetter ? 'below' : 'above'} ${fmt(limit)}`;
  return { ...full, status: decision.passed ? 'passed' : 'failed', message };
}
