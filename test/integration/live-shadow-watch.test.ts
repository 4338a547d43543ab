import { startSampleGateway, type SampleGateway } from '../support/sample-gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleepUnlessAborted, watchShadow } from '../../src/live/watch';
import { sampleDataset } from '../../src/samples/datasets';
import { type GatewayAdminClient } from '../../src/serving/admin-client';
import { type GatewayHandle } from '../../src/serving/server';
import { Shadow } from '../../src/spec/schema';
import { runTraffic } from '../../src/traffic/run';

const TOKEN = 'live-shadow-token';
const shadow = Shadow.parse({ minRequests: 100, minDuration: '2s', maxDuration: '40s' });

let gw: GatewayHandle;
let admin: GatewayAdminClient;
let generation = 0;

let stack: SampleGateway;

beforeAll(async () => {
  stack = await startSampleGateway(
    'live-shadow',
    'credit',
    { '1': 'good', '2': { variant: 'good', seed: 2 }, '3': 'nan' },
    TOKEN,
  );
  ({ gw, admin } = stack);
});

afterAll(async () => {
  await stack?.close();
});

async function shadowWith(version: string, shift: number[] | undefined) {
  generation += 1;
  const view = await admin.putRouting('credit', {
    generation,
    stable: { version: '1' },
    shadow: { version, sampleRate: 100 },
  });
  const startedAtMs = Date.parse(view.appliedAt);
  const stop = new AbortController();
  const traffic = runTraffic({
    gatewayUrl: gw.url,
    model: 'credit',
    rps: 100,
    durationMs: 60_000,
    // A busy CI machine can hold an answer for seconds; a timeout would count as a network error.
    requestTimeoutMs: 45_000,
    maxInFlight: 1000,
    dataset: sampleDataset({ rows: 2000, seed: 51, ...(shift ? { shift } : {}) }),
    signal: stop.signal,
  });
  try {
    const verdict = await watchShadow(
      { admin, heartbeat: () => undefined, sleep: sleepUnlessAborted, now: Date.now },
      { model: 'credit', generation, startedAtMs, shadow, durationMs: shadow.maxDuration },
    );
    const elapsedMs = Date.now() - startedAtMs;
    stop.abort();
    return { verdict, elapsedMs, traffic: await traffic };
  } finally {
    stop.abort();
    await traffic;
  }
}

describe('shadow watch against a real gateway with real traffic', () => {
  it('passes a healthy shadow once minRequests and minDuration are reached, without touching callers', async () => {
    const { verdict, elapsedMs, traffic } = await shadowWith('2', undefined);
    expect(verdict.status).toBe('passed');
    expect(elapsedMs).toBeGreaterThanOrEqual(shadow.minDuration);
    expect(verdict.checks.find((c) => c.name === 'shadow error rate')?.sampleSize).toBeGreaterThanOrEqual(
      100,
    );
    expect(traffic.errors).toBe(0);
    expect(Object.keys(traffic.byVariant)).toEqual(['stable']);
  });

  it('fails a NaN shadow on errors before it is even ready, while callers see no errors', async () => {
    const shift = Array.from({ length: 12 }, (_, i) => (i === 0 ? 2 : 0));
    const { verdict, traffic } = await shadowWith('3', shift);
    expect(verdict.status).toBe('failed');
    const err = verdict.checks.find((c) => c.name === 'shadow error rate');
    expect(err?.status).toBe('failed');
    // The error budget of the whole minimum window was spent before minRequests were in.
    expect(err?.evidence).toMatchObject({ early: true });
    expect(traffic.errors).toBe(0);
  });
});
