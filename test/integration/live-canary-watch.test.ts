import { startSampleGateway, type SampleGateway } from '../support/sample-gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleepUnlessAborted, watchCanary, type WatchHeartbeat } from '../../src/live/watch';
import { sampleDataset } from '../../src/samples/datasets';
import { type GatewayAdminClient, type StatsSnapshot } from '../../src/serving/admin-client';
import { type GatewayHandle } from '../../src/serving/server';
import { CanaryAnalysis } from '../../src/spec/schema';
import { runTraffic } from '../../src/traffic/run';

const TOKEN = 'live-watch-token';
// The default analysis: sequential. One window, so its alphas are divided by nothing (plannedTests = 1).
const analysis = CanaryAnalysis.parse({ interval: '1s', minSamples: 50 });
// Margins loose enough that 100 requests/s show a healthy canary non-inferior within seconds (the
// planner says some 10 s at these; the benchmark measures the spec's defaults on realistic traffic).
const loose = CanaryAnalysis.parse({
  interval: '1s',
  minSamples: 50,
  maxErrorRateIncrease: 0.05,
  latency: { maxIncreaseRatio: 2 },
  prediction: { maxPsi: 1 },
});
const bonferroni = CanaryAnalysis.parse({ mode: 'bonferroni', interval: '1s', minSamples: 50 });

let gw: GatewayHandle;
let admin: GatewayAdminClient;
let generation = 0;

let stack: SampleGateway;

beforeAll(async () => {
  stack = await startSampleGateway(
    'live-watch',
    'credit',
    { '1': 'good', '2': { variant: 'good', seed: 2 }, '3': 'nan' },
    TOKEN,
  );
  ({ gw, admin } = stack);
});

afterAll(async () => {
  await stack?.close();
});

/** Routes 50 % to `canary`, runs traffic, and watches the canary with real stats, clock and sleep. */
async function bakeWith(
  canary: string,
  shift: number[] | undefined,
  stopWhenConclusive: boolean,
  how: { analysis?: CanaryAnalysis; minDurationMs?: number; durationMs?: number } = {},
) {
  const judged = how.analysis ?? analysis;
  const durationMs = how.durationMs ?? 45_000;
  generation += 1;
  const view = await admin.putRouting('credit', {
    generation,
    stable: { version: '1' },
    canary: { version: canary, weight: 50 },
  });
  const startedAtMs = Date.parse(view.appliedAt);
  const snapshots: StatsSnapshot[] = [];
  const beats: WatchHeartbeat[] = [];
  const stopTraffic = new AbortController();
  const traffic = runTraffic({
    gatewayUrl: gw.url,
    model: 'credit',
    rps: 100,
    durationMs: durationMs + 15_000,
    // A busy CI machine can hold an answer for seconds; a timeout would count as a network error.
    requestTimeoutMs: 45_000,
    maxInFlight: 1000,
    dataset: sampleDataset({ rows: 2000, seed: 31, ...(shift ? { shift } : {}) }),
    signal: stopTraffic.signal,
  });
  try {
    const result = await watchCanary(
      {
        admin: {
          stats: async (model, query) => {
            const s = await admin.stats(model, query);
            snapshots.push(s);
            return s;
          },
        },
        heartbeat: (d) => beats.push(d),
        sleep: sleepUnlessAborted,
        now: Date.now,
      },
      {
        model: 'credit',
        generation,
        startedAtMs,
        analysis: judged,
        durationMs,
        looks: judged.mode === 'sequential' ? 1 : Math.ceil(durationMs / judged.interval) + 1,
        stopWhenConclusive,
        ...(how.minDurationMs !== undefined ? { minDurationMs: how.minDurationMs } : {}),
      },
    );
    return { result, snapshots, beats };
  } finally {
    stopTraffic.abort();
    await traffic;
  }
}

const enough = (s: StatsSnapshot): boolean =>
  (s.variants.stable?.requests ?? 0) >= analysis.minSamples &&
  (s.variants.canary?.requests ?? 0) >= analysis.minSamples;

describe('canary watch against a real gateway with real traffic', () => {
  it('fails a NaN canary on error rate within two intervals of minSamples being reached', async () => {
    // f0 shifted by 2: about 31 % of rows have f0 > 2.5, where the `nan` model answers NaN (a 502).
    const shift = Array.from({ length: 12 }, (_, i) => (i === 0 ? 2 : 0));
    const { result, snapshots, beats } = await bakeWith('3', shift, false);
    expect(result.verdict.status).toBe('failed');
    expect(result.endedEarly).toBe(true);
    const err = result.verdict.checks.find((c) => c.name === 'error rate increase');
    expect(err?.status).toBe('failed');
    expect(err?.value).toBeGreaterThan(0.15);
    // Judged on the tick minSamples were first in, or the next one.
    const firstEnough = snapshots.findIndex(enough);
    expect(firstEnough).toBeGreaterThanOrEqual(0);
    expect(snapshots.length - 1 - firstEnough).toBeLessThanOrEqual(1);
    // Before that, every judgement was "waiting for samples", never a failure.
    for (const b of beats.slice(1, firstEnough + 1)) expect(b.lastVerdict?.status).toBe('inconclusive');
    expect(beats.at(-1)).toMatchObject({ tick: result.ticks, lastVerdict: { status: 'failed' } });
    // Compact enough for workflow history.
    expect(JSON.stringify(result).length).toBeLessThan(8000);
  });

  it('sequential: a healthy canary ends after its minimum, long before its maximum, every check non-inferior', async () => {
    const started = Date.now();
    const { result, snapshots } = await bakeWith('2', undefined, true, {
      analysis: loose,
      minDurationMs: 5_000,
      durationMs: 120_000,
    });
    expect(result.verdict.status, result.verdict.summary).toBe('passed');
    expect(result.endedEarly).toBe(true);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(5_000);
    expect(Date.now() - started).toBeLessThan(110_000);
    // Shown by the e-processes, not passed on a point estimate at the deadline.
    for (const c of result.verdict.checks) {
      expect(c.status, c.message).toBe('passed');
      expect(c.evidence?.['decidedOnPointEstimate']).toBeUndefined();
    }
    expect(enough(snapshots.at(-1)!)).toBe(true);
    console.log(`[live] sequential healthy canary ended after ${result.elapsedMs} ms of a 120 s maximum`);
  }, 150_000);

  it('bonferroni: passes a healthy canary as soon as the analysis is conclusive', async () => {
    const { result, snapshots } = await bakeWith('2', undefined, true, { analysis: bonferroni });
    expect(result.verdict.status).toBe('passed');
    expect(result.endedEarly).toBe(true);
    expect(result.verdict.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'passed']);
    expect(enough(snapshots.at(-1)!)).toBe(true);
  });
});
