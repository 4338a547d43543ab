import { describe, expect, it } from 'vitest';
import { sketchScores } from '../../src/evaluation/score-sketch';
import { judgeShadow } from '../../src/live/shadow-judge';
import { measureSkew, MIN_SKEW_SCORES, skewCheck } from '../../src/live/skew';
import { combine } from '../../src/promotion/verdict';
import { renderMarkdown, type PromotionReport } from '../../src/report/report';
import type { HoldoutScores, ScoreSketch } from '../../src/promotion/contracts';
import { seededRng } from '../../src/samples/rng';
import { Shadow, SkewLimits } from '../../src/spec/schema';
import { snapshot } from './live-fixtures';

const limits = SkewLimits.parse({});
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Scores sigmoid(a + b·N(0,1)) for `n` rows: a model's score distribution on some population. */
function scores(n: number, seed: number, a = -1, b = 1.5): number[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, () => sigmoid(a + b * rng.normal()));
}

function sketch(values: readonly number[]): ScoreSketch {
  const s = sketchScores(values);
  if (!s) throw new Error('no sketch');
  return s;
}

function reference(): HoldoutScores {
  return {
    datasetSha256: 'abc',
    candidate: sketch(scores(2000, 1, -1, 2.5)),
    champion: sketch(scores(2000, 2, -1, 1.2)),
  };
}

describe('holdout score sketch', () => {
  it('holds decile edges and the holdout share of each bin, non-finite scores left out', () => {
    const values = [...Array.from({ length: 100 }, (_, i) => i / 100), NaN, Infinity];
    const s = sketch(values);
    expect(s.rows).toBe(100);
    expect(s.edges).toHaveLength(9);
    // numpy.quantile(np.arange(100)/100, 0.1) = 0.099
    expect(s.edges[0]).toBeCloseTo(0.099, 12);
    expect(s.shares).toHaveLength(10);
    expect(s.shares.every((x) => Math.abs(x - 0.1) < 1e-12)).toBe(true);
  });

  it('merges tied deciles, so a model with two distinct scores has two bins', () => {
    const s = sketch([...Array<number>(75).fill(0.2), ...Array<number>(25).fill(0.9)]);
    expect(s.edges).toEqual([0.2, 0.9]);
    expect(s.shares).toEqual([0.75, 0.25, 0]);
  });

  it('has no sketch without a finite score', () => {
    expect(sketchScores([NaN, NaN])).toBeNull();
    expect(sketchScores([])).toBeNull();
  });
});

