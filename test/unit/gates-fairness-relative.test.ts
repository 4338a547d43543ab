import { describe, expect, it } from 'vitest';
import { judgeFairness, type FairnessInput } from '../../src/gates/fairness';
import { FairnessGate } from '../../src/spec/gates-schema';
import { fairnessBootstrap } from '../../src/stats/fairness-bootstrap';
import { createRng } from '../../src/stats/rng';
import { renderFairnessGroups } from '../../src/report/fairness-groups';

/**
 * Data where the absolute four-fifths rule is out of reach: group a's base rate is about 0.33, group
 * b's 0.98. `f0` carries the label, `proxy` the group (no signal about the label), `noise` nothing.
 */
function skewedData(n = 1600, seed = 5) {
  const rng = createRng(seed);
  const labels: number[] = [];
  const group: string[] = [];
  const f0: number[] = [];
  const proxy: number[] = [];
  const noise: number[] = [];
  for (let i = 0; i < n; i++) {
    const g = rng.uniform() < 0.5 ? 'a' : 'b';
    const y = rng.uniform() < (g === 'a' ? 0.33 : 0.98) ? 1 : 0;
    group.push(g);
    labels.push(y);
    f0.push(rng.normal(y === 1 ? 1.5 : -1.5, 1));
    proxy.push(rng.normal(g === 'a' ? 1.5 : -1.5, 0.5));
    noise.push(rng.normal());
  }
  const model = (w0: number, wProxy: number, wNoise = 0): Float64Array =>
    Float64Array.from(f0, (x, i) => 1 / (1 + Math.exp(-(w0 * x + wProxy * proxy[i]! + wNoise * noise[i]!))));
  // asFair decides differently from the champion on some rows of both groups, at random.
  return { labels, group, champion: model(2, 0), lessFair: model(2, -1), asFair: model(2, 0, 0.3) };
}

const d = skewedData();
const gate = (spec: unknown): FairnessGate => FairnessGate.parse(spec);
const relativeGate = gate({
  checks: [
    { metric: 'demographic_parity_ratio', maxDropVsChampion: 0.02, confidence: 0.95 },
    { metric: 'equalized_odds_difference', maxRiseVsChampion: 0.05 },
  ],
});
const judge = ({ noChampion, ...over }: Partial<FairnessInput> & { noChampion?: boolean }) =>
  judgeFairness({
    gate: relativeGate,
    scores: d.lessFair,
    labels: d.labels,
    threshold: 0.5,
    sensitive: { group: d.group },
    seed: 42,
    resamples: 400,
    ...(noChampion ? {} : { champion: d.champion }),
    ...over,
  });

