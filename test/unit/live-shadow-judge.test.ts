import { describe, expect, it } from 'vitest';
import { judgeShadow } from '../../src/live/shadow-judge';
import { Shadow } from '../../src/spec/schema';
import { snapshot, window } from './live-fixtures';

const shadow = Shadow.parse({
  minRequests: 200,
  minDuration: '30s',
  maxDuration: '5m',
  checks: { minAgreement: 0.95, maxPsi: 0.2, maxKsStatistic: 0.2, maxErrorRate: 0.01, maxLatencyRatio: 1.5 },
});

const healthyAgreement = {
  pairs: 300,
  observedPairs: 300,
  agreements: 297,
  meanAbsDiff: 0.01,
  maxAbsDiff: 0.08,
};

function healthy(requests = 300) {
  return snapshot(
    {
      stable: window({ requests, seed: 1 }),
      shadow: window({ version: '2', requests, seed: 2 }),
    },
    { ...healthyAgreement, pairs: requests, observedPairs: requests },
  );
}

describe('shadow judge', () => {
  it('is not ready before minRequests mirrored requests, and says how many are missing', () => {
    const r = judgeShadow(healthy(120), shadow, 60_000);
    expect(r.ready).toBe(false);
    expect(r.verdict.status).toBe('inconclusive');
    expect(r.verdict.gate).toBe('shadow');
    expect(r.verdict.summary).toContain('80 more mirrored requests');
  });

  it('is not ready before minDuration, even with enough requests', () => {
    const r = judgeShadow(healthy(300), shadow, 12_000);
    expect(r.ready).toBe(false);
    expect(r.verdict.status).toBe('inconclusive');
    expect(r.verdict.summary).toContain('18s more');
  });

  it('passes a healthy shadow once ready, with evidence on every check', () => {
    const r = judgeShadow(healthy(300), shadow, 31_000);
    expect(r.ready).toBe(true);
    expect(r.verdict.checks.map((c) => [c.name, c.status])).toEqual([
      ['agreement', 'passed'],
      ['score psi', 'passed'],
      ['score ks', 'passed'],
      ['shadow error rate', 'passed'],
      ['shadow latency ratio', 'passed'],
    ]);
    for (const c of r.verdict.checks) {
      expect(c.threshold).toBeTypeOf('number');
      expect(c.value).toBeTypeOf('number');
      expect(c.sampleSize).toBeGreaterThan(0);
    }
    expect(r.verdict.status).toBe('passed');
  });

  it('fails on error rate and agreement when the shadow emits NaN', () => {
    const s = snapshot(
      {
        stable: window({ requests: 300, seed: 3 }),
        shadow: window({ version: '2', requests: 300, errors: 90, seed: 4 }),
      },
      { pairs: 300, observedPairs: 300, agreements: 208, nanCount: 90, meanAbsDiff: 0.01, maxAbsDiff: 0.05 },
    );
    const r = judgeShadow(s, shadow, 40_000);
    const byName = Object.fromEntries(r.verdict.checks.map((c) => [c.name, c]));
    expect(byName['shadow error rate']?.status).toBe('failed');
    expect(byName['shadow error rate']?.value).toBeCloseTo(0.3);
    expect(byName.agreement?.status).toBe('failed');
    expect(byName.agreement?.evidence).toMatchObject({ nonFiniteRows: 90, comparedRows: 300 });
    expect(r.verdict.status).toBe('failed');
  });

  it('fails on PSI when the shadow scores shifted', () => {
    const s = snapshot(
      {
        stable: window({ requests: 300, seed: 5 }),
        shadow: window({ version: '2', requests: 300, logitMean: 0.5, seed: 6 }),
      },
      healthyAgreement,
    );
    const r = judgeShadow(s, shadow, 40_000);
    expect(r.verdict.checks.find((c) => c.name === 'score psi')?.status).toBe('failed');
    expect(r.verdict.status).toBe('failed');
  });

  it('fails on p95 latency ratio when the shadow is much slower', () => {
    const s = snapshot(
      {
        stable: window({ requests: 300, seed: 7 }),
        shadow: window({ version: '2', requests: 300, latencyMs: 25, seed: 8 }),
      },
      healthyAgreement,
    );
    const r = judgeShadow(s, shadow, 40_000);
    expect(r.verdict.checks.find((c) => c.name === 'shadow latency ratio')?.status).toBe('failed');
  });

  it('declares a clear failure before readiness once errors exceed the whole minimum window budget', () => {
    // 200 requests at 1 % allow 2 errors; 3 errors cannot be diluted below 1 % by the first judgement.
    const s = snapshot({
      stable: window({ requests: 40, seed: 9 }),
      shadow: window({ version: '2', requests: 40, errors: 3, seed: 10 }),
    });
    const r = judgeShadow(s, shadow, 5_000);
    expect(r.ready).toBe(false);
    expect(r.verdict.status).toBe('failed');
    expect(r.verdict.checks[0]?.evidence).toMatchObject({ early: true, errors: 3 });
  });

  it('does not fail early on errors within the minimum window budget', () => {
    const s = snapshot({
      stable: window({ requests: 40, seed: 11 }),
      shadow: window({ version: '2', requests: 40, errors: 2, seed: 12 }),
    });
    expect(judgeShadow(s, shadow, 5_000).verdict.status).toBe('inconclusive');
  });

  it('fails when minRequests is still not reached at maxDuration', () => {
    const r = judgeShadow(healthy(150), shadow, 300_000);
    expect(r.ready).toBe(false);
    expect(r.verdict.status).toBe('failed');
    expect(r.verdict.summary).toContain('150/200');
  });
});

