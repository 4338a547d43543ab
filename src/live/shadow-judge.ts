import { type CheckResult, combine, type GateVerdict } from '../gates/verdict';
import { type Shadow } from '../spec/schema';
import { ks2Sample, psi } from '../stats/drift';
import { quantile } from '../stats/quantile';
import { type StatsSnapshot } from '../promotion/stats-snapshot';
import { finite, pct, psiBins, round, summarize } from './samples';

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
 * Checks when ready (every one carries value, threshold and sample sizes):
 * - agreement: agreements / compared rows ≥ minAgreement (a NaN on either side is never an agreement)
 * - score PSI(stable, shadow) ≤ maxPsi (bins by `psiBins`, fewer for small samples), and the KS statistic ≤ maxKsStatistic when set
 * - shadow error rate (errors / mirrored requests; the gateway counts non-finite outputs as errors)
 *   ≤ maxErrorRate
 * - p95 latency shadow / stable ≤ maxLatencyRatio when set
 */

export interface ShadowJudgement {
  readonly ready: boolean;
  readonly verdict: GateVerdict;
}

type Window = NonNullable<StatsSnapshot['variants']['stable']>;
const EMPTY: Window = { version: '', requests: 0, errors: 0, latencyMs: [], scores: [] };

function seconds(ms: number): string {
  return `${round(ms / 1000, 1)}s`;
}

export function judgeShadow(stats: StatsSnapshot, shadow: Shadow, elapsedMs: number): ShadowJudgement {
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
      checks.push({
        name: 'shadow sample size',
        metric: 'mirrored requests',
        status: 'failed',
        value: cand.requests,
        threshold: minRequests,
        comparator: '>=',
        sampleSize: cand.requests,
        message: `only ${cand.requests}/${minRequests} mirrored requests after ${seconds(elapsedMs)} (maxDuration ${seconds(maxDuration)})`,
        evidence: progress,
      });
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
    agreementCheck(stats, shadow),
    ...distributionChecks(stable, cand, shadow),
    errorRateCheck(cand, shadow),
    ...(shadow.checks.maxLatencyRatio !== undefined
      ? [latencyCheck(stable, cand, shadow.checks.maxLatencyRatio)]
      : []),
  ];
  return { ready: true, verdict: combine('shadow', checks) };
}

function agreementCheck(stats: StatsSnapshot, shadow: Shadow): CheckResult {
  const c = stats.shadowComparison;
  const min = shadow.checks.minAgreement;
  const base = {
    name: 'agreement',
    metric: 'share of compared rows where stable and shadow decide alike',
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
  const s = finite(stable.scores);
  const c = finite(cand.scores);
  const { maxPsi, maxKsStatistic } = shadow.checks;
  const sizes = { stable: summarize(s), shadow: summarize(c) };
  if (s.length === 0 || c.length === 0) {
    const message = `score distribution: no finite scores to compare (stable ${s.length}, shadow ${c.length})`;
    return [
      {
        name: 'score psi',
        metric: 'PSI(stable scores, shadow scores)',
        status: 'inconclusive',
        threshold: maxPsi,
        comparator: '<=',
        sampleSize: c.length,
        message,
        evidence: sizes,
      },
    ];
  }
  const bins = psiBins(s.length, c.length);
  const p = psi(s, c, bins);
  const checks: CheckResult[] = [
    {
      name: 'score psi',
      metric: 'PSI(stable scores, shadow scores)',
      status: p <= maxPsi ? 'passed' : 'failed',
      value: round(p),
      threshold: maxPsi,
      comparator: '<=',
      sampleSize: c.length,
      message: `score PSI ${round(p)} ${p <= maxPsi ? '≤' : '>'} ${maxPsi} (${c.length} shadow vs ${s.length} stable scores, ${bins} bins)`,
      evidence: { ...sizes, bins },
    },
  ];
  if (maxKsStatistic !== undefined) {
    const ks = ks2Sample(s, c);
    checks.push({
      name: 'score ks',
      metric: 'Kolmogorov–Smirnov distance of stable and shadow scores',
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

function latencyCheck(stable: Window, cand: Window, maxRatio: number): CheckResult {
  const s = finite(stable.latencyMs);
  const c = finite(cand.latencyMs);
  const base = {
    name: 'shadow latency ratio',
    metric: 'p95 latency shadow / stable',
    threshold: maxRatio,
    comparator: '<=' as const,
    sampleSize: c.length,
  };
  const evidence = { stable: summarize(s), shadow: summarize(c) };
  const sp95 = s.length > 0 ? quantile(s, 0.95) : 0;
  if (c.length === 0 || !(sp95 > 0)) {
    return {
      ...base,
      status: 'inconclusive',
      message: `shadow latency ratio: not enough latency samples (stable ${s.length}, shadow ${c.length})`,
      evidence,
    };
  }
  const ratio = quantile(c, 0.95) / sp95;
  return {
    ...base,
    status: ratio <= maxRatio ? 'passed' : 'failed',
    value: round(ratio),
    message: `shadow p95 latency ${round(ratio, 3)}× stable's ${ratio <= maxRatio ? '≤' : '>'} ${maxRatio}×`,
    evidence,
  };
}
