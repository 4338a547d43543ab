import { describe, expect, it } from 'vitest';
import { judgeFairness } from '../../src/gates/fairness';
import { FairnessGate } from '../../src/spec/gates-schema';
import { type GroupRates } from '../../src/stats/fairness';

/** Group a: 40 rows, 20 selected; group b: 40 rows, 8 selected; group c: 5 rows, none selected. */
function data(): { scores: number[]; labels: number[]; sensitive: Record<string, string[]> } {
  const scores: number[] = [];
  const labels: number[] = [];
  const group: string[] = [];
  const add = (g: string, n: number, selected: number): void => {
    for (let i = 0; i < n; i++) {
      scores.push(i < selected ? 0.8 : 0.2);
      labels.push(i % 2);
      group.push(g);
    }
  };
  add('a', 40, 20);
  add('b', 40, 8);
  add('c', 5, 0);
  return { scores, labels, sensitive: { region: group, everyone: group.map(() => 'all') } };
}

const gate = (spec: unknown): FairnessGate => FairnessGate.parse(spec);

describe('fairness gate', () => {
  it('passes when every metric is within bounds, ignoring groups below the minimum size', () => {
    const d = data();
    const v = judgeFairness({
      gate: gate({ minGroupSize: 30, checks: [{ metric: 'demographic_parity_difference', max: 0.4 }] }),
      ...d,
      sensitive: { region: d.sensitive.region! },
      threshold: 0.5,
    });
    expect(v.status).toBe('passed');
    const c = v.checks[0]!;
    expect(c.name).toBe('demographic_parity_difference[region]');
    expect(c.value).toBeCloseTo(0.5 - 0.2, 12); // c (selection 0) is excluded
    expect(c.message).toMatch(/not judged \(< 30 rows\): c/);
    const groups = (c.evidence as { groups: GroupRates[] }).groups;
    expect(groups.map((g) => [g.group, g.count, g.judged])).toEqual([
      ['a', 40, true],
      ['b', 40, true],
      ['c', 5, false],
    ]);
  });

  it('fails the four-fifths rule, naming metric, column and bound', () => {
    const d = data();
    const v = judgeFairness({
      gate: gate({ minGroupSize: 30, checks: [{ metric: 'demographic_parity_ratio', min: 0.8 }] }),
      ...d,
      sensitive: { region: d.sensitive.region! },
      threshold: 0.5,
    });
    expect(v.status).toBe('failed');
    expect(v.checks[0]).toMatchObject({
      metric: 'demographic_parity_ratio',
      threshold: 0.8,
      comparator: '>=',
      status: 'failed',
    });
    expect(v.checks[0]!.value).toBeCloseTo(0.4, 12);
    expect(v.checks[0]!.message).toMatch(
      /demographic_parity_ratio\[region\] = 0\.4 violates demographic_parity_ratio >= 0\.8/,
    );
  });

  it('makes one check per metric and column, inconclusive where fewer than two groups can be judged', () => {
    const v = judgeFairness({
      gate: gate({
        minGroupSize: 30,
        checks: [
          { metric: 'equalized_odds_difference', max: 1 },
          { metric: 'equal_opportunity_difference', max: 1 },
        ],
      }),
      ...data(),
      threshold: 0.5,
    });
    expect(v.checks.map((c) => [c.name, c.status])).toEqual([
      ['equalized_odds_difference[everyone]', 'inconclusive'],
      ['equalized_odds_difference[region]', 'passed'],
      ['equal_opportunity_difference[everyone]', 'inconclusive'],
      ['equal_opportunity_difference[region]', 'passed'],
    ]);
    expect(v.status).toBe('inconclusive');
    expect(v.checks[0]!.message).toMatch(/only 1 group/);
  });

  it('is inconclusive when no sensitive column is given', () => {
    const d = data();
    const v = judgeFairness({
      gate: gate({ checks: [{ metric: 'demographic_parity_ratio', min: 0.8 }] }),
      ...d,
      sensitive: {},
      threshold: 0.5,
    });
    expect(v.status).toBe('inconclusive');
  });

  it('fails every check when the candidate emits NaN scores', () => {
    const d = data();
    d.scores[0] = NaN;
    const v = judgeFairness({
      gate: gate({ checks: [{ metric: 'demographic_parity_ratio', min: 0.8 }] }),
      ...d,
      threshold: 0.5,
    });
    expect(v.status).toBe('failed');
    expect(v.checks).toHaveLength(2);
    expect(v.checks[0]!.message).toMatch(/1 NaN or infinite/);
  });
});
