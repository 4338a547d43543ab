import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../src/serving/log-throttle';

describe('LogThrottle – repeated server faults log a bounded number of lines', () => {
  const options = { burst: 3, perSec: 1, summaryEveryMs: 10_000, maxKeys: 2 };

  it('lets a burst through per key, then one a second, and reports what it held back', () => {
    let t = 0;
    const summaries: Record<string, number>[] = [];
    const throttle = new LogThrottle(
      (c) => summaries.push({ ...c }),
      options,
      () => t,
    );
    const first = Array.from({ length: 100 }, () => throttle.allow('SERVING_NON_FINITE_OUTPUT'));
    expect(first.filter(Boolean)).toHaveLength(3);
    expect(throttle.allow('OTHER')).toBe(true); // another key has its own bucket
    t = 1000;
    expect(throttle.allow('SERVING_NON_FINITE_OUTPUT')).toBe(true);
    expect(throttle.allow('SERVING_NON_FINITE_OUTPUT')).toBe(false);
    expect(summaries).toEqual([]);
    t = 10_000;
    throttle.allow('OTHER');
    expect(summaries).toEqual([{ SERVING_NON_FINITE_OUTPUT: 98 }]);
    t = 20_000;
    throttle.allow('OTHER');
    expect(summaries).toHaveLength(1); // nothing held back since: no summary line
  });

  it('keeps its table bounded whatever the keys', () => {
    const throttle = new LogThrottle(
      () => undefined,
      options,
      () => 0,
    );
    for (let i = 0; i < 1000; i++) expect(throttle.allow(`k${i}`)).toBe(true);
  });
});
