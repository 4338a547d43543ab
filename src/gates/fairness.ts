import { type FairnessCheck, type FairnessGate } from '../spec/gates-schema';
import { nonFiniteReason, type NumericArray } from '../stats/errors';
import { fairnessFromGroups, groupRates, type GroupRates } from '../stats/fairness';
import { fairnessBootstrap, type FairnessBootstrap } from '../stats/fairness-bootstrap';
import { formatStat as fmt } from '../stats/format';
import type { FairnessGroupTable } from '../promotion/fairness-groups';
import { type CheckResult, combine, type GateVerdict } from '../promotion/verdict';
import { judgeRelative, judgeUnjudged, relativeOf, type Unjudged } from './fairness-relative';
import { groupTable, unreachableNote } from './fairness-table';

/**
 * The fairness gate: one check per (configured metric, sensitive column). Absolute checks hold the
 * candidate's metric to `min`/`max`, with the per-group table as evidence; checks relative to the
 * champion (`maxDropVsChampion` / `maxRiseVsChampion`) are paired-bootstrap non-inferiority tests
 * (`./fairness-relative`). Groups below `minGroupSize` are listed but not judged; with fewer than two
 * judged groups a check is inconclusive (a person decides), never silently passed. The verdict carries
 * one group table per column: sizes, base rates, both models' rates.
 *
 * With no champion, a relative check passes saying it was skipped (as the performance gate's), or
 * fails when the gate says `withoutChampion: fail`. Non-finite candidate scores fail every check;
 * non-finite champion scores make the relative checks inconclusive.
 */
export interface FairnessInput {
  readonly gate: FairnessGate;
  readonly scores: NumericArray;
  /** The champion's scores on the same rows; absent for the first model. */
  readonly champion?: NumericArray;
  readonly labels: NumericArray;
  readonly threshold: number;
  /** Column name → group of each row (same row order as scores). */
  readonly sensitive: Readonly<Record<string, readonly string[]>>;
  /** Bootstrap seed and resamples of the relative checks (the spec's evaluation; 42 and 1000 if absent). */
  readonly seed?: number;
  readonly resamples?: number;
}

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
  table: FairnessGroupTable,
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
    (excluded.length > 0 ? `; not judged (< ${gate.minGroupSize} rows): ${excluded.join(', ')}` : '') +
    (failed ? unreachableNote(metric, { min, max }, table) : '');
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

interface Column {
  readonly name: string;
  readonly candidate: readonly GroupRates[];
  readonly table: FairnessGroupTable;
  /** The paired bootstrap, or why relative checks are not judged on one. */
  readonly comparison?: FairnessBootstrap | Unjudged;
}

function judgeCheck(check: FairnessCheck, column: Column, input: FairnessInput): CheckResult {
  const relative = relativeOf(check);
  if (relative === undefined)
    return judgeColumn(check, column.name, column.candidate, input.gate, input.threshold, column.table);
  const c = column.comparison;
  if (c === undefined) throw new Error('a relative fairness check without a comparison');
  if ('kind' in c) return judgeUnjudged(relative, column.name, input.labels.length, c);
  const outcome = c.outcomes.get(relative.metric);
  if (outcome === undefined) throw new Error(`no fairness bootstrap was drawn for ${relative.metric}`);
  return judgeRelative(relative, column.name, outcome);
}

export function judgeFairness(input: FairnessInput): GateVerdict {
  const { gate, scores, labels, threshold, sensitive, champion } = input;
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
  const candidateBroken = nonFiniteReason('candidate scores', scores);
  if (candidateBroken !== undefined) {
    return combine(
      'fairness',
      gate.checks.flatMap((check) =>
        columns.map((column) => ({
          name: `${check.metric}[${column}]`,
          metric: check.metric,
          status: 'failed' as const,
          message: `${check.metric}[${column}]: ${candidateBroken}`,
        })),
      ),
    );
  }
  const relativeMetrics = gate.checks.flatMap((c) => relativeOf(c)?.metric ?? []);
  const championBroken = champion ? nonFiniteReason('champion scores', champion) : undefined;
  const compared = relativeMetrics.length > 0 && champion !== undefined && championBroken === undefined;
  const judged: Column[] = columns.map((name) => {
    const groupOf = sensitive[name] ?? [];
    const bootstrap = compared
      ? fairnessBootstrap({
          metrics: relativeMetrics,
          candidate: scores,
          champion,
          labels,
          threshold,
          groupOf,
          minGroupSize: gate.minGroupSize,
          seed: input.seed ?? 42,
          resamples: input.resamples ?? 1000,
        })
      : undefined;
    const candidate =
      bootstrap?.candidate ?? groupRates(scores, labels, threshold, groupOf, gate.minGroupSize);
    const championRates =
      bootstrap?.champion ??
      (champion && championBroken === undefined
        ? groupRates(champion, labels, threshold, groupOf, gate.minGroupSize)
        : undefined);
    const comparison: Column['comparison'] =
      relativeMetrics.length === 0
        ? undefined
        : (bootstrap ??
          (championBroken !== undefined
            ? { kind: 'champion-broken', reason: championBroken }
            : { kind: 'no-champion', withoutChampion: gate.withoutChampion }));
    return {
      name,
      candidate,
      table: groupTable(name, gate.minGroupSize, candidate, championRates),
      ...(comparison ? { comparison } : {}),
    };
  });
  const checks = gate.checks.flatMap((check) => judged.map((column) => judgeCheck(check, column, input)));
  const skipped = checks.filter((c) => c.evidence?.['skipped'] === 'no champion' && c.status === 'passed');
  const verdict = combine('fairness', checks);
  const summary =
    verdict.status === 'passed' && skipped.length > 0
      ? `fairness: ${checks.length - skipped.length} checks passed, ${skipped.length} relative to the champion skipped: no champion (first model)`
      : verdict.summary;
  return { ...verdict, summary, groups: judged.map((c) => c.table) };
}
