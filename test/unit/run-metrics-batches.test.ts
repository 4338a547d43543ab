import { describe, expect, it } from 'vitest';
import type { MetricPoint } from '../../src/mlflow/schemas';
import { batches, type RunLog } from '../../src/records/run-metrics';

const log = (params: number, metrics: number): RunLog => ({
  params: Object.fromEntries(Array.from({ length: params }, (_, i) => [`p${i}`, String(i)])),
  metrics: Array.from({ length: metrics }, (_, i): MetricPoint => ({
    key: `m${i}`,
    value: i,
    timestamp: 1,
    step: 0,
  })),
});

/** Given a run's log, when split for runs/log-batch, then each call is within MLflow's limits and nothing is lost. */
describe('run log batches – as few log-batch calls as MLflow accepts', () => {
  it.each([
    [0, 0, 0],
    [5, 0, 1],
    [0, 300, 1],
    [40, 300, 1],
    [100, 900, 1],
    [100, 901, 2],
    [150, 1900, 3],
    [250, 0, 3],
    [0, 2500, 3],
  ])('%i params and %i metrics → %i calls', (p, m, calls) => {
    const out = batches(log(p, m));
    expect(out).toHaveLength(calls);
    for (const b of out) {
      expect(b.metrics.length).toBeLessThanOrEqual(1000);
      expect(Object.keys(b.params).length).toBeLessThanOrEqual(100);
      expect(b.metrics.length + Object.keys(b.params).length).toBeLessThanOrEqual(1000);
      expect(b.metrics.length + Object.keys(b.params).length).toBeGreaterThan(0);
    }
    expect(out.flatMap((b) => b.metrics.map((x) => x.key))).toEqual(log(p, m).metrics.map((x) => x.key));
    expect(Object.assign({}, ...out.map((b) => b.params))).toEqual(log(p, m).params);
  });
});