describe('fairness gate – relative to the champion', () => {
  it('rejects a less fair candidate, naming the metric, the CI and the margin', () => {
    const v = judge({});
    expect(v.status).toBe('failed');
    const dp = v.checks[0]!;
    expect(dp).toMatchObject({ status: 'failed', metric: 'demographic_parity_ratio', threshold: -0.02 });
    expect(dp.name).toBe('demographic_parity_ratio[group] drop vs champion <= 0.02');
    expect(dp.interval?.confidence).toBe(0.95);
    expect(dp.interval!.lower).toBeLessThan(-0.02);
    expect(dp.value).toBeLessThan(-0.05);
    expect(dp.message).toMatch(
      /^demographic_parity_ratio\[group\] may be less fair than the champion by more than the margin 0\.02 \(higher is fairer\): candidate [\d.]+ vs champion [\d.]+, Δ = -[\d.]+, 95% CI -[\d.]+…-[\d.]+; the lower bound -[\d.]+ is below -0\.02$/,
    );
    const eo = v.checks[1]!;
    expect(eo).toMatchObject({ status: 'failed', comparator: '<=', threshold: 0.05 });
    expect(eo.message).toMatch(/lower is fairer.*the upper bound [\d.]+ is above 0\.05/);
  });

  it('passes a candidate as fair as the champion, though neither meets the four-fifths rule', () => {
    const v = judgeFairness({
      gate: gate({
        checks: [
          ...relativeGate.checks,
          { metric: 'demographic_parity_ratio', min: 0.8 }, // out of reach: the note says why
        ],
      }),
      scores: d.asFair,
      champion: d.champion,
      labels: d.labels,
      threshold: 0.5,
      sensitive: { group: d.group },
    });
    expect(v.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'failed']);
    expect(v.checks[0]!.message).toMatch(/within the allowed drop of 0\.02 vs the champion/);
    expect(v.checks[2]!.message).toMatch(
      /even a perfect classifier scores 0\.3\d+ here \(base rates a 0\.3\d+, b 0\.9\d+\)/,
    );
  });

  it('reports every group’s size and base rate, both models’ rates, and what a perfect classifier scores', () => {
    const [table] = judge({}).groups ?? [];
    expect(table?.column).toBe('group');
    const [a, b] = table!.groups;
    const count = (g: string) => d.group.filter((x) => x === g).length;
    const positives = (g: string) => d.group.filter((x, i) => x === g && d.labels[i] === 1).length;
    expect(a).toMatchObject({ group: 'a', rows: count('a'), positives: positives('a'), judged: true });
    expect(a!.baseRate).toBeCloseTo(positives('a') / count('a'), 12);
    expect(a!.baseRate).toBeGreaterThan(0.28);
    expect(a!.baseRate).toBeLessThan(0.38);
    expect(b!.baseRate).toBeGreaterThan(0.95);
    expect(a!.champion?.selectionRate).toBeGreaterThan(a!.candidate.selectionRate);
    expect(table!.perfectClassifier?.demographicParityRatio).toBeCloseTo(a!.baseRate / b!.baseRate, 12);
  });

  it('is deterministic for a seed, and the interval depends on the seed only through resampling', () => {
    const one = judge({}).checks[0]!;
    expect(judge({}).checks[0]!.interval).toEqual(one.interval);
    const other = judge({ seed: 43 }).checks[0]!;
    expect(other.interval).not.toEqual(one.interval);
    expect(other.value).toBe(one.value);
    expect(Math.abs(other.interval!.lower - one.interval!.lower)).toBeLessThan(0.02);
  });

  it('gives the champion itself Δ = 0 in every resample, and widens the interval with the confidence', () => {
    const self = judge({
      scores: d.champion,
      gate: gate({ checks: [{ metric: 'demographic_parity_ratio', maxDropVsChampion: 0 }] }),
    });
    expect(self.status).toBe('passed');
    expect(self.checks[0]!.interval).toMatchObject({ lower: 0, upper: 0 });
    const width = (confidence: number) => {
      const c = judge({
        scores: d.asFair,
        gate: gate({ checks: [{ metric: 'demographic_parity_ratio', maxDropVsChampion: 0.02, confidence }] }),
      }).checks[0]!.interval!;
      return c.upper - c.lower;
    };
    expect(width(0.99)).toBeGreaterThan(width(0.8));
  });

  it('widens the lenient end where the champion is at parity (its TPRs are equal by construction)', () => {
    // A percentile interval of Δ sits too low there: the champion's spread is |noise| > 0.
    const v = judge({
      gate: gate({ checks: [{ metric: 'equal_opportunity_difference', maxRiseVsChampion: 0.05 }] }),
    });
    const e = v.checks[0]!.evidence as {
      ci: { upper: number };
      percentileCi: { upper: number };
      contrasts: number;
    };
    expect(e.contrasts).toBe(2);
    expect(e.ci.upper).toBeGreaterThan(e.percentileCi.upper);
    expect(v.checks[0]!.interval?.upper).toBe(e.ci.upper);
  });

  it('skips a relative check without a champion, saying so, and fails it when the spec asks', () => {
    const v = judge({ noChampion: true });
    expect(v.status).toBe('passed');
    expect(v.checks[0]!.message).toMatch(/no champion \(first model\): comparison skipped/);
    expect(v.summary).toMatch(/2 relative to the champion skipped: no champion/);
    expect(v.groups?.[0]?.groups[0]?.champion).toBeUndefined();
    const strict = judge({ noChampion: true, gate: { ...relativeGate, withoutChampion: 'fail' } });
    expect(strict.status).toBe('failed');
    expect(strict.checks[0]!.message).toMatch(/no champion to compare with.*withoutChampion: fail/);
  });

  it('fails on a NaN candidate score and is inconclusive on a NaN champion score', () => {
    const nanCandidate = Float64Array.from(d.lessFair);
    nanCandidate[3] = NaN;
    expect(judge({ scores: nanCandidate }).status).toBe('failed');
    const nanChampion = Float64Array.from(d.champion);
    nanChampion[3] = NaN;
    const v = judge({ scores: d.asFair, champion: nanChampion });
    expect(v.status).toBe('inconclusive');
    expect(v.checks[0]!.message).toMatch(/champion scores.*NaN/);
  });

  it('is inconclusive when fewer than two groups reach the minimum size', () => {
    const v = judge({ gate: { ...relativeGate, minGroupSize: 100_000 } });
    expect(v.status).toBe('inconclusive');
    expect(v.checks[0]!.message).toMatch(/only 0 group\(s\) reach the minimum size/);
  });

  it('skips resamples in which a judged group has no weight, and says so when there are too many', () => {
    // Group c has one row: judged (minGroupSize 1) but weightless in ≈ e⁻¹ of the resamples.
    const labels = [...d.labels, 1];
    const group = [...d.group, 'c'];
    const b = fairnessBootstrap({
      metrics: ['demographic_parity_difference'],
      candidate: [...d.lessFair, 0.9],
      champion: [...d.champion, 0.9],
      labels,
      threshold: 0.5,
      groupOf: group,
      minGroupSize: 1,
      seed: 1,
      resamples: 400,
    });
    const o = b.outcomes.get('demographic_parity_difference')!;
    if (!('distribution' in o)) throw new Error('expected a distribution');
    expect(o.distribution.skipped / 400).toBeGreaterThan(0.25);
    expect(o.distribution.skipped / 400).toBeLessThan(0.5);
    const v = judgeFairness({
      gate: gate({
        minGroupSize: 1,
        checks: [{ metric: 'demographic_parity_difference', maxRiseVsChampion: 1 }],
      }),
      scores: [...d.lessFair, 0.9],
      champion: [...d.champion, 0.9],
      labels,
      threshold: 0.5,
      sensitive: { group },
      resamples: 400,
    });
    expect(v.checks[0]!.status).toBe('inconclusive');
    expect(v.checks[0]!.message).toMatch(/no value in \d+ of 400 bootstrap resamples/);
  });
});

