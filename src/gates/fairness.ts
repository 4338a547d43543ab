import { type FairnessGate } from '../spec/gates-schema';
import { assertFinite, NonFiniteInputError, type NumericArray } from '../stats/errors';
import { fairnessFromGroups, groupRates, type GroupRates } from '../stats/fairness';
import { formatStat as fmt } from '../stats/format';
import { type CheckResult, combine, type GateVerdict } from '../promotion/verdict';

/**
 * The fairness gate: one check per (configured metric, sensitive column), each with the per-group
 * table as evidence. Groups below `minGroupSize` are listed but not judged; with fewer than two judged
 * groups the check is inconclusive (a person decides), never silently passed.
 */
export interface FairnessInput {
  readonly gate: FairnessGate;
  readonly scores: NumericArray;
  readonly labels: NumericArray;
  readonly threshold: number;
  /** Column name → group of each row (same row order as scores). */
  readonly sensitive: Readonly<Record<string, readonly string[]>>;
}

type FairnessCheck = FairnessGate['checks'][number];

function boundsOf(check: FairnessCheck): Pick<CheckResult, 'comparator' | 'threshold'> & { label: string } {
  const { metric, min, max } = check;
  if (min !== undefined && max !== undefined)
    return { comparator: 'in', label: `${fmt(min)} <= ${metric} <= ${fmt(max)}` };
  if (min !== undefined) return { comparator: '>=', threshold: min, label: `${metric} >= ${fmt(min)}` };
  return { comparator: '<=', threshold: max ?? NaN, label: `${metric} <= ${fmt(max ?? NaN)}` };
}

function judgeColumn(
  check: FairnessCheck,
  column: string,
  groups: readonly GroupRates[],
  gate: FairnessGate,
  threshold: number,
): CheckResult {
  const { metric, min, max } = check;
  const { label, ...bounds } = boundsOf(check);
  const name = `${metric}[${column}]`;
  const excluded = groups.filter((g) => !g.judged).map((g) => g.group);
  const evidence = {
    column,
    groups,
    minGroupSize: gate.minGroupSize,
    excludedGroups: excluded,
    min,
    max,
    threshold,
  };
  const outcome = fairnessFromGroups(metric, groups);
  const sampleSize = groups.reduce((s, g) => s + g.count, 0);
  if (outcome.status === 'inconclusive') {
    return {
      name,
      metric,
      status: 'inconclusive',
      ...bounds,
      sampleSize,
      message: `${name}: ${outcome.reason}`,
      evidence,
    };
  }
  const value = outcome.value;
  const failed = (min !== undefined && value < min) || (max !== undefined && value > max);
  const note =
    excluded.length > 0 ? `; not judged (< ${gate.minGroupSize} rows): ${excluded.join(', ')}` : '';
  return {
    name,
    metric,
    status: failed ? 'failed' : 'passed',
    ...bounds,
    value,
    sampleSize,
    message: `${name} = ${fmt(value)} ${failed ? 'violates' : 'satisfies'} ${label} over ${groups.length - excluded.length} groups${note}`,
    evidence: { ...evidence, value },
  };
}

export function judgeFairness(input: FairnessInput): GateVerdict {
  const { gate, scores, labels, threshold, sensitive } = input;
  const columns = Object.keys(sensitive).sort();
  if (columns.length === 0) {
    return combine('fairness', [
      {
        name: 'sensitive columns',
        metric: 'fairness',
        status: 'inconclusive',
        message: 'the fairness gate is configured but the data set has no sensitive columns to judge',
      },
    ]);
  }
  try {
    assertFinite('candidate scores', scores);
  } catch (e) {
    if (!(e instanceof NonFiniteInputError)) throw e;
    return combine(
      'fairness',
      gate.checks.flatMap((check) =>
        columns.map((column) => ({
          name: `${check.metric}[${column}]`,
          metric: check.metric,
          status: 'failed' as const,
          message: `${check.metric}[${column}]: ${e.message}`,
        })),
      ),
    );
  }
  const tables = new Map(
    columns.map((column) => [
      column,
      groupRates(scores, labels, threshold, sensitive[column] ?? [], gate.minGroupSize),
    ]),
  );
  const checks = gate.checks.flatMap((check) =>
    columns.map((column) => judgeColumn(check, column, tables.get(column) ?? [], gate, threshold)),
  );
  return combine('fairness', checks);
}
