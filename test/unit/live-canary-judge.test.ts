import { describe, expect, it } from 'vitest';
import { judgeCanary } from '../../src/live/canary-judge';
import { CanaryAnalysis } from '../../src/spec/schema';
import { snapshot, window } from './live-fixtures';

const analysis = CanaryAnalysis.parse({ minSamples: 50 });

function check(verdict: ReturnType<typeof judgeCanary>, name: string) {
  const c = verdict.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
}

describe('canary judge', () => {
  it('passes a healthy canary that matches stable', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 600, errors: 1, seed: 1 }),
        canary: window({ version: '2', requests: 400, errors: 0, seed: 2 }),
      }),
      analysis,
    );
    expect(v.gate).toBe('canary');
    expect(v.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'passed']);
    expect(v.status).toBe('passed');
  });

  it('fails a NaN-producing canary with 30% errors as soon as minSamples are in', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 50, seed: 3 }),
        canary: window({ version: '2', requests: 50, errors: 15, seed: 4 }),
      }),
      analysis,
    );
    const err = check(v, 'error rate increase');
    expect(err.status).toBe('failed');
    expect(err.value).toBeCloseTo(0.3);
    expect(err.evidence).toMatchObject({
      canary: { requests: 50, errors: 15 },
      stable: { requests: 50, errors: 0 },
    });
    expect(err.evidence?.pValue as number).toBeLessThan(0.001);
    expect(v.status).toBe('failed');
    expect(v.summary).toContain('error rate');
  });

  it('waits instead of failing when the error increase is above the margin but not significant', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 50, seed: 5 }),
        canary: window({ version: '2', requests: 50, errors: 3, seed: 6 }),
      }),
      analysis,
    );
    const err = check(v, 'error rate increase');
    expect(err.status).toBe('inconclusive');
    expect(err.message).toContain('not significant yet');
  });

  it('fails a canary three times slower than stable on latency', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 200, seed: 7 }),
        canary: window({ version: '2', requests: 200, latencyMs: 30, seed: 8 }),
      }),
      analysis,
    );
    const lat = check(v, 'latency increase');
    expect(lat.status).toBe('failed');
    expect(lat.value).toBeGreaterThan(2.5);
    expect(lat.evidence?.pValue as number).toBeLessThan(0.02);
    expect(v.status).toBe('failed');
  });

  it('does not fail a 5% slowdown even when it is highly significant', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 5000, latencySigma: 0.05, seed: 9 }),
        canary: window({ version: '2', requests: 5000, latencyMs: 10.5, latencySigma: 0.05, seed: 10 }),
      }),
      analysis,
    );
    const lat = check(v, 'latency increase');
    expect(lat.evidence?.pValue as number).toBeLessThan(1e-6);
    expect(lat.value).toBeGreaterThan(1.03);
    expect(lat.value).toBeLessThan(1.07);
    expect(lat.status).toBe('passed');
    expect(lat.message).toContain('too small to matter');
    expect(v.status).toBe('passed');
  });

  it('fails a canary whose score distribution shifted, on PSI backed by KS', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 300, seed: 11 }),
        canary: window({ version: '2', requests: 300, logitMean: 0.5, seed: 12 }),
      }),
      analysis,
    );
    const drift = check(v, 'prediction drift');
    expect(drift.status).toBe('failed');
    expect(drift.value).toBeGreaterThan(0.2);
    expect((drift.evidence?.ks as { pValue: number }).pValue).toBeLessThan(0.01);
    expect(v.status).toBe('failed');
  });

  it('uses fewer PSI bins on small windows, so a healthy canary at minSamples is not held back', () => {
    let passed = 0;
    for (let seed = 0; seed < 40; seed++) {
      const v = judgeCanary(
        snapshot({
          stable: window({ requests: 50, seed: 100 + 2 * seed }),
          canary: window({ version: '2', requests: 50, seed: 101 + 2 * seed }),
        }),
        analysis,
      );
      const drift = check(v, 'prediction drift');
      expect((drift.evidence?.bins as { count: number }).count).toBe(2);
      if (v.status === 'passed') passed += 1;
    }
    expect(passed).toBeGreaterThanOrEqual(34);
  });

  it('still catches a score shift at minSamples', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 50, seed: 18 }),
        canary: window({ version: '2', requests: 50, logitMean: 1, seed: 19 }),
      }),
      analysis,
    );
    expect(check(v, 'prediction drift').status).toBe('failed');
  });

  it('is inconclusive, never failed, with too few samples however bad they look', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 500, seed: 13 }),
        canary: window({ version: '2', requests: 12, errors: 6, latencyMs: 50, logitMean: 2, seed: 14 }),
      }),
      analysis,
    );
    expect(v.status).toBe('inconclusive');
    expect(v.checks.map((c) => c.status)).toEqual(['inconclusive', 'inconclusive', 'inconclusive']);
    expect(check(v, 'error rate increase').message).toContain('waiting for samples: canary 12/50');
  });

  it('is inconclusive when no canary traffic has arrived at all', () => {
    const v = judgeCanary(snapshot({ stable: window({ requests: 500, seed: 15 }) }), analysis);
    expect(v.status).toBe('inconclusive');
    expect(v.summary).toContain('canary 0/50');
  });

  it('keeps the verdict compact: no latency or score arrays in the evidence', () => {
    const v = judgeCanary(
      snapshot({
        stable: window({ requests: 5000, seed: 16 }),
        canary: window({ version: '2', requests: 5000, seed: 17 }),
      }),
      analysis,
    );
    expect(JSON.stringify(v).length).toBeLessThan(6000);
  });
});
