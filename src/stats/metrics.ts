import { HigherIsBetterMetric, type PerformanceMetric } from '../spec/gates-schema';
import {
  assertFinite,
  assertNonEmpty,
  assertSameLength,
  StatisticUndefinedError,
  StatsInputError,
  type NumericArray,
} from './errors';

/**
 * Performance metrics with scikit-learn's conventions, computed from scores, labels and a threshold.
 *
 * - A row is predicted positive when `score >= threshold`.
 * - precision, recall and f1 use `zero_division=0` (0 when the denominator is empty).
 * - AUC counts tied scores as ½ (= `roc_auc_score`), computed from one sort.
 * - log loss clips probabilities to [ε, 1−ε] with ε = float64 machine epsilon (2.22e-16), which is what
 *   scikit-learn 1.9 does (`np.finfo(y_proba.dtype).eps`); the old `eps=1e-15` argument is gone.
 * - Every metric takes optional per-row weights. The paired bootstrap passes resample multiplicities,
 *   so a resample costs O(n) instead of materialising and re-sorting n rows.
 */

export type Weights = Float64Array | Int32Array | Uint32Array;

/** Weighted confusion counts (plain counts without weights). */
export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

export const ALL_METRICS: readonly PerformanceMetric[] = [
  'accuracy',
  'precision',
  'recall',
  'f1',
  'auc',
  'log_loss',
  'brier',
  'rmse',
  'mae',
];

export function isHigherBetter(metric: PerformanceMetric): boolean {
  return HigherIsBetterMetric.safeParse(metric).success;
}

const CLASSIFICATION: ReadonlySet<PerformanceMetric> = new Set([
  'accuracy',
  'precision',
  'recall',
  'f1',
  'auc',
  'log_loss',
  'brier',
]);
const PROBABILISTIC: ReadonlySet<PerformanceMetric> = new Set(['log_loss', 'brier']);

function w(weights: Weights | undefined, i: number): number {
  return weights === undefined ? 1 : (weights[i] as number);
}

/** Validates the paired arrays once; throws typed errors naming the problem rows. */
export function validateScoresAndLabels(
  metric: PerformanceMetric,
  scores: NumericArray,
  labels: NumericArray,
): void {
  assertNonEmpty('scores', scores);
  assertSameLength('scores', scores, 'labels', labels);
  assertFinite('scores', scores);
  assertFinite('labels', labels);
  if (CLASSIFICATION.has(metric)) {
    let bad = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] !== 0 && labels[i] !== 1) bad++;
    if (bad > 0) {
      throw new StatsInputError(`${metric} needs binary labels 0/1, but ${bad} label(s) are something else`, {
        metric,
        count: bad,
      });
    }
  }
  if (PROBABILISTIC.has(metric)) {
    let bad = 0;
    for (let i = 0; i < scores.length; i++) if ((scores[i] as number) < 0 || (scores[i] as number) > 1) bad++;
    if (bad > 0) {
      throw new StatsInputError(`${metric} needs probabilities in [0, 1], but ${bad} score(s) are outside`, {
        metric,
        count: bad,
      });
    }
  }
}

export function confusion(
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
  weights?: Weights,
): Confusion {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const wi = w(weights, i);
    if (wi === 0) continue;
    const predicted = (scores[i] as number) >= threshold;
    if (labels[i] === 1) {
      if (predicted) tp += wi;
      else fn += wi;
    } else if (predicted) fp += wi;
    else tn += wi;
  }
  return { tp, fp, tn, fn };
}

const ratioOrZero = (num: number, den: number): number => (den === 0 ? 0 : num / den);

export function accuracyOf(c: Confusion): number {
  const total = c.tp + c.fp + c.tn + c.fn;
  if (total === 0) throw new StatisticUndefinedError('accuracy', 'no rows');
  return (c.tp + c.tn) / total;
}
export const precisionOf = (c: Confusion): number => ratioOrZero(c.tp, c.tp + c.fp);
export const recallOf = (c: Confusion): number => ratioOrZero(c.tp, c.tp + c.fn);
/** 2tp / (2tp + fp + fn): sklearn's form, 0 when there is nothing to score. */
export const f1Of = (c: Confusion): number => ratioOrZero(2 * c.tp, 2 * c.tp + c.fp + c.fn);

/** Row indices ordered by ascending score: the one sort AUC needs, reusable across resamples. */
export function scoreOrder(scores: NumericArray): Uint32Array {
  const idx = new Uint32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  const s = Float64Array.from(scores);
  idx.sort((a, b) => (s[a] as number) - (s[b] as number));
  return idx;
}