describe('shadow judge, sequential mode', () => {
  const sequential = { mode: 'sequential' as const, alpha: 0.05 };
  const big = (
    requests: number,
    agreements: number,
    shadowShape: Partial<Parameters<typeof window>[0]> = {},
  ) =>
    snapshot(
      {
        stable: window({ requests, seed: 51 }),
        shadow: window({ version: '2', requests, seed: 51, ...shadowShape }),
      },
      { ...healthyAgreement, pairs: requests, observedPairs: requests, agreements },
    );

  it('passes a healthy shadow once every limit is shown to hold, with e-values in the evidence', () => {
    const r = judgeShadow(big(4000, 3990), shadow, 31_000, sequential);
    expect(r.ready).toBe(true);
    expect(r.verdict.checks.map((c) => [c.name, c.status])).toEqual([
      ['agreement', 'passed'],
      ['score psi', 'passed'],
      ['score ks', 'passed'],
      ['shadow error rate', 'passed'],
      ['shadow latency ratio', 'passed'],
    ]);
    const agreement = r.verdict.checks.find((c) => c.name === 'agreement');
    expect(agreement?.evidence?.eValueHolds as number).toBeGreaterThanOrEqual(20);
  });

  it('stays inconclusive when ready but the evidence is still thin, instead of passing on a point estimate', () => {
    const r = judgeShadow(big(300, 293), shadow, 31_000, sequential);
    expect(r.ready).toBe(true);
    const agreement = r.verdict.checks.find((c) => c.name === 'agreement');
    expect(agreement?.value).toBeGreaterThan(0.95);
    expect(agreement?.status).toBe('inconclusive');
    expect(r.verdict.status).toBe('inconclusive');
  });

  it('fails a broken shadow before it is ready, as soon as the errors show it', () => {
    const r = judgeShadow(big(100, 100, { errors: 20 }), shadow, 5_000, sequential);
    expect(r.ready).toBe(false);
    expect(r.verdict.status).toBe('failed');
    expect(r.verdict.checks.find((c) => c.name === 'shadow error rate')?.status).toBe('failed');
  });

  it('fails a shadow that disagrees too often, and one three times slower at p95', () => {
    const disagree = judgeShadow(big(1000, 800), shadow, 31_000, sequential);
    expect(disagree.verdict.checks.find((c) => c.name === 'agreement')?.status).toBe('failed');
    const slow = judgeShadow(big(1000, 1000, { latencyMs: 30 }), shadow, 31_000, sequential);
    expect(slow.verdict.checks.find((c) => c.name === 'shadow latency ratio')?.status).toBe('failed');
  });

  it('keeps the point mode as the default', () => {
    const s = healthy(300);
    expect(judgeShadow(s, shadow, 31_000)).toEqual(judgeShadow(s, shadow, 31_000, { mode: 'point' }));
    expect(judgeShadow(s, shadow, 31_000).verdict.status).toBe('passed');
  });
});

describe('shadow latency limit: a ratio or an absolute allowance, whichever is larger', () => {
  const withChecks = (checks: Record<string, number>) =>
    Shadow.parse({ minRequests: 200, minDuration: '30s', maxDuration: '5m', checks });
  const latency = (stableMs: number, shadowMs: number, requests = 2000) =>
    snapshot(
      {
        stable: window({ requests, latencyMs: stableMs, seed: 61 }),
        shadow: window({ version: '2', requests, latencyMs: shadowMs, seed: 62 }),
      },
      { ...healthyAgreement, pairs: requests, observedPairs: requests, agreements: requests },
    );
  const check = (s: ReturnType<typeof latency>, spec: Shadow, mode: 'point' | 'sequential') =>
    judgeShadow(s, spec, 31_000, { mode, alpha: 0.05 }).verdict.checks.find(
      (c) => c.name === 'shadow latency ratio',
    );

  for (const mode of ['point', 'sequential'] as const) {
    it(`${mode}: passes a shadow three times slower at 0.1 ms, within the default 0.5 ms allowance`, () => {
      const c = check(latency(0.1, 0.3), withChecks({ maxLatencyRatio: 1.5 }), mode);
      expect(c?.status).toBe('passed');
      expect(c?.value).toBeGreaterThan(2.5);
      expect(c?.threshold).toBeGreaterThan(c?.value as number);
      expect(c?.evidence).toMatchObject({ maxRatio: 1.5, allowanceMs: 0.5 });
      expect(c?.message).toContain('1.5× or +0.5ms, whichever is larger');
    });

    it(`${mode}: fails the same shadow with the allowance set to 0 (a pure ratio)`, () => {
      const c = check(latency(0.1, 0.3), withChecks({ maxLatencyRatio: 1.5, maxLatencyIncreaseMs: 0 }), mode);
      expect(c?.status).toBe('failed');
      expect(c?.message).toContain('above 1.5×');
    });

    it(`${mode}: with an allowance alone, judges p95 against the stable's plus it`, () => {
      const spec = withChecks({ maxLatencyIncreaseMs: 5 });
      expect(check(latency(10, 25), spec, mode)?.status).toBe('failed');
      expect(check(latency(10, 10.5), spec, mode)?.status).toBe('passed');
      expect(check(latency(10, 25), spec, mode)?.message).toContain('+5ms');
    });
  }

  it('has no latency check when neither limit is set, and refuses a negative or unbounded allowance', () => {
    expect(check(latency(0.1, 0.3), withChecks({}), 'point')).toBeUndefined();
    for (const bad of [-1, Infinity, Number.NaN, 1e9])
      expect(Shadow.safeParse({ checks: { maxLatencyIncreaseMs: bad } }).success).toBe(false);
  });
});
