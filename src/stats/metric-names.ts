/**
 * The metrics prograde can compute, by name. They belong to the statistics that compute them; the
 * spec's schema builds its enums from these lists, so a metric cannot be accepted by the spec and
 * unknown to the code that measures it.
 */

export const HIGHER_IS_BETTER_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'auc'] as const;
export const LOWER_IS_BETTER_METRICS = ['log_loss', 'brier', 'rmse', 'mae'] as const;
export type HigherIsBetterMetric = (typeof HIGHER_IS_BETTER_METRICS)[number];
export type LowerIsBetterMetric = (typeof LOWER_IS_BETTER_METRICS)[number];
export type PerformanceMetric = HigherIsBetterMetric | LowerIsBetterMetric;

export const FAIRNESS_METRICS = [
  'demographic_parity_difference',
  'demographic_parity_ratio',
  'equalized_odds_difference',
  'equal_opportunity_difference',
] as const;
export type FairnessMetric = (typeof FAIRNESS_METRICS)[number];
/** The ratio is fairer when higher (1 = parity); the differences are fairer when lower (0 = parity). */
export const FAIRER_WHEN_HIGHER_METRICS = ['demographic_parity_ratio'] as const;
export const FAIRER_WHEN_LOWER_METRICS = [
  'demographic_parity_difference',
  'equalized_odds_difference',
  'equal_opportunity_difference',
] as const;

export function isFairerWhenHigher(metric: FairnessMetric): boolean {
  return (FAIRER_WHEN_HIGHER_METRICS as readonly string[]).includes(metric);
}

export function isHigherIsBetterMetric(metric: string): metric is HigherIsBetterMetric {
  return (HIGHER_IS_BETTER_METRICS as readonly string[]).includes(metric);
}
