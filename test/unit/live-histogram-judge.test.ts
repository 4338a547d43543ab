import { describe, expect, it } from 'vitest';
import { judgeCanary } from '../../src/live/canary-judge';
import {
  fromHistogram,
  NO_SHADOW_COMPARISON,
  type Histogram,
  type StatsSnapshot,
} from '../../src/promotion/stats-snapshot';
import { GatewayMetrics, LATENCY_BUCKETS_MS, SCORE_BUCKETS } from '../../src/serving/metrics';
import { seededRng } from '../../src/samples/rng';
import { CanaryAnalysis } from '../../src/spec/schema';

/**
 * The judges on the histogram form of a window (what the Prometheus provider hands them), against the
 * same samples in raw form: the same verdicts on clear cases, at the resolution of the gateway's buckets.
 */

function histogram(bounds: readonly number[], xs: readonly number[]): Histogram {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const x of xs) {
    const found = bounds.findIndex((b) => x <= b);
    const i = found < 0 ? bounds.length : found;
    counts[i] = (counts[i] ?? 0) + 1;
  }
  return { bounds: [...bounds], counts };
}

const rng = seededRng(7);
const normal = (): number => rng.normal();
const latencies = (n: number, scale = 1): number[] =>
  Array.from({ length: n }, () => Math.exp(0.2 * normal()) * 0.8 * scale);
const scores = (n: number, shift = 0): number[] =>
  Array.from({ length: n }, () => 1 / (1 + Math.exp(-(normal() * 1.5 + shift))));

interface Side {
  readonly requests: number;
  readonly errors: number;
  readonly latencyMs: number[];
  readonly scores: number[];
}

function snapshot(stable: Side, canary: Side, form: 'raw' | 'histogram'): StatsSnapshot {
  const window = (version: string, s: Side) =>
    form === 'raw'
      ? { version, ...s }
      : {
          version,
          requests: s.requests,
          errors: s.errors,
          latencyMs: [],
          scores: [],
          latencyHistogram: histogram(LATENCY_BUCKETS_MS, s.latencyMs),
          scoreHistogram: histogram(SCORE_BUCKETS, s.scores),
        };
  return {
    model: 'm',
    generation: 2,
    variants: { stable: window('1', stable), canary: window('2', canary) },
    shadowComparison: NO_SHADOW_COMPARISON,
    windowStartMs: 0,
    windowEndMs: 60_000,
  };
}

const side = (n: number, o: { errors?: number; slower?: number; shift?: number } = {}): Side => ({
  requests: n,
  errors: o.errors ?? 0,
  latencyMs: latencies(n, o.slower ?? 1),
  scores: scores(n, o.shift ?? 0),
});

const loose = CanaryAnalysis.parse({
  minSamples: 50,
  maxErrorRateIncrease: 0.05,
  latency: { maxIncreaseRatio: 2 },
  prediction: { maxPsi: 1 },
});

const statusOf = (s: StatsSnapshot, a: CanaryAnalysis = loose) =>
  Object.fromEntries(
    judgeCanary(s, a, { mode: 'sequential' }).checks.map((c) => [c.name, c.status] as const),
  );

describe('samples rebuilt from a histogram', () => {
  it('keep the share at or below every bound, spread evenly inside a bucket', () => {
    const h: Histogram = { bounds: [1, 2, 4], counts: [2, 4, 0, 1] };
    const xs = fromHistogram(h, 0);
    expect(xs).toEqual([0.25, 0.75, 1.125, 1.375, 1.625, 1.875, 5]);
    for (const [i, b] of h.bounds.entries()) {
      const below = h.counts.slice(0, i + 1).reduce((a, c) => a + c, 0);
      expect(xs.filter((x) => x <= b)).toHaveLength(below);
    }
  });

  it('are thinned in proportion above 20,000', () => {
    const xs = fromHistogram({ bounds: [1, 2], counts: [30_000, 10_000, 0] });
    expect(xs).toHaveLength(20_000);
    expect(xs.filter((x) => x <= 1)).toHaveLength(15_000);
  });
});

