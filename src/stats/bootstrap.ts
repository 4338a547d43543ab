import { type PerformanceMetric } from './metric-names';
import { assertSameLength, StatisticUndefinedError, StatsInputError, type NumericArray } from './errors';
import { isHigherBetter, ModelMetrics } from './metrics';
import { quantileSorted } from './quantile';
import { LANES, poissonWeights, prepareLanes, type LaneKernel } from './resample';

/**
 * Paired bootstrap of Δ = metric(candidate) − metric(champion).
 *
 * Both models are scored on the SAME resampled rows in every resample, so the row-to-row variation
 * that both models share cancels and the interval reflects only their difference. A resample is a
 * Poisson(1) weight per row (`./resample`: drawn in bulk, eight resamples per pass over the rows, the
 * once-sorted order reused), not n rows drawn with replacement; the two schemes give the same intervals
 * to Monte Carlo precision (checked against the classic bootstrap in the unit tests).
 *
 * The interval is the two-sided percentile interval at `confidence` (quantiles (1−c)/2 and (1+c)/2 of
 * the resampled Δ, numpy's linear interpolation). Resamples in which a metric is undefined for either
 * model (e.g. a resample with one class for AUC) are skipped and counted, not replaced.
 */
export interface PairedBootstrapInput {
  readonly metric: PerformanceMetric;
  readonly candidate: NumericArray;
  readonly champion: NumericArray;
  readonly labels: NumericArray;
  readonly threshold: number;
  readonly seed: number;
  readonly resamples: number;
  /** Two-sided confidence of the interval, e.g. 0.95. */
  readonly confidence: number;
}

export interface PairedBootstrapResult {
  readonly metric: PerformanceMetric;
  readonly candidate: number;
  readonly champion: number;
  /** Δ on the full data: candidate − champion. */
  readonly delta: number;
  readonly lower: number;
  readonly upper: number;
  readonly confidence: number;
  /** Resamples that produced a Δ (requested − skipped). */
  readonly resamples: number;
  readonly requested: number;
  readonly skipped: number;
  readonly seed: number;
  readonly n: number;
}

/** The resampled Δ of one metric, before an interval is read off it. */
export interface BootstrapDistribution {
  readonly metric: PerformanceMetric;
  readonly candidate: number;
  readonly champion: number;
  readonly delta: number;
  /** Δ of every resample in which both models had a value, ascending. */
  readonly deltas: Float64Array;
  readonly requested: number;
  readonly skipped: number;
  readonly seed: number;
  readonly n: number;
}

export interface PairedDistributionsInput {
  readonly metrics: readonly PerformanceMetric[];
  readonly candidate: ModelMetrics;
  readonly champion: ModelMetrics;
  readonly seed: number;
  readonly resamples: number;
}

/** Per metric: its distribution, or why the metric has none (undefined on the data or in every resample). */
export type DistributionOutcome =
  { readonly distribution: BootstrapDistribution } | { readonly undefined: StatisticUndefinedError };

function checkResamples(resamples: number): void {
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new StatsInputError(`resamples must be a positive integer, got ${resamples}`, { resamples });
  }
}

/**
 * Δ distributions of several metrics from the same resamples: each block of weights is drawn once and
 * every metric's kernels read it. The weights depend only on the seed and the row count, so a metric's
 * distribution is the same whichever metrics are computed beside it. Wiring errors (lengths, labels)
 * throw; a metric without a value is reported in its outcome.
 */