describe('train/serve skew', () => {
  it('computes PSI against each model’s own holdout bins', () => {
    // Candidate holdout: bins (−∞,0.5], (0.5,∞) with shares 0.5/0.5; live 0.8/0.2.
    const ref: HoldoutScores = {
      datasetSha256: 'x',
      candidate: { rows: 4, edges: [0.5], shares: [0.5, 0.5] },
      champion: { rows: 4, edges: [0.5], shares: [0.5, 0.5] },
    };
    const live = [...Array<number>(8).fill(0.1), ...Array<number>(2).fill(0.9)];
    const m = measureSkew(ref, live, [0.1, 0.9], limits);
    const expected = (0.8 - 0.5) * Math.log(0.8 / 0.5) + (0.2 - 0.5) * Math.log(0.2 / 0.5);
    expect(m.psiCandidate).toBeCloseTo(expected, 12);
    expect(m.psiChampion).toBeCloseTo(0, 12);
    expect(m.excess).toBeCloseTo(expected, 12);
  });

  it('passes when live traffic looks like the holdout for both models', () => {
    const c = skewCheck({
      reference: reference(),
      candidate: scores(400, 11, -1, 2.5),
      champion: scores(400, 12, -1, 1.2),
      limits,
      role: 'shadow',
    });
    expect(c.status, c.message).toBe('passed');
    expect(c.name).toBe('train/serve skew');
    expect(c.metric).toMatch(/candidate holdout scores.*champion holdout scores/);
    expect(c.evidence?.['psiCandidateVsOwnHoldout']).toBeLessThan(0.1);
  });

  it('fails when the candidate moved and the champion did not (a feature it relies on arrives rescaled)', () => {
    // The candidate's logit is dominated by a feature now sent in other units: its scores saturate.
    const c = skewCheck({
      reference: reference(),
      candidate: scores(400, 11, 3, 2.5),
      champion: scores(400, 12, -1, 1.2),
      limits,
      role: 'shadow',
    });
    expect(c.status).toBe('failed');
    expect(c.message).toMatch(/candidate moved and the population did not/);
    expect(c.evidence?.['psiCandidateVsOwnHoldout']).toBeGreaterThan(1);
    expect(c.evidence?.['psiChampionVsOwnHoldout']).toBeLessThan(0.1);
  });

  it('passes a population shift that moves both models alike, and says so', () => {
    const c = skewCheck({
      reference: reference(),
      candidate: scores(400, 11, 0.5, 2.5),
      champion: scores(400, 12, 0.3, 1.2),
      limits,
      role: 'canary',
    });
    expect(c.evidence?.['psiCandidateVsOwnHoldout']).toBeGreaterThan(limits.maxPsiVsOwnHoldout);
    expect(c.status, c.message).toBe('passed');
    expect(c.message).toMatch(/population shift/);
  });

  it('passes a candidate shift below maxPsiVsOwnHoldout even when the champion did not move', () => {
    const c = skewCheck({
      reference: reference(),
      candidate: scores(400, 11, -1, 2.5),
      champion: scores(400, 12, -1, 1.2),
      limits: { maxPsiVsOwnHoldout: 0.25, maxExcessOverChampion: 0 },
      role: 'shadow',
    });
    expect(c.status).toBe('passed');
  });

  it('thins the larger side to the smaller one’s count, so both PSIs carry the same small-sample bias', () => {
    // A 10 % canary: few candidate scores against many of the champion, nothing moved. Unthinned, the
    // candidate's PSI would carry ~9/100 of bias and the champion's ~9/900, an excess from noise alone.
    const ref = reference();
    const outcomes = Array.from({ length: 200 }, (_, i) =>
      skewCheck({
        reference: ref,
        candidate: scores(MIN_SKEW_SCORES, 100 + i, -1, 2.5),
        champion: scores(9 * MIN_SKEW_SCORES, 500 + i, -1, 1.2),
        limits,
        role: 'canary',
      }),
    );
    expect(outcomes[0]?.evidence?.['comparedPerSide']).toBe(MIN_SKEW_SCORES);
    expect(outcomes[0]?.evidence?.['liveChampion']).toBe(9 * MIN_SKEW_SCORES);
    // Thinned, the excess is centred on 0; unthinned it would average ≈ 0.09 here.
    const meanExcess = outcomes.reduce((a, c) => a + (c.value ?? NaN), 0) / outcomes.length;
    expect(Math.abs(meanExcess)).toBeLessThan(0.03);
    expect(outcomes.filter((c) => c.status === 'failed').length).toBe(0);
  });

  it(`waits for ${MIN_SKEW_SCORES} finite live scores a side`, () => {
    const c = skewCheck({
      reference: reference(),
      candidate: [...scores(MIN_SKEW_SCORES - 1, 3), NaN],
      champion: scores(400, 4),
      limits,
      role: 'shadow',
    });
    expect(c.status).toBe('inconclusive');
    expect(c.message).toContain(`shadow ${MIN_SKEW_SCORES - 1}/${MIN_SKEW_SCORES}`);
  });
});

