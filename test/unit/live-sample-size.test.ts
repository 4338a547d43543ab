import { describe, expect, it } from 'vitest';
import { errorConcentration, DEFAULT_SEQUENTIAL_TUNING } from '../../src/live/canary-judge';
import { canaryPlanLines, trafficOf } from '../../src/live/canary-plan';
import { planCanary, type TrafficProfile } from '../../src/live/sample-size';
import type { PromotionSpec } from '../../src/spec/schema';
import { snapshot, window } from './live-fixtures';
import { seededRng } from '../../src/samples/rng';
import { Canary as CanarySchema, type Canary } from '../../src/spec/schema';
import { logDifferenceEValue, QuantileRatioTest } from '../../src/stats/sequential';

/**
 * The planner against a simulation of the tests it plans for: at the planned time, the e-process on
 * random traffic decides in about `power` of the rollouts (at least power − 0.12 over 300 draws, so a
 * correct plan fails this with a chance below 1e-4), and at a third of that time in clearly fewer.
 */

const ONE_STEP = (bake: unknown, extra: Record<string, unknown> = {}) =>
  CanarySchema.parse({
    steps: [{ setWeight: 50 }, { bake }],
    analysis: { interval: '1s', ...extra },
  }) as Canary;

const traffic: TrafficProfile = { requestsPerSecond: 100, errorRate: 0.002, latencyLogSd: 0.3 };

function binomial(rng: ReturnType<typeof seededRng>, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (rng.uniform() < p) k++;
  return k;
}

/** Requests each version saw after t ms at 50 %, as the planner counts them. */
const perSide = (t: number): number => Math.floor((traffic.requestsPerSecond * t) / 1000 / 2);

describe('sample-size planning', () => {
  const canary = ONE_STEP({ min: '1s', max: '1h' });
  const plan = planCanary(canary, traffic, { power: 0.8 });
  const step = plan.steps[0];
  const check = (name: string) => step?.checks.find((c) => c.name === name);
  const alpha = canary.analysis.errorRateAlpha; // one window
  const k = errorConcentration(canary.analysis.maxErrorRateIncrease, DEFAULT_SEQUENTIAL_TUNING);

  function errorRateDecidedShare(t: number, increase: number, side: 'less' | 'greater'): number {
    const rng = seededRng(20261202 + t);
    const n = perSide(t);
    let decided = 0;
    for (let r = 0; r < 300; r++) {
      const a = { successes: binomial(rng, n, traffic.errorRate + increase), trials: n };
      const b = { successes: binomial(rng, n, traffic.errorRate), trials: n };
      const e = logDifferenceEValue(a, b, canary.analysis.maxErrorRateIncrease, side, {
        kA: [k, 2],
        kB: [k, 2],
      });
      if (e.logE >= Math.log(1 / alpha)) decided++;
    }
    return decided / 300;
  }

  it('error rate: a healthy canary is non-inferior by the planned time in about power of the rollouts', () => {
    const t = check('error rate increase')?.nonInferiorMs;
    expect(t).toBeTypeOf('number');
    expect(errorRateDecidedShare(t as number, 0, 'less')).toBeGreaterThanOrEqual(0.68);
    expect(errorRateDecidedShare((t as number) / 3, 0, 'less')).toBeLessThan(0.5);
  });

  it('error rate: twice the margin fails by the planned time in about power of the rollouts', () => {
    const c = check('error rate increase');
    expect(c?.regression).toBe('+2 % errors');
    const t = c?.regressionMs as number;
    const increase = 2 * canary.analysis.maxErrorRateIncrease;
    expect(errorRateDecidedShare(t, increase, 'greater')).toBeGreaterThanOrEqual(0.68);
    expect(errorRateDecidedShare(t / 3, increase, 'greater')).toBeLessThan(0.5);
  });

  it('latency: a healthy canary is shown within the ratio by the planned time in about power of the rollouts', () => {
    const t = check('latency increase')?.nonInferiorMs as number;
    const share = (ms: number): number => {
      const rng = seededRng(7 + ms);
      const n = perSide(ms);
      const draw = () =>
        Float64Array.from({ length: n }, () => 10 * Math.exp(traffic.latencyLogSd * rng.normal())).sort();
      let decided = 0;
      for (let r = 0; r < 300; r++) {
        const test = new QuantileRatioTest(draw(), draw(), { p: 0.5, k: [25, 2], combine: 'product' });
        if (test.logEValue(canary.analysis.latency.maxIncreaseRatio, 'less') >= Math.log(1 / 0.02)) decided++;
      }
      return decided / 300;
    };
    expect(share(t)).toBeGreaterThanOrEqual(0.68);
    expect(share(t / 3)).toBeLessThan(0.5);
  });

  it('latency at sub-millisecond medians: plans with the absolute allowance, and the plan holds', () => {
    const fast: TrafficProfile = { ...traffic, latencyMedianMs: 0.1 };
    const latencyPlan = (t: TrafficProfile) =>
      planCanary(canary, t, { power: 0.8 }).steps[0]?.checks.find((c) => c.name === 'latency increase');
    const withAllowance = latencyPlan(fast);
    const ratioOnly = check('latency increase');
    expect(withAllowance?.nonInferiorMs as number).toBeLessThan(ratioOnly?.nonInferiorMs as number);
    // Twice the tolerated increase at 0.1 ms is +1 ms: 11× the median, not 1.4×.
    expect(withAllowance?.regression).toBe('+1 ms median latency (11×)');
    const t = withAllowance?.nonInferiorMs as number;
    const rng = seededRng(11);
    const n = perSide(t);
    const draw = () =>
      Float64Array.from({ length: n }, () => 0.1 * Math.exp(traffic.latencyLogSd * rng.normal())).sort();
    let decided = 0;
    for (let r = 0; r < 300; r++) {
      const test = new QuantileRatioTest(draw(), draw(), { p: 0.5, k: [25, 2], combine: 'product' });
      const { maxIncreaseRatio, maxIncreaseMs, alpha } = canary.analysis.latency;
      if (test.logEValue(maxIncreaseRatio, 'less', maxIncreaseMs) >= Math.log(1 / alpha)) decided++;
    }
    expect(decided / 300).toBeGreaterThanOrEqual(0.68);
  });

  it('a { min, max } bake ends by evidence, a fixed one at its maximum; bonferroni runs every bake to its maximum', () => {
    expect(step?.endsBy).toBe('evidence');
    expect(step?.likelyMs).toBe(Math.ceil((step?.nonInferiorMs as number) / 1000) * 1000);
    expect(step?.warnings).toEqual([]);
    const fixed = planCanary(ONE_STEP('1h'), traffic).steps[0];
    expect(fixed).toMatchObject({ endsBy: 'maximum', likelyMs: 3_600_000 });
    const bonferroni = planCanary(ONE_STEP({ min: '1s', max: '1h' }, { mode: 'bonferroni' }), traffic);
    expect(bonferroni).toMatchObject({ mode: 'bonferroni', likelyMs: 3_600_000 });
  });

  it('warns before the canary when a low-traffic model cannot decide within the maximum', () => {
    const low = planCanary(ONE_STEP({ min: '10s', max: '1m' }), { ...traffic, requestsPerSecond: 2 });
    expect(low.steps[0]?.endsBy).toBe('maximum');
    expect(low.warnings).toHaveLength(1);
    expect(low.warnings[0]).toMatch(/step 2 \(50 %, at most 60 s\): 2 requests\/s are too few to decide/);
    expect(low.warnings[0]).toMatch(/\+2 % errors would fail error rate increase after/);
    const none = planCanary(ONE_STEP('1m'), { ...traffic, requestsPerSecond: 0 });
    expect(none.warnings[0]).toMatch(/no traffic/);
  });
});