describe('canary judge on histogram windows', () => {
  it('passes a healthy canary as on raw samples', () => {
    const stable = side(2000);
    const canary = side(2000);
    const all = {
      'error rate increase': 'passed',
      'latency increase': 'passed',
      'prediction drift': 'passed',
    };
    expect(statusOf(snapshot(stable, canary, 'raw'))).toEqual(all);
    expect(statusOf(snapshot(stable, canary, 'histogram'))).toEqual(all);
  });

  it('fails an erroring canary on the counts, a slow one on latency buckets, a shifted one on score buckets', () => {
    const stable = side(2000);
    expect(statusOf(snapshot(stable, side(2000, { errors: 400 }), 'histogram'))['error rate increase']).toBe(
      'failed',
    );
    expect(statusOf(snapshot(stable, side(2000, { slower: 3 }), 'histogram'))['latency increase']).toBe(
      'failed',
    );
    const tight = CanaryAnalysis.parse({ minSamples: 50, prediction: { maxPsi: 0.1 } });
    const shifted = snapshot(stable, side(2000, { shift: 2.5 }), 'histogram');
    expect(statusOf(shifted, tight)['prediction drift']).toBe('failed');
    // The bins are the score buckets grouped by position (fifths of [0, 1]), never chosen from the data.
    const check = judgeCanary(shifted, tight, { mode: 'sequential' }).checks.find(
      (c) => c.name === 'prediction drift',
    );
    expect(check?.evidence?.['bins']).toMatchObject({ edges: [0.2, 0.4, 0.6, 0.8] });
  });

  it('leaves out a check the provider does not measure instead of waiting for it', () => {
    const s = snapshot(side(500), side(500), 'histogram');
    for (const v of [s.variants.stable!, s.variants.canary!]) {
      delete v.scoreHistogram;
      v.unmeasured = ['scores'];
    }
    const verdict = judgeCanary(s, loose, { mode: 'sequential' });
    expect(verdict.checks.map((c) => c.name)).toEqual(['error rate increase', 'latency increase']);
  });
});

describe('gateway metrics for the Prometheus provider', () => {
  it('export requests, latency and score histograms per generation, and drop generations long gone', () => {
    const m = new GatewayMetrics();
    const labels = { model: 'credit', variant: 'canary', version: '2' };
    m.observe({ ...labels, generation: 3 }, 0.8, false, [0.3, Number.NaN, 0.97]);
    m.observe({ ...labels, generation: 3 }, 2.2, true, [0.31]);
    const text = m.render();
    const l = 'model="credit",variant="canary",version="2",generation="3"';
    expect(text).toContain(`prograde_gateway_requests_total{${l}} 2`);
    expect(text).toContain(`prograde_gateway_errors_total{${l}} 1`);
    expect(text).toContain(`prograde_gateway_request_duration_ms_bucket{${l},le="0.85"} 1`);
    expect(text).toContain(`prograde_gateway_request_duration_ms_bucket{${l},le="2.5"} 2`);
    expect(text).toContain(`prograde_gateway_score_bucket{${l},le="0.3"} 1`);
    expect(text).toContain(`prograde_gateway_score_bucket{${l},le="0.35"} 2`);
    expect(text).toContain(`prograde_gateway_score_count{${l}} 3`);
    m.observe({ ...labels, generation: 7 }, 1, false);
    expect(m.render()).not.toContain('generation="3"');
  });
});

describe('canary.analysis.provider in the spec', () => {
  const spec = (provider: unknown) => {
    const r = CanaryAnalysis.safeParse({ provider });
    if (!r.success)
      throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    return r.data;
  };

  it('parses a Prometheus provider with defaults', () => {
    const parsed = spec({ type: 'prometheus', url: 'http://prometheus:9090', labels: { job: 'gw' } });
    expect(parsed.provider).toEqual({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      labels: { job: 'gw' },
      timeout: 5000,
    });
  });

  it.each([
    [{ type: 'prometheus' }, /url/],
    [{ type: 'prometheus', url: 'file:///etc/passwd' }, /http/],
    [{ type: 'prometheus', url: 'http://p', labels: { 'bad-label': 'x' } }, /label name/],
    [
      { type: 'prometheus', url: 'http://p', queries: { requests: 'sum({{secret}})' } },
      /unknown placeholder/,
    ],
    [{ type: 'prometheus', url: 'http://p', queries: { other: 'x' } }, /other/],
    [{ type: 'prometheus', url: 'http://p', timeout: '10m' }, /between/],
    [{ type: 'datadog' }, /type/],
  ])('refuses %j', (provider, message) => {
    expect(() => spec(provider)).toThrow(message);
  });
});
