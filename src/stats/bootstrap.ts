import { type PerformanceMetric } from '../spec/gates-schema';
import { assertSameLength, StatisticUndefinedError, StatsInputError, type NumericArray } from './errors';
import { isHigherBetter, prepareMetric } from './metrics';
import { quantileSorted } from './quantile';
import { createRng } from './rng';

/**
 * Paired bootstrap of Δ = metric(candidate) − metric(champion).
 *
 * Both models are scored on the SAME resampled rows in every resample, so the row-to-row variation
 * that both models share cancels and the interval reflects only their difference. A resample is
 * represented by row multiplicities (how often each row was drawn); the metrics take these as weights,
 * so a resample costs O(n) even for AUC.
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

export function pairedBootstrap(input: PairedBootstrapInput): PairedBootstrapResult {
  const { metric, candidate, champion, labels, threshold, seed, resamples, confidence } = input;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new StatsInputError(`resamples must be a positive integer, got ${resamples}`, { resamples });
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new StatsInputError(`confidence must be in (0, 1), got ${confidence}`, { confidence });
  }
  assertSameLength('candidate scores', candidate, 'champion scores', champion);
  const cand = prepareMetric(metric, candidate, labels, threshold);
  const champ = prepareMetric(metric, champion, labels, threshold);
  const candidateValue = cand();
  const championValue = champ();

  const n = labels.length;
  const rng = createRng(seed);
  const counts = new Int32Array(n);
  const deltas = new Float64Array(resamples);
  let kept = 0;
  for (let r = 0; r < resamples; r++) {
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[rng.int(n)]! += 1;
    try {
      deltas[kept] = cand(counts) - champ(counts);
      kept++;
    } catch (e) {
      if (!(e instanceof StatisticUndefinedError)) throw e;
    }
  }
  if (kept === 0) {
    throw new StatisticUndefinedError(
      `bootstrap of ${metric}`,
      `the metric was undefined in all ${resamples} resamples`,
      {
        metric,
        resamples,
      },
    );
  }
  const sorted = deltas.subarray(0, kept).sort();
  const alpha = (1 - confidence) / 2;
  return {
    metric,
    candidate: candidateValue,
    champion: championValue,
    delta: candidateValue - championValue,
    lower: quantileSorted(sorted, alpha),
    upper: quantileSorted(sorted, 1 - alpha),
    confidence,
    resamples: kept,
    requested: resamples,
    skipped: resamples - kept,
    seed,
    n,
  };
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
