import type { FairnessGroupTable } from '../promotion/fairness-groups';
import { type FairnessMetric } from '../stats/metric-names';
import { type GroupRates } from '../stats/fairness';
import { formatStat as fmt } from '../stats/format';

/** The reported table of one sensitive column: sizes, base rates, and each model's rates. */
export function groupTable(
  column: string,
  minGroupSize: number,
  candidate: readonly GroupRates[],
  champion?: readonly GroupRates[],
): FairnessGroupTable {
  const rates = (g: GroupRates) => ({ selectionRate: g.selectionRate, tpr: g.tpr, fpr: g.fpr });
  const ofChampion = new Map((champion ?? []).map((g) => [g.group, g]));
  const groups = candidate.map((g) => {
    const h = ofChampion.get(g.group);
    return {
      group: g.group,
      rows: g.count,
      positives: g.positives,
      baseRate: g.baseRate,
      judged: g.judged,
      candidate: rates(g),
      ...(h ? { champion: rates(h) } : {}),
    };
  });
  const base = candidate.filter((g) => g.judged).map((g) => g.baseRate);
  const max = Math.max(...base);
  return {
    column,
    minGroupSize,
    groups,
    ...(base.length >= 2 && max > 0
      ? {
          perfectClassifier: {
            demographicParityRatio: Math.min(...base) / max,
            demographicParityDifference: max - Math.min(...base),
          },
        }
      : {}),
  };
}

/**
 * When an absolute demographic-parity bound is missed even by a perfect classifier on this data (one
 * that selects exactly the positives), the sentence that says so; otherwise ''. Equalized odds and equal opportunity compare error rates
 * within each label, so base rates do not bound them and they get no such note.
 */
export function unreachableNote(
  metric: FairnessMetric,
  bounds: { min?: number | undefined; max?: number | undefined },
  table: FairnessGroupTable,
): string {
  const perfect = table.perfectClassifier;
  if (perfect === undefined) return '';
  const baseRates = table.groups
    .filter((g) => g.judged)
    .map((g) => `${g.group} ${fmt(g.baseRate)}`)
    .join(', ');
  const say = (value: number): string =>
    `; even a perfect classifier scores ${fmt(value)} here (base rates ${baseRates}), so only a model that departs from the labels meets this bound; a check relative to the champion (maxDropVsChampion / maxRiseVsChampion) still says "no less fair"`;
  if (
    metric === 'demographic_parity_ratio' &&
    bounds.min !== undefined &&
    perfect.demographicParityRatio < bounds.min
  )
    return say(perfect.demographicParityRatio);
  if (
    metric === 'demographic_parity_difference' &&
    bounds.max !== undefined &&
    perfect.demographicParityDifference > bounds.max
  )
    return say(perfect.demographicParityDifference);
  return '';
}
