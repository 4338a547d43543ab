import { describe, expect, it } from 'vitest';
import { WindowStats } from '../../src/serving/window-stats';

const T0 = 1_700_000_000_000;
const options = { bucketMs: 1000, retentionMs: 10_000, samplesPerBucket: 100, maxSamples: 5 };

describe('window stats – per-variant windows', () => {
  it('counts requests and errors per variant inside the window only', () => {
    const s = new WindowStats(options, T0);
    s.record('stable', '1', { latencyMs: 5, error: false, scores: [0.1] }, T0 + 100);
    s.record('stable', '1', { latencyMs: 6, error: true }, T0 + 2100);
    s.record('canary', '2', { latencyMs: 7, error: false, scores: [0.9, 0.8] }, T0 + 2200);
    const all = s.query(0, 0.5, T0 + 3000);
    expect(all.variants.stable).toEqual({
      version: '1',
      requests: 2,
      errors: 1,
      latencyMs: [5, 6],
      scores: [0.1],
    });
    expect(all.variants.canary).toMatchObject({ requests: 1, scores: [0.9, 0.8] });
    expect(all.variants.shadow).toBeUndefined();
    const recent = s.query(T0 + 2000, 0.5, T0 + 3000);
    expect(recent.variants.stable).toMatchObject({ requests: 1, errors: 1, latencyMs: [6] });
    expect(recent.windowStartMs).toBe(T0 + 2000);
    expect(recent.windowEndMs).toBe(T0 + 3000);
  });

  it('forgets buckets older than the retention', () => {
    const s = new WindowStats(options, T0);
    s.record('stable', '1', { latencyMs: 1, error: false }, T0);
    s.record('stable', '1', { latencyMs: 2, error: false }, T0 + 10_500);
    const q = s.query(0, 0.5, T0 + 10_600);
    expect(q.variants.stable).toMatchObject({ requests: 1, latencyMs: [2] });
    expect(q.windowStartMs).toBe(T0 + 600);
  });

  it('reuses a ring slot for a new second without mixing in the old one', () => {
    const s = new WindowStats(options, T0);
    s.record('stable', '1', { latencyMs: 1, error: true }, T0 + 500);
    // Same slot (10 slots of 1 s), ten seconds later.
    s.record('stable', '1', { latencyMs: 2, error: false }, T0 + 10_500);
    expect(s.query(0, 0.5, T0 + 10_900).variants.stable).toMatchObject({ requests: 1, errors: 0 });
  });

  it('returns at most maxSamples of the earliest latencies (a prefix of the stream), counts in full', () => {
    const s = new WindowStats(options, T0);
    for (let i = 0; i < 8; i++) s.record('stable', '1', { latencyMs: i, error: false }, T0 + i * 100);
    expect(s.query(0, 0.5, T0 + 900).variants.stable?.latencyMs).toEqual([0, 1, 2, 3, 4]);
    expect(s.query(0, 0.5, T0 + 900).variants.stable?.requests).toBe(8);
  });

  it('cuts every variant’s samples at the same bucket, so they cover the same time', () => {
    const s = new WindowStats(options, T0);
    for (let sec = 0; sec < 4; sec++) {
      const t = T0 + sec * 1000 + 10;
      for (let i = 0; i < 3; i++) s.record('stable', '1', { latencyMs: 10 * sec + i, error: false }, t);
      s.record('canary', '2', { latencyMs: 100 + sec, error: sec === 3 }, t);
    }
    const w = s.query(0, 0.5, T0 + 3900).variants;
    // Stable reaches 6 > 5 samples in its second second: both variants stop after the first.
    expect(w.stable?.latencyMs).toEqual([0, 1, 2]);
    expect(w.canary?.latencyMs).toEqual([100]);
    expect(w.canary).toMatchObject({ requests: 4, errors: 1 });
    // Growing the window never changes the samples already returned (the e-process's stream).
    for (let i = 0; i < 3; i++) s.record('stable', '1', { latencyMs: 99, error: false }, T0 + 4010);
    expect(s.query(0, 0.5, T0 + 4900).variants.stable?.latencyMs).toEqual([0, 1, 2]);
  });

  it('keeps exact counts when a bucket overflows its sample reservoir', () => {
    const s = new WindowStats({ ...options, samplesPerBucket: 10, maxSamples: 1000 }, T0);
    for (let i = 0; i < 50; i++) s.record('stable', '1', { latencyMs: i, error: i % 10 === 0 }, T0 + 1);
    const v = s.query(0, 0.5, T0 + 2).variants.stable;
    expect(v).toMatchObject({ requests: 50, errors: 5 });
    expect(v?.latencyMs).toHaveLength(10);
  });
});

describe('window stats – shadow comparison', () => {
  it('counts pairs, agreements at the threshold, differences and non-finite scores', () => {
    const s = new WindowStats(options, T0);
    s.recordPairs([0.2, 0.6, 0.7, 0.4], [0.3, 0.4, 0.9, Number.NaN], T0 + 10);
    const c = s.query(0, 0.5, T0 + 20).shadowComparison;
    expect(c).toMatchObject({ pairs: 4, observedPairs: 4, agreements: 2, nanCount: 1, threshold: 0.5 });
    expect(c.meanAbsDiff).toBeCloseTo((0.1 + 0.2 + 0.2) / 3, 12);
    expect(c.maxAbsDiff).toBeCloseTo(0.2, 12);
    // A different threshold re-reads the same pairs.
    expect(s.query(0, 0.65, T0 + 20).shadowComparison.agreements).toBe(3);
  });

  it('reports null differences when there is nothing finite to compare', () => {
    const c = new WindowStats(options, T0).query(0, 0.5, T0).shadowComparison;
    expect(c).toEqual({
      pairs: 0,
      observedPairs: 0,
      agreements: 0,
      threshold: 0.5,
      meanAbsDiff: null,
      maxAbsDiff: null,
      nanCount: 0,
    });
  });
});
