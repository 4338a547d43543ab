import { type FairnessCheck, type FairnessGate } from '../spec/gates-schema';
import {
  type FairnessDistributionOutcome,
  fairnessInterval,
  fairnessNonInferiority,
  fairnessPercentileInterval,
} from '../stats/fairness-bootstrap';
import { formatStat as fmt } from '../stats/format';
import { type FairnessMetric, isFairerWhenHigher } from '../stats/metric-names';
import { type CheckResult } from '../promotion/verdict';

/**
 * One check "no less fair than the champion by more than ε" on one sensitive column, read off the
 * column's paired bootstrap (`src/stats/fairness-bootstrap.ts`). Same rules as the performance gate's
 * comparisons: the pessimistic end of the two-sided interval at `confidence` must stay within ε; more
 * than 10 % of resamples without a Δ makes the check inconclusive. The interval is simultaneous over
 * the champion's group contrasts (`src/stats/fairness-contrasts.ts`), not a plain percentile one.
 */
export const DEFAULT_FAIRNESS_CONFIDENCE = 0.95;
const MIN_USABLE_RESAMPLE_SHARE = 0.9;

export interface RelativeCheck {
  readonly metric: FairnessMetric;
  readonly direction: 'drop' | 'rise';
  readonly margin: number;
  readonly confidence: number;
}

/** The relative part of a check, or undefined for an absolute one. */
export function relativeOf(check: FairnessCheck): RelativeCheck | undefined {
  const confidence = check.confidence ?? DEFAULT_FAIRNESS_CONFIDENCE;
  if (check.maxDropVsChampion !== undefined)
    return { metric: check.metric, direction: 'drop', margin: check.maxDropVsChampion, confidence };
  if (check.maxRiseVsChampion !== undefined)
    return { metric: check.metric, direction: 'rise', margin: check.maxRiseVsChampion, confidence };
  return undefined;
}

const pct = (c: number): string => `${Math.round(c * 1000) / 10}%`;

/** Why every relative check of a column is not judged on the bootstrap, when it is not. */
export type Unjudged =
  | { readonly kind: 'no-champion'; readonly withoutChampion: FairnessGate['withoutChampion'] }
  | { readonly kind: 'champion-broken'; readonly reason: string };

function baseOf(check: RelativeCheck, column: string, n: number) {
  const fairerHigh = isFairerWhenHigher(check.metric);
  return {
    name: `${check.metric}[${column}] ${check.direction} vs champion <= ${fmt(check.margin)}`,
    metric: check.metric,
    threshold: fairerHigh ? -check.margin : check.margin,
    comparator: fairerHigh ? ('>=' as const) : ('<=' as const),
    sampleSize: n,
  };
}

export function judgeUnjudged(check: RelativeCheck, column: string, n: number, why: Unjudged): CheckResult {
  const base = baseOf(check, column, n);
  const evidence = { column, margin: check.margin, confidence: check.confidence };
  if (why.kind === 'champion-broken') {
    return { ...base, status: 'inconclusive', message: `${base.name}: ${why.reason}`, evidence };
  }
  if (why.withoutChampion === 'fail') {
    return {
      ...base,
      status: 'failed',
      message: `${base.name}: no champion to compare with, and the spec says withoutChampion: fail`,
      evidence: { ...evidence, skipped: 'no champion' },
    };
  }
  return {
    ...base,
    status: 'passed',
    message: `${check.metric}[${column}]: no champion (first model): comparison skipped; see the group table for the base rates`,
    evidence: { ...evidence, skipped: 'no champion' },
  };
}

export function judgeRelative(
  check: RelativeCheck,
  column: string,
  outcome: FairnessDistributionOutcome,
): CheckResult {
  const n = 'distribution' in outcome ? outcome.distribution.n : 0;
  const base = baseOf(check, column, n);
  const { name, metric } = { name: base.name, metric: check.metric };
  const evidence = { column, margin: check.margin, confidence: check.confidence };
  if ('undefined' in outcome) {
    return { ...base, status: 'inconclusive', message: `${name}: ${outcome.undefined}`, evidence };
  }
  const d = outcome.distribution;
  const interval = fairnessInterval(d, check.confidence);
  const full = {
    ...base,
    value: d.delta,
    interval,
    evidence: {
      ...evidence,
      value: d.candidate,
      championValue: d.champion,
      delta: d.delta,
      ci: interval,
      // The plain percentile interval of Δ, for comparison: lenient when the champion is at parity.
      percentileCi: fairnessPercentileInterval(d, check.confidence),
      contrasts: d.simultaneous.contrasts.rate.length,
      resamples: d.deltas.length,
      skippedResamples: d.skipped,
      seed: d.seed,
    },
  };
  const label = `${metric}[${column}]`;
  if (d.deltas.length < MIN_USABLE_RESAMPLE_SHARE * d.requested) {
    return {
      ...full,
      status: 'inconclusive',
      message: `${name}: ${label} had no value in ${d.skipped} of ${d.requested} bootstrap resamples; too few to judge`,
    };
  }
  const decision = fairnessNonInferiority(metric, interval, check.margin);
  const vs = `candidate ${fmt(d.candidate)} vs champion ${fmt(d.champion)}, Δ = ${fmt(d.delta)}, ${pct(check.confidence)} CI ${fmt(interval.lower)}…${fmt(interval.upper)}`;
  const fairer = isFairerWhenHigher(metric) ? 'higher' : 'lower';
  const message = decision.passed
    ? `${label} is within the allowed ${check.direction} of ${fmt(check.margin)} vs the champion: ${vs}`
    : `${label} may be less fair than the champion by more than the margin ${fmt(check.margin)} (${fairer} is fairer): ${vs}; the ${decision.bound} bound ${fmt(decision.boundValue)} is ${decision.bound === 'lower' ? 'below' : 'above'} ${fmt(decision.limit)}`;
  return { ...full, status: decision.passed ? 'passed' : 'failed', message };
}
