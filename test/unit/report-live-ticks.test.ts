import { describe, expect, it } from 'vitest';
import { appendTick, MAX_TICKS, resumedTicks, tickOf } from '../../src/live/timeline';
import type { StatsSnapshot } from '../../src/promotion/stats-snapshot';
import type { LiveTick } from '../../src/promotion/verdict';

const window = (requests: number, errors: number, latency: number[]) => ({
  version: '2',
  requests,
  errors,
  latencyMs: latency,
  scores: [],
});

const stats: StatsSnapshot = {
  model: 'm',
  generation: 3,
  variants: { stable: window(200, 2, [1, 2, 3, 4, 100]), canary: window(50, 5, [2, 3, 4]) },
  shadowComparison: {
    pairs: 0,
    observedPairs: 40,
    agreements: 38,
    threshold: 0.1,
    meanAbsDiff: null,
    maxAbsDiff: null,
    nanCount: 0,
  },
  windowStartMs: 0,
  windowEndMs: 1000,
};

const point = (tick: number): LiveTick => ({
  at: tick * 1000,
  tick,
  status: 'passed',
  variants: {},
  checks: {},
});

describe('live ticks – what each judgement saw, kept bounded', () => {
  it('records error rate and latency per variant, the agreement and every check value', () => {
    const t = tickOf(
      stats,
      {
        gate: 'canary',
        status: 'inconclusive',
        summary: '',
        checks: [{ name: 'psi', status: 'passed', metric: 'psi', value: 0.03, message: '' }],
      },
      5000,
      4,
    );
    expect(t).toMatchObject({
      at: 5000,
      tick: 4,
      status: 'inconclusive',
      agreement: 0.95,
      checks: { psi: 0.03 },
    });
    expect(t.variants.stable).toMatchObject({ n: 200, errorRate: 0.01, p50: 3 });
    expect(t.variants.canary?.errorRate).toBe(0.1);
    expect(t.variants.shadow).toBeUndefined();
  });

  it('thins evenly past the limit and always keeps the newest judgement', () => {
    let ticks: LiveTick[] = [];
    for (let k = 1; k <= 1000; k++) ticks = appendTick(ticks, point(k));
    expect(ticks.length).toBeLessThanOrEqual(MAX_TICKS);
    expect(ticks.length).toBeGreaterThan(MAX_TICKS / 2);
    expect(ticks.at(-1)?.tick).toBe(1000);
    expect(ticks[0]?.tick).toBeLessThan(100);
    const gaps = ticks.slice(1).map((t, i) => t.tick - (ticks[i]?.tick ?? 0));
    expect(Math.max(...gaps.slice(0, -1)) / Math.min(...gaps.slice(0, -1))).toBeLessThanOrEqual(2);
  });

  it('keeps the ticks of a previous attempt from its heartbeat, and drops malformed ones', () => {
    expect(resumedTicks([point(1), point(2)])).toHaveLength(2);
    expect(resumedTicks([{ at: 'x' }])).toEqual([]);
    expect(resumedTicks(undefined)).toEqual([]);
  });
});
