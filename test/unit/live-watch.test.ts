import { describe, expect, it } from 'vitest';
import {
  type StatsSource,
  type WatchDeps,
  type WatchHeartbeat,
  WatchCancelledError,
  watchCanary,
  watchShadow,
} from '../../src/live/watch';
import { type StatsSnapshot } from '../../src/promotion/stats-snapshot';
import { alphaSpent, plannedLooks } from '../../src/live/alpha-spending';
import { type Canary, CanaryAnalysis, Shadow } from '../../src/spec/schema';
import { snapshot, window } from './live-fixtures';

// The loop's mechanics with the fixed-sample judge; the sequential mode has its own tests below.
const analysis = CanaryAnalysis.parse({ mode: 'bonferroni', interval: '5s', minSamples: 50 });
const sequential = CanaryAnalysis.parse({ interval: '5s', minSamples: 50 });
const T0 = 1_000_000;

/** A fake clock whose sleep advances time, and a stats source that plays windows by tick. */
function harness(windows: (tick: number) => StatsSnapshot, opts: Partial<WatchDeps> = {}) {
  let now = T0;
  const beats: WatchHeartbeat[] = [];
  const queries: { sinceMs?: number; generation?: number }[] = [];
  let tick = 0;
  const admin: StatsSource = {
    stats: (_model, query) => {
      queries.push(query);
      return Promise.resolve(windows(tick++));
    },
  };
  const deps: WatchDeps = {
    admin,
    heartbeat: (d) => beats.push(d),
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
    now: () => now,
    ...opts,
  };
  return { deps, beats, queries, clock: { get: () => now, set: (t: number) => (now = t) } };
}

const healthy = (n: number): StatsSnapshot =>
  snapshot({
    stable: window({ requests: n, seed: 1 }),
    canary: window({ version: '2', requests: n, seed: 2 }),
  });
const nan = (n: number): StatsSnapshot =>
  snapshot({
    stable: window({ requests: n, seed: 3 }),
    canary: window({ version: '2', requests: n, errors: Math.round(n * 0.3), seed: 4 }),
  });
const params = {
  model: 'credit',
  generation: 3,
  startedAtMs: T0,
  analysis,
  durationMs: 60_000,
  looks: Math.ceil(60_000 / analysis.interval),
};