describe('fairness gate spec – relative checks', () => {
  const problem = (check: unknown): string => {
    const r = FairnessGate.safeParse({ checks: [check] });
    return r.success ? '' : r.error.issues.map((i) => i.message).join('; ');
  };
  it('accepts the drop for the ratio and the rise for the differences', () => {
    expect(problem({ metric: 'demographic_parity_ratio', maxDropVsChampion: 0.02, confidence: 0.9 })).toBe(
      '',
    );
    expect(problem({ metric: 'equal_opportunity_difference', maxRiseVsChampion: 0.02 })).toBe('');
  });
  it('says which key fits when the direction is wrong, and refuses mixed or empty checks', () => {
    expect(problem({ metric: 'equalized_odds_difference', maxDropVsChampion: 0.02 })).toBe(
      'equalized_odds_difference is fairer when lower: use maxRiseVsChampion',
    );
    expect(problem({ metric: 'demographic_parity_ratio', maxRiseVsChampion: 0.02 })).toBe(
      'demographic_parity_ratio is fairer when higher: use maxDropVsChampion',
    );
    expect(problem({ metric: 'demographic_parity_ratio', maxDropVsChampion: 0.02, min: 0.5 })).toMatch(
      /not both: write two checks/,
    );
    expect(problem({ metric: 'demographic_parity_ratio', min: 0.8, confidence: 0.9 })).toMatch(
      /confidence applies to checks relative to the champion only/,
    );
    expect(problem({ metric: 'demographic_parity_ratio' })).toMatch(/give min, max, or both/);
    expect(problem({ metric: 'demographic_parity_ratio', maxDropVsChampion: -0.1 })).not.toBe('');
  });
});

describe('fairness groups in the report', () => {
  it('renders each group’s size and base rate beside both models’ rates', () => {
    const lines = renderFairnessGroups(judge({}).groups ?? []);
    expect(lines).toContain('### Groups of `group`');
    expect(lines.join('\n')).toMatch(/A perfect classifier .* demographic_parity_ratio 0\.3\d\d/);
    expect(lines).toContain(
      '| group | rows | positives | base rate | selection rate | TPR | FPR | champion selection rate | champion TPR | champion FPR |',
    );
    const a = lines.find((l) => l.startsWith('| a |'));
    expect(a?.split('|').map((c) => c.trim())[2]).toBe(String(d.group.filter((g) => g === 'a').length));
  });
});
