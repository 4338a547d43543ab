import { isHigherIsBetterMetric, type PerformanceMetric } from './metric-names';
import { aucOf, aucOrdered, scoreOrder, type Weights } from './auc';
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
 * - AUC counts tied scores as ½ (= `roc_auc_score`), through native typed-array sorts (`./auc`).
 * - log loss clips probabilities to [ε, 1−ε] with ε = float64 machine epsilon (2.22e-16), which is what
 *   scikit-learn 1.9 does (`np.finfo(y_proba.dtype).eps`); the old `eps=1e-15` argument is gone.
 * - Every metric takes optional per-row weights (sklearn's `sample_weight`). The paired bootstrap uses
 *   the packed eight-resample kernels of `./resample`, which compute the same weighted metrics.
 */

export type { Weights };

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
  return isHigherIsBetterMetric(metric);
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

const EPS = 2.220446049250313e-16;

/** A row's log loss, the probability clipped to [ε, 1−ε]. */
export function logLossTerm(score: number, label: number): number {
  const p = Math.min(Math.max(score, EPS), 1 - EPS);
  return label === 1 ? -Math.log(p) : -Math.log(1 - p);
}
export const squaredErrorTerm = (score: number, label: number): number => (score - label) ** 2;
export const absoluteErrorTerm = (score: number, label: number): number => Math.abs(score - label);

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
  return weightedMean('log_loss', scores.length, weights, (i) =>
    logLossTerm(scores[i] as number, labels[i] as number),
  );
}

export function brierWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return weightedMean('brier', scores.length, weights, (i) =>
    squaredErrorTerm(scores[i] as number, labels[i] as number),
  );
}

export function maeWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return weightedMean('mae', scores.length, weights, (i) =>
    absoluteErrorTerm(scores[i] as number, labels[i] as number),
  );
}

export function rmseWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  return Math.sqrt(
    weightedMean('rmse', scores.length, weights, (i) =>
      squaredErrorTerm(scores[i] as number, labels[i] as number),
    ),
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
      let order: Uint32Array | undefined; // sorted once, on the first weighted call
      return (wt) =>
        wt === undefined
          ? aucOf(scores, labels)
          : aucOrdered(scores, labels, (order ??= scoreOrder(scores, labels)), wt);
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

function outcomeOf(e: unknown): MetricOutcome {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'ERROR';
  return { error: e instanceof Error ? e.message : String(e), code };
}

/**
 * One model's metrics on one evaluation set, each computed at most once: a gate's evidence table,
 * its absolute checks and its bootstrap read the same values (issue 14: AUC was computed twice).
 */
export class ModelMetrics {
  private readonly results = new Map<PerformanceMetric, { value: number } | { error: unknown }>();

  constructor(
    readonly scores: NumericArray,
    readonly labels: NumericArray,
    readonly threshold: number,
  ) {}

  /** The metric's value; throws what `computeMetric` throws (the same error on every call). */
  value(metric: PerformanceMetric): number {
    let result = this.results.get(metric);
    if (result === undefined) {
      try {
        result = { value: computeMetric(metric, this.scores, this.labels, this.threshold) };
      } catch (e) {
        result = { error: e };
      }
      this.results.set(metric, result);
    }
    if ('error' in result) throw result.error;
    return result.value;
  }

  outcome(metric: PerformanceMetric): MetricOutcome {
    try {
      return { value: this.value(metric) };
    } catch (e) {
      return outcomeOf(e);
    }
  }

  /** Every metric, each either a value or the reason it has none (for evidence tables). */
  table(): Record<PerformanceMetric, MetricOutcome> {
    const out = {} as Record<PerformanceMetric, MetricOutcome>;
    for (const m of ALL_METRICS) out[m] = this.outcome(m);
    return out;
  }
}

/** Every metric, each either a value or the reason it has none (for evidence tables). */
export function computeAllMetrics(
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
): Record<PerformanceMetric, MetricOutcome> {
  return new ModelMetrics(scores, labels, threshold).table();
}
