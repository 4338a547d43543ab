import { type FairnessMetric } from './metric-names';
import { assertFinite, assertNonEmpty, assertSameLength, StatsInputError, type NumericArray } from './errors';

/**
 * Group fairness with Fairlearn's definitions (`method='between_groups'`, `agg='worst_case'`).
 *
 * Per group: selection rate = share predicted positive (`score >= threshold`); TPR = TP / positives;
 * FPR = FP / negatives; base rate = positives / rows. As in Fairlearn (which goes through sklearn's
 * row-normalised confusion matrix), a rate whose denominator is empty is 0. The judged value uses
 * only groups with at least `minGroupSize` rows; smaller groups stay in the table, marked
 * `judged: false`.
 */
export interface GroupRates {
  readonly group: string;
  readonly count: number;
  readonly positives: number;
  readonly negatives: number;
  /** Share of the group's rows labelled positive: what a perfect classifier would select. */
  readonly baseRate: number;
  readonly selectionRate: number;
  readonly tpr: number;
  readonly fpr: number;
  readonly judged: boolean;
}

export type FairnessOutcome =
  | { readonly status: 'measured'; readonly value: number; readonly groups: readonly GroupRates[] }
  | { readonly status: 'inconclusive'; readonly reason: string; readonly groups: readonly GroupRates[] };

/** Per-group rates of one sensitive column, sorted by group name (stable evidence). */
export function groupRates(
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
  groupOf: readonly string[],
  minGroupSize: number,
): GroupRates[] {
  assertNonEmpty('scores', scores);
  assertSameLength('scores', scores, 'labels', labels);
  assertSameLength('scores', scores, 'sensitive column', groupOf);
  assertFinite('scores', scores);
  assertFinite('labels', labels);
  const acc = new Map<string, { n: number; sel: number; pos: number; neg: number; tp: number; fp: number }>();
  for (let i = 0; i < scores.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) {
      throw new StatsInputError(`fairness needs binary labels 0/1; row ${i} has ${label}`, { row: i });
    }
    const g = groupOf[i] as string;
    let a = acc.get(g);
    if (!a) {
      a = { n: 0, sel: 0, pos: 0, neg: 0, tp: 0, fp: 0 };
      acc.set(g, a);
    }
    const predicted = (scores[i] as number) >= threshold;
    a.n++;
    if (predicted) a.sel++;
    if (label === 1) {
      a.pos++;
      if (predicted) a.tp++;
    } else {
      a.neg++;
      if (predicted) a.fp++;
    }
  }
  return [...acc.entries()]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([group, a]) => ({
      group,
      count: a.n,
      positives: a.pos,
      negatives: a.neg,
      baseRate: a.pos / a.n,
      selectionRate: a.sel / a.n,
      tpr: a.pos === 0 ? 0 : a.tp / a.pos,
      fpr: a.neg === 0 ? 0 : a.fp / a.neg,
      judged: a.n >= minGroupSize,
    }));
}

function spread(values: readonly number[]): number {
  return Math.max(...values) - Math.min(...values);
}

/** The fairness metric over the judged groups of a table. */
export function fairnessFromGroups(metric: FairnessMetric, groups: readonly GroupRates[]): FairnessOutcome {
  const judged = groups.filter((g) => g.judged);
  if (judged.length < 2) {
    return {
      status: 'inconclusive',
      reason: `only ${judged.length} group(s) reach the minimum size (${groups.length} group(s) in total)`,
      groups,
    };
  }
  const sel = judged.map((g) => g.selectionRate);
  const tpr = judged.map((g) => g.tpr);
  const fpr = judged.map((g) => g.fpr);
  switch (metric) {
    case 'demographic_parity_difference':
      return { status: 'measured', value: spread(sel), groups };
    case 'demographic_parity_ratio': {
      const max = Math.max(...sel);
      if (max === 0) {
        return {
          status: 'inconclusive',
          reason: 'no judged group has any positive prediction (ratio 0/0)',
          groups,
        };
      }
      return { status: 'measured', value: Math.min(...sel) / max, groups };
    }
    case 'equalized_odds_difference':
      return { status: 'measured', value: Math.max(spread(tpr), spread(fpr)), groups };
    case 'equal_opportunity_difference':
      return { status: 'measured', value: spread(tpr), groups };
  }
}

export function fairnessMetric(
  metric: FairnessMetric,
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
  groupOf: readonly string[],
  minGroupSize: number,
): FairnessOutcome {
  return fairnessFromGroups(metric, groupRates(scores, labels, threshold, groupOf, minGroupSize));
}