describe('canary watch loop', () => {
  it('returns early on the first failed verdict', async () => {
    const h = harness((t) => (t < 2 ? healthy(20) : nan(60)));
    const r = await watchCanary(h.deps, params);
    expect(r.verdict.status).toBe('failed');
    expect(r.ticks).toBe(3);
    expect(r.endedEarly).toBe(true);
    expect(r.elapsedMs).toBe(10_000);
    expect(h.queries[0]).toEqual({ generation: 3, sinceMs: T0 });
  });

  it('bakes until the deadline and returns the final verdict, heartbeating every tick', async () => {
    const h = harness(() => healthy(200));
    const r = await watchCanary(h.deps, { ...params, durationMs: 20_000 });
    expect(r).toMatchObject({ ticks: 5, endedEarly: false, elapsedMs: 20_000 });
    expect(r.verdict.status).toBe('passed');
    // One beat before the first fetch (to persist the deadline), then one per judgement.
    expect(h.beats.map((b) => b.tick)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(h.beats.map((b) => b.deadlineMs))).toEqual(new Set([T0 + 20_000]));
    expect(h.beats.at(-1)?.lastVerdict?.status).toBe('passed');
  });

  it('judges as many times as plannedLooks counts for the bake, also when it is not a whole number of intervals', async () => {
    for (const durationMs of [20_000, 12_000, 3_000]) {
      const h = harness(() => healthy(200));
      const r = await watchCanary(h.deps, { ...params, durationMs });
      const plan = plannedLooks({
        analysis: { ...analysis, onInconclusive: { ...analysis.onInconclusive, maxExtensions: 0 } },
        steps: [{ setWeight: 10 }, { bake: durationMs }],
      });
      expect(r.ticks, `${durationMs} ms`).toBe(plan);
    }
  });

  it('returns an inconclusive final verdict when the bake ends before enough samples', async () => {
    const h = harness(() => healthy(10));
    const r = await watchCanary(h.deps, { ...params, durationMs: 10_000 });
    expect(r.verdict.status).toBe('inconclusive');
    expect(r.endedEarly).toBe(false);
  });

  it('stops as soon as the analysis is conclusive when stopWhenConclusive is set', async () => {
    const h = harness((t) => healthy(t === 0 ? 10 : 200));
    const r = await watchCanary(h.deps, { ...params, stopWhenConclusive: true });
    expect(r.verdict.status).toBe('passed');
    expect(r).toMatchObject({ ticks: 2, endedEarly: true, elapsedMs: 5_000 });
  });

  it('sequential (the default): a pass ends a bake only after its minimum, a fail ends it at once', async () => {
    expect(sequential.mode).toBe('sequential');
    const seq = { ...params, analysis: sequential, looks: 3, stopWhenConclusive: true };
    // 4000 requests a side show every check non-inferior from the first tick.
    const early = harness(() => healthy(4000));
    const r = await watchCanary(early.deps, { ...seq, minDurationMs: 15_000 });
    expect(r.verdict.status).toBe('passed');
    expect(r.verdict.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'passed']);
    expect(r).toMatchObject({ ticks: 4, endedEarly: true, elapsedMs: 15_000 });
    // Ticks that go on skip the confidence sequences' ends; the verdict returned carries them.
    for (const c of r.verdict.checks)
      expect(c.interval?.confidence).toBeCloseTo(1 - (c.evidence?.['alpha'] as number), 12);
    for (const c of r.verdict.checks)
      expect(c.evidence?.['compares']).toMatch(/^canary v2 \(candidate\) vs stable v1 \(champion\)/);
    const failing = harness((t) => (t < 1 ? healthy(20) : nan(400)));
    const f = await watchCanary(failing.deps, { ...seq, minDurationMs: 60_000 });
    expect(f).toMatchObject({ ticks: 2, endedEarly: true, elapsedMs: 5_000 });
    expect(f.verdict.status).toBe('failed');
  });

  it('sequential: at the deadline an undecided check within its margin passes on the point estimate', async () => {
    const seq = { ...params, analysis: sequential, looks: 3, stopWhenConclusive: true, durationMs: 10_000 };
    // 300 healthy requests a side: too few to show non-inferiority, nothing against the candidate.
    const h = harness(() => healthy(300));
    const r = await watchCanary(h.deps, seq);
    expect(r).toMatchObject({ ticks: 3, endedEarly: false });
    expect(r.verdict.status).toBe('passed');
    const decided = r.verdict.checks.filter((c) => c.evidence?.['decidedOnPointEstimate'] === true);
    expect(decided.length).toBeGreaterThan(0);
    expect(h.beats.slice(1, -1).every((b) => b.lastVerdict?.status === 'inconclusive')).toBe(true);
    // A canary leaning beyond the margin (3 % more errors, not yet significant) stays inconclusive.
    const leaning = harness(() =>
      snapshot({
        stable: window({ requests: 100, seed: 5 }),
        canary: window({ version: '2', requests: 100, errors: 3, seed: 6 }),
      }),
    );
    const l = await watchCanary(leaning.deps, seq);
    expect(l.verdict.status).toBe('inconclusive');
  });

  it('resumes after a crash to the same absolute deadline and tick count', async () => {
    const first = harness(() => healthy(200));
    // First attempt: let it judge twice, then "crash" (cancel) during the third sleep.
    const ac = new AbortController();
    let sleeps = 0;
    first.deps = {
      ...first.deps,
      signal: ac.signal,
      sleep: (ms) => {
        sleeps += 1;
        first.clock.set(first.clock.get() + ms);
        if (sleeps === 2) ac.abort();
        return Promise.resolve();
      },
    };
    await expect(watchCanary(first.deps, { ...params, durationMs: 30_000 })).rejects.toBeInstanceOf(
      WatchCancelledError,
    );
    const details = first.beats.at(-1);
    expect(details).toMatchObject({ tick: 2, deadlineMs: T0 + 30_000 });

    // Second attempt starts 7 s later on another worker with the last heartbeat.
    const second = harness(() => healthy(200), { resumeFrom: details });
    second.clock.set(T0 + 17_000);
    const r = await watchCanary(second.deps, { ...params, durationMs: 30_000 });
    expect(r.endedEarly).toBe(false);
    expect(second.clock.get()).toBe(T0 + 30_000);
    expect(second.beats.every((b) => b.deadlineMs === T0 + 30_000)).toBe(true);
    // Judgements at 17 s, 22 s, 27 s, 30 s continue the count from 2.
    expect(r.ticks).toBe(6);
  });

  it('ignores heartbeat details of another generation', async () => {
    const stale: WatchHeartbeat = { kind: 'canary', model: 'credit', generation: 2, tick: 9, deadlineMs: T0 };
    const h = harness(() => healthy(200), { resumeFrom: stale });
    const r = await watchCanary(h.deps, { ...params, durationMs: 10_000 });
    expect(r.ticks).toBe(3);
    expect(h.beats[0]?.deadlineMs).toBe(T0 + 10_000);
  });

  it('ends promptly with a typed error when cancelled while waiting for stats', async () => {
    const ac = new AbortController();
    const deps: WatchDeps = {
      admin: { stats: () => new Promise<StatsSnapshot>(() => undefined) },
      heartbeat: () => undefined,
      sleep: () => Promise.resolve(),
      now: () => T0,
      signal: ac.signal,
    };
    const running = watchCanary(deps, params);
    setTimeout(() => ac.abort(), 5);
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchCancelledError);
    expect(err).toMatchObject({ code: 'LIVE_WATCH_CANCELLED', retry: 'terminal' });
  });

  it('propagates a stats error with its retry class', async () => {
    const boom = Object.assign(new Error('down'), { code: 'GATEWAY_UNREACHABLE' });
    const deps: WatchDeps = {
      admin: { stats: () => Promise.reject(boom) },
      heartbeat: () => undefined,
      sleep: () => Promise.resolve(),
      now: () => T0,
    };
    await expect(watchCanary(deps, params)).rejects.toBe(boom);
  });
});

