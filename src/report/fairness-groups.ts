import type { FairnessGroupTable, FairnessRates } from '../promotion/fairness-groups';

const rate = (x: number | undefined): string => (x === undefined ? '' : x.toFixed(3));
const rates = (r: FairnessRates | undefined): string[] => [
  rate(r?.selectionRate),
  rate(r?.tpr),
  rate(r?.fpr),
];

/**
 * The fairness gate's per-group tables in Markdown: each group's size and base rate beside both
 * models' rates, and the demographic parity a perfect classifier would score on these base rates.
 */
export function renderFairnessGroups(tables: readonly FairnessGroupTable[]): string[] {
  return tables.flatMap((t) => {
    const champion = t.groups.some((g) => g.champion !== undefined);
    const header = ['group', 'rows', 'positives', 'base rate', 'selection rate', 'TPR', 'FPR'];
    const head = champion ? [...header, 'champion selection rate', 'champion TPR', 'champion FPR'] : header;
    const perfect = t.perfectClassifier;
    return [
      '',
      `### Groups of \`${t.column}\``,
      '',
      ...(perfect
        ? [
            `A perfect classifier (selecting exactly the positives) would score demographic_parity_ratio ${perfect.demographicParityRatio.toFixed(3)} and demographic_parity_difference ${perfect.demographicParityDifference.toFixed(3)} on these base rates. Groups under ${t.minGroupSize} rows are listed, not judged.`,
            '',
          ]
        : [`Groups under ${t.minGroupSize} rows are listed, not judged.`, '']),
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...t.groups.map((g) => {
        const cells = [
          g.judged ? g.group : `${g.group} (not judged)`,
          String(g.rows),
          String(g.positives),
          rate(g.baseRate),
          ...rates(g.candidate),
          ...(champion ? rates(g.champion) : []),
        ];
        return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
      }),
    ];
  });
}