/** ROC AUC = P(score₊ > score₋) + ½·P(tie), weighted; O(n) given `order`. */
export function aucOrdered(
  scores: NumericArray,
  labels: NumericArray,
  order: Uint32Array,
  weights?: Weights,
): number {
  let negBelow = 0;
  let numerator = 0;
  let pos = 0;
  let k = 0;
  while (k < order.length) {
    const value = scores[order[k] as number] as number;
    let groupPos = 0;
    let groupNeg = 0;
    while (k < order.length && scores[order[k] as number] === value) {
      const i = order[k] as number;
      const wi = w(weights, i);
      if (labels[i] === 1) groupPos += wi;
      else groupNeg += wi;
      k++;
    }
    numerator += groupPos * (negBelow + 0.5 * groupNeg);
    negBelow += groupNeg;
    pos += groupPos;
  }
  if (pos === 0 || negBelow === 0) {
    throw new StatisticUndefinedError(
      'auc',
      `only one class is present (${pos} positive, ${negBelow} negative)`,
      {
        positives: pos,
        negatives: negBelow,
      },
    );
  }
  return numerator / (pos * negBelow);
}

const EPS = 2.220446049250313e-16;

function weightedMean(
  statistic: string,
  n: number,
  weights: Weights | undefined,
  term: (i: number) => number,
): number {
  let sum = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const wi = w(weights, i);
    if (wi === 0) continue;
    sum += wi * term(i);
    total += wi;
  }
  if (total === 0) throw new StatisticUndefinedError(statistic, 'no rows');
  return sum / total;
}

export function logLossWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return weightedMean('log_loss', scores.length, weights, (i) => {
    const p = Math.min(Math.max(scores[i] as number, EPS), 1 - EPS);
    return labels[i] === 1 ? -Math.log(p) : -Math.log(1 - p);
  });
}

export function brierWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return weightedMean(
    'brier',
    scores.length,
    weights,
    (i) => ((scores[i] as number) - (labels[i] as number)) ** 2,
  );
}

export function maeWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return weightedMean('mae', scores.length, weights, (i) =>
    Math.abs((scores[i] as number) - (labels[i] as number)),
  );
}

export function rmseWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return Math.sqrt(
    weightedMean('rmse', scores.length, weights, (i) => ((scores[i] as number) - (labels[i] as number)) ** 2),
  );
}

/** A metric bound to its data, evaluated under any row weighting (bootstrap multiplicities). */
export type PreparedMetric = (weights?: Weights) => number;

/** Validates once and does any per-dataset work (the AUC sort) up front. */
export function prepareMetric(
  metric: PerformanceMetric,
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
): PreparedMetric {
  validateScoresAndLabels(metric, scores, labels);
  switch (metric) {
    case 'accuracy':
      return (wt) => accuracyOf(confusion(scores, labels, threshold, wt));
    case 'precision':
      return (wt) => precisionOf(confusion(scores, labels, threshold, wt));
    case 'recall':
      return (wt) => recallOf(confusion(scores, labels, threshold, wt));
    case 'f1':
      return (wt) => f1Of(confusion(scores, labels, threshold, wt));
    case 'auc': {
      const order = scoreOrder(scores);
      return (wt) => aucOrdered(scores, labels, order, wt);
    }
    case 'log_loss':
      return (wt) => logLossWeighted(scores, labels, wt);
    case 'brier':
      return (wt) => brierWeighted(scores, labels, wt);
    case 'rmse':
      return (wt) => rmseWeighted(scores, labels, wt);
    case 'mae':
      return (wt) => maeWeighted(scores, labels, wt);
  }
}

/**
 * One metric of a binary classifier (or regressor, for rmse/mae). Throws `METRIC_UNDEFINED` when the
 * metric has no value (AUC with one class) and `NON_FINITE_INPUT` for NaN/Infinity rows; never NaN.
 */
export function computeMetric(
  metric: PerformanceMetric,
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
): number {
  return prepareMetric(metric, scores, labels, threshold)();
}

export type MetricOutcome = { readonly value: number } | { readonly error: string; readonly code: string };

/** Every metric, each either a value or the reason it has none (for evidence tables). */
export function computeAllMetrics(
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
): Record<PerformanceMetric, MetricOutcome> {
  const out = {} as Record<PerformanceMetric, MetricOutcome>;
  for (const m of ALL_METRICS) {
    try {
      out[m] = { value: computeMetric(m, scores, labels, threshold) };
    } catch (e) {
      const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'ERROR';
      out[m] = { error: e instanceof Error ? e.message : String(e), code };
    }
  }
  return out;
}