describe('canary plan lines', () => {
  const spec = {
    model: 'credit',
    canary: CanarySchema.parse({
      steps: [{ setWeight: 20 }, { bake: { min: '20s', max: '10m' } }, { setWeight: 50 }, { bake: '1m' }],
    }) as Canary,
  } as unknown as PromotionSpec;

  it('measures the traffic of the stable and canary versions over the window', () => {
    const t = trafficOf(
      snapshot({
        stable: window({ requests: 5400, errors: 54, latencyMs: 10, latencySigma: 0.3, seed: 1 }),
        canary: window({ version: '2', requests: 600, seed: 2 }),
      }),
    );
    // snapshot() spans 60 s: 6000 requests.
    expect(t.requestsPerSecond).toBeCloseTo(100, 9);
    expect(t.errorRate).toBeCloseTo(0.01, 9);
    expect(t.latencyLogSd).toBeGreaterThan(0.27);
    expect(t.latencyLogSd).toBeLessThan(0.33);
    expect(t.latencyMedianMs as number).toBeGreaterThan(9.5);
    expect(t.latencyMedianMs as number).toBeLessThan(10.5);
    expect(t.latencyAssumed).toBe(false);
  });

  it('prints each step and the whole canary, and says why when the traffic cannot be read', async () => {
    const source = {
      stats: () =>
        Promise.resolve(
          snapshot({
            stable: window({ requests: 12_000, seed: 1 }),
            canary: window({ version: '2', requests: 0, seed: 2 }),
          }),
        ),
    };
    const lines = await canaryPlanLines(spec, () => source);
    expect(lines[0]).toMatch(/^canary plan \(sequential; 200 requests\/s over the last 60 s/);
    expect(lines[1]).toMatch(
      /^ {2}step 2 at 20 % \(20 s–10 min\): likely \d+ s, once every check is non-inferior$/,
    );
    expect(lines[2]).toMatch(
      /^ {2}step 4 at 50 % \(fixed 60 s\): likely 60 s, fixed bake; non-inferior after ~\d+ s$/,
    );
    expect(lines[3]).toMatch(/^ {2}whole canary: likely/);
    const broken = { stats: () => Promise.reject(new Error('connection refused')) };
    expect(await canaryPlanLines(spec, () => broken)).toEqual([
      "canary plan: not available (the model's traffic could not be read: connection refused)",
    ]);
  });
});
