import { describe, expect, it } from 'vitest';
import { mergeStats } from '../../src/live/merge-stats';
import { NO_SHADOW_COMPARISON, type StatsSnapshot } from '../../src/promotion/stats-snapshot';
import { seededRng } from '../../src/samples/rng';
import { WindowStats, type WindowStatsOptions } from '../../src/serving/window-stats';

/**
 * The merge of replica windows is the window of one gateway that served every request: the same
 * traffic recorded once in one WindowStats and spread over three (one per replica) gives the same
 * counts, the same multiset of samples and the same shadow comparison after the merge.
 */

const OPTIONS: WindowStatsOptions = {
  bucketMs: 1000,
  retentionMs: 600_000,
  samplesPerBucket: 100_000,
  maxSamples: 100_000,
};

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

function snapshotOf(w: WindowStats, sinceMs: number, now: number): StatsSnapshot {
  return { model: 'm', generation: 7, ...w.query(sinceMs, 0.5, now) };
}

function traffic(seed: number): { whole: StatsSnapshot; parts: StatsSnapshot[] } {
  const rng = seededRng(seed);
  const t0 = 1_700_000_000_000;
  const whole = new WindowStats(OPTIONS, t0);
  const replicas = [0, 1, 2].map(() => new WindowStats(OPTIONS, t0));
  let now = t0;
  for (let i = 0; i < 3000; i++) {
    now += Math.floor(rng.uniform() * 7);
    // Uneven spread, as a load balancer gives: replica 0 gets half, the others a quarter each.
    const u = rng.uniform();
    const replica = replicas[u < 0.5 ? 0 : u < 0.75 ? 1 : 2] as WindowStats;
    const canary = rng.uniform() < 0.3;
    const role = canary ? 'canary' : 'stable';
    const version = canary ? '2' : '1';
    const error = rng.uniform() < (canary ? 0.05 : 0.01);
    const latencyMs = 5 * Math.exp(0.4 * rng.normal());
    const scores = error ? [Number.NaN] : [1 / (1 + Math.exp(-rng.normal()))];
    const shadow = rng.uniform() < 0.2 ? [rng.uniform() < 0.02 ? Number.NaN : rng.uniform()] : undefined;
    for (const w of [whole, replica]) {
      w.record(role, version, { latencyMs, error, scores }, now);
      if (shadow) w.recordPairs(scores, shadow, now);
    }
  }
  const since = t0 + 500;
  return {
    whole: snapshotOf(whole, since, now),
    parts: replicas.map((r) => snapshotOf(r, since, now)),
  };
}