export function pairedBootstrapDistributions(
  input: PairedDistributionsInput,
): Map<PerformanceMetric, DistributionOutcome> {
  const { candidate, champion, seed, resamples } = input;
  checkResamples(resamples);
  assertSameLength('candidate scores', candidate.scores, 'champion scores', champion.scores);
  const n = candidate.labels.length;
  const outcomes = new Map<PerformanceMetric, DistributionOutcome>();
  interface Job {
    readonly metric: PerformanceMetric;
    readonly values: readonly [number, number];
    readonly kernels: readonly [LaneKernel, LaneKernel];
    readonly deltas: Float64Array;
    kept: number;
  }
  const jobs: Job[] = [];
  for (const metric of new Set(input.metrics)) {
    let values: [number, number];
    try {
      values = [candidate.value(metric), champion.value(metric)];
    } catch (e) {
      if (!(e instanceof StatisticUndefinedError)) throw e;
      outcomes.set(metric, { undefined: e });
      continue;
    }
    const kernels = [candidate, champion].map((m) =>
      prepareLanes(metric, m.scores, m.labels, m.threshold),
    ) as [LaneKernel, LaneKernel];
    jobs.push({ metric, values, kernels, deltas: new Float64Array(resamples), kept: 0 });
  }

  if (jobs.length > 0) {
    const weights = poissonWeights(seed);
    const packed = new Uint32Array(n);
    const ofCandidate = new Float64Array(LANES);
    const ofChampion = new Float64Array(LANES);
    for (let block = 0; block < resamples; block += LANES) {
      weights.next(packed);
      const lanes = Math.min(LANES, resamples - block);
      for (const job of jobs) {
        job.kernels[0](packed, ofCandidate);
        job.kernels[1](packed, ofChampion);
        for (let l = 0; l < lanes; l++) {
          const delta = (ofCandidate[l] as number) - (ofChampion[l] as number);
          if (!Number.isNaN(delta)) job.deltas[job.kept++] = delta;
        }
      }
    }
  }

  for (const job of jobs) {
    if (job.kept === 0) {
      outcomes.set(job.metric, {
        undefined: new StatisticUndefinedError(
          `bootstrap of ${job.metric}`,
          `the metric was undefined in all ${resamples} resamples`,
          { metric: job.metric, resamples },
        ),
      });
      continue;
    }
    const [candidateValue, championValue] = job.values;
    outcomes.set(job.metric, {
      distribution: {
        metric: job.metric,
        candidate: candidateValue,
        champion: championValue,
        delta: candidateValue - championValue,
        deltas: job.deltas.subarray(0, job.kept).sort(),
        requested: resamples,
        skipped: resamples - job.kept,
        seed,
        n,
      },
    });
  }
  return outcomes;
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) {
    throw new StatsInputError(`confidence must be in (0, 1), got ${confidence}`, { confidence });
  }
}

/** The two-sided percentile interval at `confidence` of a distribution. */
export function percentileInterval(
  distribution: BootstrapDistribution,
  confidence: number,
): PairedBootstrapResult {
  checkConfidence(confidence);
  const { deltas, requested, skipped, ...rest } = distribution;
  const alpha = (1 - confidence) / 2;
  return {
    ...rest,
    lower: quantileSorted(deltas, alpha),
    upper: quantileSorted(deltas, 1 - alpha),
    confidence,
    resamples: deltas.length,
    requested,
    skipped,
  };
}

export function pairedBootstrap(input: PairedBootstrapInput): PairedBootstrapResult {
  const { metric, candidate, champion, labels, threshold, seed, resamples, confidence } = input;
  checkResamples(resamples);
  checkConfidence(confidence);
  const outcome = pairedBootstrapDistributions({
    metrics: [metric],
    candidate: new ModelMetrics(candidate, labels, threshold),
    champion: new ModelMetrics(champion, labels, threshold),
    seed,
    resamples,
  }).get(metric);
  if (outcome === undefined) throw new Error(`no bootstrap outcome for ${metric}`);
  if ('undefined' in outcome) throw outcome.undefined;
  return percentileInterval(outcome.distribution, confidence);
}

export interface NonInferiorityDecision {
  readonly passed: boolean;
  /** The interval end that is judged and the bound it must respect. */
  readonly bound: 'lower' | 'upper';
  readonly boundValue: number;
  readonly limit: number;
}

/**
 * Non-inferiority of the candidate within a margin ε ≥ 0.
 *
 * Higher-is-better (auc…): Δ < 0 is a loss, so the candidate is non-inferior when even the pessimistic
 * end of the interval, the LOWER bound, is ≥ −ε. Lower-is-better (log_loss…): Δ > 0 is a loss, so the
 * pessimistic end is the UPPER bound, which must be ≤ +ε. An interval that straddles the limit has not
 * shown non-inferiority and does not pass: the burden of proof is on the candidate.
 */
export function nonInferiority(result: PairedBootstrapResult, margin: number): NonInferiorityDecision {
  if (isHigherBetter(result.metric)) {
    return { passed: result.lower >= -margin, bound: 'lower', boundValue: result.lower, limit: -margin };
  }
  return { passed: result.upper <= margin, bound: 'upper', boundValue: result.upper, limit: margin };
}
