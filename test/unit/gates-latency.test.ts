import { describe, expect, it } from 'vitest';
import { judgeLatency } from '../../src/gates/latency-judge';
import { LatencyGate } from '../../src/spec/gates-schema';

const gate = (spec: unknown): LatencyGate => LatencyGate.parse(spec);
/** 1..100 ms: p50 = 50.5, p95 = 95.05, p99 = 99.01 with numpy's linear interpolation. */
const ramp = Array.from({ length: 100 }, (_, i) => i + 1);

describe('latency judge', () => {
  it('passes when every configured percentile is within its limit', () => {
    const v = judgeLatency({ gate: gate({ p50: '60ms', p95: '100ms', p99: '1s' }), candidateMs: ramp });
    expect(v.gate).toBe('latency');
    expect(v.status).toBe('passed');
    expect(v.checks.map((c) => c.name)).toEqual(['p50 <= 60ms', 'p95 <= 100ms', 'p99 <= 1000ms']);
    expect(v.checks[1]).toMatchObject({ value: 95.05, threshold: 100, comparator: '<=', sampleSize: 100 });
  });

  it('fails a percentile above its limit, naming both numbers', () => {
    const v = judgeLatency({ gate: gate({ p95: '90ms' }), candidateMs: ramp });
    expect(v.status).toBe('failed');
    expect(v.checks[0]!.message).toBe('p95 latency 95.05ms exceeds 90ms (100 calls, batch 1)');
  });

  it('compares p95 with the champion and fails above the allowed ratio', () => {
    const champion = ramp.map((x) => x / 2);
    const v = judgeLatency({
      gate: gate({ maxRatioVsChampion: 1.5 }),
      candidateMs: ramp,
      championMs: champion,
    });
    expect(v.status).toBe('failed');
    expect(v.checks[0]).toMatchObject({ metric: 'latency_p95_ratio', value: 2, threshold: 1.5 });
    expect(v.checks[0]!.message).toMatch(/2\.000× the champion's 47\.525ms/);
    const ok = judgeLatency({
      gate: gate({ maxRatioVsChampion: 2.5 }),
      candidateMs: ramp,
      championMs: champion,
    });
    expect(ok.status).toBe('passed');
  });

  it('does not fail a large ratio of sub-millisecond timings below the 1 ms floor', () => {
    const tiny = ramp.map((x) => x / 1000); // p95 ≈ 0.095 ms
    const v = judgeLatency({
      gate: gate({ maxRatioVsChampion: 3 }),
      candidateMs: tiny.map((x) => x * 10),
      championMs: tiny,
    });
    expect(v.status).toBe('passed');
    expect(v.checks[0]!.message).toMatch(/under the 1 ms floor/);
    const slow = judgeLatency({
      gate: gate({ maxRatioVsChampion: 3 }),
      candidateMs: tiny.map((x) => x * 100),
      championMs: tiny,
    });
    expect(slow.status).toBe('failed');
  });

  it('skips the champion comparison for the first model', () => {
    const v = judgeLatency({ gate: gate({ maxRatioVsChampion: 1.2 }), candidateMs: ramp });
    expect(v.status).toBe('passed');
    expect(v.checks[0]!.message).toMatch(/no champion: comparison skipped/);
  });

  it('is inconclusive without samples', () => {
    const v = judgeLatency({ gate: gate({ p95: '10ms', maxRatioVsChampion: 2 }), candidateMs: [] });
    expect(v.status).toBe('inconclusive');
    expect(v.checks).toHaveLength(2);
  });

  it('refuses NaN measurements instead of judging them', () => {
    expect(() => judgeLatency({ gate: gate({ p95: '10ms' }), candidateMs: [1, NaN] })).toThrow(/NaN/);
  });
});