describe('shadow judge with a holdout reference', () => {
  const shadow = Shadow.parse({ minRequests: 100, minDuration: '10s', maxDuration: '2m' });

  function stats(candidate: number[], champion: number[], agreements: number) {
    const w = (version: string, s: number[]) => ({
      version,
      requests: s.length,
      errors: 0,
      latencyMs: s.map(() => 5),
      scores: s,
    });
    return snapshot(
      { stable: w('1', champion), shadow: w('2', candidate) },
      { pairs: candidate.length, observedPairs: candidate.length, agreements },
    );
  }

  it('defaults pass a better model of another family: it scores differently from the champion but like its own holdout', () => {
    expect(shadow.checks.maxPsi).toBeUndefined();
    expect(shadow.checks.minAgreement).toBe(0.7);
    const r = judgeShadow(stats(scores(300, 21, -1, 2.5), scores(300, 22, -1, 1.2), 270), shadow, 11_000, {
      reference: reference(),
    });
    expect(r.ready).toBe(true);
    expect(r.verdict.checks.map((c) => [c.name, c.status])).toEqual([
      ['train/serve skew', 'passed'],
      ['agreement', 'passed'],
      ['shadow error rate', 'passed'],
    ]);
  });

  it('fails a skewed candidate at readiness with the skew check, in both analysis modes', () => {
    const s = stats(scores(300, 21, 3, 2.5), scores(300, 22, -1, 1.2), 240);
    for (const mode of ['point', 'sequential'] as const) {
      const early = judgeShadow(s, shadow, 5_000, { reference: reference(), mode });
      expect(early.verdict.checks.some((c) => c.name === 'train/serve skew')).toBe(false);
      const r = judgeShadow(s, shadow, 11_000, { reference: reference(), mode });
      expect(r.verdict.status, mode).toBe('failed');
      expect(r.verdict.checks.find((c) => c.name === 'train/serve skew')?.status).toBe('failed');
    }
  });

  it('judges no skew without a reference, or with a spec parsed before skew existed', () => {
    const s = stats(scores(300, 21, 3, 2.5), scores(300, 22, -1, 1.2), 240);
    expect(judgeShadow(s, shadow, 11_000).verdict.checks.map((c) => c.name)).not.toContain(
      'train/serve skew',
    );
    const { skew: _gone, ...oldChecks } = shadow.checks;
    const old = { ...shadow, checks: oldChecks } as unknown as Shadow;
    const r = judgeShadow(s, old, 11_000, { reference: reference() });
    expect(r.verdict.checks.map((c) => c.name)).not.toContain('train/serve skew');
  });

  it('keeps an explicit maxPsi against the champion, as specs written before skew asked', () => {
    const strict = Shadow.parse({ minRequests: 100, minDuration: '10s', checks: { maxPsi: 0.2 } });
    const r = judgeShadow(stats(scores(300, 21, -1, 2.5), scores(300, 22, -1, 1.2), 270), strict, 11_000, {
      reference: reference(),
    });
    const psi = r.verdict.checks.find((c) => c.name === 'score psi');
    expect(psi?.metric).toMatch(/champion's live scores, candidate's live scores/);
    expect(psi?.status).toBe('failed');
  });
});

describe('the report says what each shadow check compares', () => {
  it('has a compares column with the check’s metric', () => {
    const check = skewCheck({
      reference: reference(),
      candidate: scores(400, 11, 3, 2.5),
      champion: scores(400, 12, -1, 1.2),
      limits,
      role: 'shadow',
    });
    const md = renderMarkdown({
      kind: 'prograde/promotion-report',
      schemaVersion: 1,
      model: 'm',
      candidateVersion: '2',
      championVersion: '1',
      outcome: 'rolled-back',
      reason: 'shadow failed',
      workflowId: 'w',
      workflowRunId: 'r',
      attempt: 1,
      earlierAttempts: [],
      spec: { file: 'promotion.yaml', sha256: 'x' },
      requestedBy: 'vitest',
      approval: { required: false },
      gates: [combine('shadow', [check])],
      audit: [],
    } as unknown as PromotionReport);
    expect(md).toContain('| | check | compares | value |');
    expect(md).toContain(
      '| ❌ | train/serve skew | PSI(candidate holdout scores, shadow live scores) − PSI(champion holdout scores, stable live scores) |',
    );
  });
});
