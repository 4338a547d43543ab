import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/serving/metrics';
import { ModelRateLimiter, TokenBucket } from '../../src/serving/rate-limit';

describe('rate limit – token bucket', () => {
  it('allows a burst, then refills at the rate', () => {
    const b = new TokenBucket({ requestsPerSecond: 2, burst: 3 }, 0);
    expect([b.tryTake(0), b.tryTake(0), b.tryTake(0), b.tryTake(0)]).toEqual([true, true, true, false]);
    expect(b.tryTake(400)).toBe(false);
    expect(b.tryTake(500)).toBe(true);
    expect(b.tryTake(10_000)).toBe(true);
  });

  it('keeps one bucket per model and none for unlimited models', () => {
    const limiter = new ModelRateLimiter((m) =>
      m === 'tight' ? { requestsPerSecond: 1, burst: 1 } : undefined,
    );
    expect([limiter.tryTake('tight', 0), limiter.tryTake('tight', 0)]).toEqual([true, false]);
    expect(Array.from({ length: 100 }, () => limiter.tryTake('free', 0)).every(Boolean)).toBe(true);
  });
});

describe('metrics – Prometheus text', () => {
  it('renders counters and a cumulative latency histogram per model, variant and version', () => {
    const m = new GatewayMetrics();
    m.observe({ model: 'credit', variant: 'stable', version: '1' }, 3, false);
    m.observe({ model: 'credit', variant: 'stable', version: '1' }, 30, true);
    m.reject('credit', 429);
    const text = m.render();
    expect(text).toContain('# TYPE prograde_gateway_requests_total counter');
    expect(text).toContain('prograde_gateway_requests_total{model="credit",variant="stable",version="1"} 2');
    expect(text).toContain('prograde_gateway_errors_total{model="credit",variant="stable",version="1"} 1');
    expect(text).toContain(
      'prograde_gateway_request_duration_ms_bucket{model="credit",variant="stable",version="1",le="5"} 1',
    );
    expect(text).toContain(
      'prograde_gateway_request_duration_ms_bucket{model="credit",variant="stable",version="1",le="50"} 2',
    );
    expect(text).toContain(
      'prograde_gateway_request_duration_ms_sum{model="credit",variant="stable",version="1"} 33',
    );
    expect(text).toContain('prograde_gateway_rejected_total{model="credit",status="429"} 1');
  });
});