describe('mergeStats', () => {
  it('equals the window of one gateway that served all the replicas’ requests', () => {
    const { whole, parts } = traffic(42);
    const merged = mergeStats(parts);

    for (const role of ['stable', 'canary'] as const) {
      const m = merged.variants[role];
      const w = whole.variants[role];
      expect(m && w, role).toBeTruthy();
      if (!m || !w) continue;
      // Counts add up: the sum of the parts, and the whole's.
      const partRequests = parts.map((p) => p.variants[role]?.requests ?? 0);
      expect(partRequests.every((n) => n > 0)).toBe(true);
      expect(m.requests).toBe(partRequests.reduce((a, b) => a + b, 0));
      expect(m.requests).toBe(w.requests);
      expect(m.errors).toBe(w.errors);
      expect(m.errors).toBeGreaterThan(0);
      expect(m.version).toBe(w.version);
      // Samples: the same multiset (order is not something a judge reads).
      expect(sorted(m.latencyMs)).toEqual(sorted(w.latencyMs));
      expect(sorted(m.scores)).toEqual(sorted(w.scores));
    }
    expect(merged.variants.shadow).toBeUndefined();

    const mc = merged.shadowComparison;
    const wc = whole.shadowComparison;
    expect(mc.pairs).toBe(wc.pairs);
    expect(mc.observedPairs).toBe(wc.observedPairs);
    expect(mc.agreements).toBe(wc.agreements);
    expect(mc.nanCount).toBe(wc.nanCount);
    expect(mc.nanCount).toBeGreaterThan(0);
    expect(mc.maxAbsDiff).toBe(wc.maxAbsDiff);
    expect(mc.meanAbsDiff).not.toBeNull();
    expect(mc.meanAbsDiff ?? 0).toBeCloseTo(wc.meanAbsDiff ?? Number.NaN, 12);
    expect(merged.windowStartMs).toBe(whole.windowStartMs);
    expect(merged.windowEndMs).toBe(whole.windowEndMs);
  });

  it('is the single snapshot itself for one replica, and does not depend on the replicas’ order', () => {
    const { parts } = traffic(7);
    const [a, b, c] = parts as [StatsSnapshot, StatsSnapshot, StatsSnapshot];
    expect(mergeStats([a])).toEqual(a);
    const abc = mergeStats([a, b, c]);
    const cab = mergeStats([c, a, b]);
    expect(cab.variants.canary?.requests).toBe(abc.variants.canary?.requests);
    expect(sorted(cab.variants.stable?.latencyMs ?? [])).toEqual(
      sorted(abc.variants.stable?.latencyMs ?? []),
    );
    expect(cab.shadowComparison.meanAbsDiff ?? 0).toBeCloseTo(abc.shadowComparison.meanAbsDiff ?? 1, 12);
  });

  it('keeps a variant only one replica has seen, and no mean difference without finite pairs', () => {
    const base = {
      model: 'm',
      generation: 3,
      windowStartMs: 10,
      windowEndMs: 20,
    };
    const noPairs = NO_SHADOW_COMPARISON;
    const one: StatsSnapshot = {
      ...base,
      variants: { stable: { version: '1', requests: 2, errors: 0, latencyMs: [1, 2], scores: [0.1, 0.2] } },
      shadowComparison: noPairs,
    };
    const two: StatsSnapshot = {
      ...base,
      windowStartMs: 5,
      variants: { canary: { version: '2', requests: 1, errors: 1, latencyMs: [9], scores: [] } },
      shadowComparison: { ...noPairs, pairs: 2, observedPairs: 4, nanCount: 2 },
    };
    const merged = mergeStats([one, two]);
    expect(merged.variants.stable?.requests).toBe(2);
    expect(merged.variants.canary).toEqual({
      version: '2',
      requests: 1,
      errors: 1,
      latencyMs: [9],
      scores: [],
    });
    expect(merged.shadowComparison).toMatchObject({
      pairs: 2,
      observedPairs: 4,
      nanCount: 2,
      meanAbsDiff: null,
    });
    expect(merged.windowStartMs).toBe(5);
  });

  it('adds bucket counts of histograms with the same bounds, and drops them when bounds differ', () => {
    const snap = (bounds: number[], counts: number[]): StatsSnapshot => ({
      model: 'm',
      generation: 1,
      windowStartMs: 0,
      windowEndMs: 1,
      variants: {
        stable: {
          version: '1',
          requests: 3,
          errors: 0,
          latencyMs: [],
          scores: [],
          latencyHistogram: { bounds, counts },
        },
      },
      shadowComparison: NO_SHADOW_COMPARISON,
    });
    const merged = mergeStats([snap([1, 2], [1, 2, 0]), snap([1, 2], [0, 1, 5])]);
    expect((merged.variants.stable as { latencyHistogram?: unknown }).latencyHistogram).toEqual({
      bounds: [1, 2],
      counts: [1, 3, 5],
    });
    const mixed = mergeStats([snap([1, 2], [1, 2, 0]), snap([1, 3], [0, 1, 5])]);
    expect((mixed.variants.stable as { latencyHistogram?: unknown }).latencyHistogram).toBeUndefined();
  });

  it('refuses to mix generations', () => {
    const { parts } = traffic(3);
    const [a] = parts as [StatsSnapshot];
    expect(() => mergeStats([a, { ...a, generation: 8 }])).toThrow(/g8 cannot be merged/);
    expect(() => mergeStats([])).toThrow(/at least one/);
  });
});