describe('shadow watch loop', () => {
  const shadow = Shadow.parse({ minRequests: 100, minDuration: '10s', maxDuration: '1m' });
  const shadowWindow = (requests: number, errors = 0): StatsSnapshot =>
    snapshot(
      {
        stable: window({ requests, seed: 5 }),
        shadow: window({ version: '2', requests, errors, seed: 6 }),
      },
      { pairs: requests, observedPairs: requests, agreements: requests - errors, nanCount: errors },
    );
  const base = { model: 'credit', generation: 3, startedAtMs: T0, shadow, durationMs: 60_000 };

  it('waits for readiness, then returns the passed verdict', async () => {
    const h = harness((t) => shadowWindow(30 * (t + 1)));
    const v = await watchShadow(h.deps, base);
    expect(v.status).toBe('passed');
    // Ready needs 100 requests (tick 4) and 10 s (tick 11, at 1 s per tick).
    expect(h.clock.get()).toBe(T0 + 10_000);
  });

  it('returns at once on a clear failure before readiness', async () => {
    const h = harness((t) => shadowWindow(20 * (t + 1), t >= 2 ? 5 : 0));
    const v = await watchShadow(h.deps, base);
    expect(v.status).toBe('failed');
    expect(h.clock.get()).toBe(T0 + 2_000);
  });

  it('fails at maxDuration when the shadow never gets enough requests', async () => {
    const h = harness(() => shadowWindow(40));
    const v = await watchShadow(h.deps, base);
    expect(v.status).toBe('failed');
    expect(v.summary).toContain('40/100');
    expect(h.clock.get()).toBe(T0 + 60_000);
  });
});

describe('alpha spending across looks', () => {
  const analysis = CanaryAnalysis.parse({
    interval: '1s',
    errorRateAlpha: 0.05,
    latency: { alpha: 0.02 },
    prediction: { ksAlpha: 0.01 },
    onInconclusive: { extendBy: '3s', maxExtensions: 2 },
  });

  it('divides every significance level by the number of planned looks', () => {
    const spent = alphaSpent(analysis, 10);
    expect(spent.errorRateAlpha).toBeCloseTo(0.005, 12);
    expect(spent.latency.alpha).toBeCloseTo(0.002, 12);
    expect(spent.prediction.ksAlpha).toBeCloseTo(0.001, 12);
    expect(alphaSpent(analysis, 1).errorRateAlpha).toBe(0.05);
    expect(() => alphaSpent(analysis, 0)).toThrow(/positive integer/);
  });

  it('plans a look per interval of every bake and analysis step, extensions included', () => {
    const canary: Canary = {
      analysis,
      steps: [
        { setWeight: 10 },
        { bake: 4_000 },
        { pause: { duration: 60_000 } },
        { setWeight: 50 },
        { analysis: { maxDuration: 2_500 } },
        { pause: { approvers: ['alice'] } },
      ],
    };
    // A watch of d seconds at 1 s judges at 0, 1, 2, … and at d: ceil(d) + 1 times.
    // Bake: 5 + 2 extensions × 4 = 13; analysis (0, 1, 2, 2.5 s): 4 + 8 = 12; pauses judge nothing.
    expect(plannedLooks(canary)).toBe(25);
    expect(plannedLooks({ analysis, steps: [{ setWeight: 100 }] })).toBe(1);
  });
});
