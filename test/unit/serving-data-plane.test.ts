import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { RoutingPut, RoutingSpec } from '../../src/routing/schema';
import { DataPlane } from '../../src/serving/data-plane';
import { GatewayMetrics } from '../../src/serving/metrics';
import type { ModelLookup } from '../../src/serving/model-lookup';
import { ModelRateLimiter } from '../../src/serving/rate-limit';
import { sameSpec } from '../../src/serving/routing';
import { RoutingState } from '../../src/serving/routing-state';
import { StatsStore } from '../../src/serving/stats-store';
import type { Tensor } from '../../src/serving/tensors';
import type { ReadyVersion, VersionHost } from '../../src/serving/version-host';
import { DEFAULT_WINDOW_STATS } from '../../src/serving/window-stats';
import type { ModelSignature } from '../../src/serving/worker/messages';

/**
 * The data plane scores live requests by the contract's `scoreOutput` carried in the routing spec,
 * the rule the offline gates use; without it, the first floating output. Version hosts are stand-ins
 * answering fixed outputs, so this checks which output is read, not inference.
 */

const signature: ModelSignature = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }],
  outputs: [
    { name: 'first', dtype: 'float32', shape: [-1] },
    { name: 'second', dtype: 'float32', shape: [-1] },
  ],
};

const outputs: readonly Tensor[] = [
  { name: 'first', dtype: 'float32', dims: [2], data: Float32Array.from([0.25, 0.5]) },
  { name: 'second', dtype: 'float32', dims: [2], data: Float32Array.from([0.75, 1]) },
];

function host(infer: () => Promise<readonly Tensor[]> = () => Promise.resolve(outputs)): VersionHost {
  const ready = {
    signature,
    // Never at once: these versions answer through the asynchronous path.
    inferNow: () => undefined,
    infer,
  } as unknown as ReadyVersion;
  return {
    ready: () => ready,
    status: () => ({ status: 'ready' }),
  } as unknown as VersionHost;
}

function plane(spec: RoutingSpec, shadowHost: VersionHost = host()): { plane: DataPlane; stats: StatsStore } {
  const routing = new RoutingState({ exists: () => Promise.resolve(true) } as unknown as ModelLookup);
  routing.markRestored();
  routing.set('m', { generation: 1, spec, appliedAt: new Date(0).toISOString() });
  const stats = new StatsStore(DEFAULT_WINDOW_STATS);
  const dataPlane = new DataPlane(
    {
      servingHost: host(),
      shadowHost,
      metrics: new GatewayMetrics(),
      limiter: new ModelRateLimiter(() => undefined),
      logger: pino({ level: 'silent' }),
      maxShadowBacklog: 8,
    },
    routing,
    stats,
  );
  return { plane: dataPlane, stats };
}

async function liveScores(spec: RoutingSpec): Promise<number[]> {
  const routing = new RoutingState({ exists: () => Promise.resolve(true) } as unknown as ModelLookup);
  routing.markRestored();
  routing.set('m', { generation: 1, spec, appliedAt: new Date(0).toISOString() });
  const stats = new StatsStore(DEFAULT_WINDOW_STATS);
  const plane = new DataPlane(
    {
      servingHost: host(),
      shadowHost: host(),
      metrics: new GatewayMetrics(),
      limiter: new ModelRateLimiter(() => undefined),
      logger: pino({ level: 'silent' }),
      maxShadowBacklog: 8,
    },
    routing,
    stats,
  );
  await plane.infer({
    model: 'm',
    parse: () => ({ inputs: [], rows: 2 }),
  });
  const snapshot = stats.view('m', 1, { sinceMs: 0, threshold: 0.5 });
  return [...(snapshot.variants.stable?.scores ?? [])].sort();
}

describe('data plane – live scores follow the routing spec', () => {
  it('reads the first floating output when the routing names no scoreOutput', async () => {
    expect(await liveScores({ stable: { version: '1' } })).toEqual([0.25, 0.5]);
  });

  it("reads the contract's scoreOutput when the routing carries it", async () => {
    expect(await liveScores({ stable: { version: '1' }, scoreOutput: 'second' })).toEqual([0.75, 1]);
  });
});

describe('routing schema – scoreOutput is part of the desired state', () => {
  it('is accepted in the PUT body and compared like any other field', () => {
    const put = RoutingPut.parse({ generation: 3, stable: { version: '1' }, scoreOutput: 'second' });
    expect(put.scoreOutput).toBe('second');
    expect(sameSpec({ stable: { version: '1' } }, { stable: { version: '1' }, scoreOutput: 'second' })).toBe(
      false,
    );
    expect(RoutingSpec.safeParse({ stable: { version: '1' }, scoreOutput: '' }).success).toBe(false);
  });
});

describe('data plane – the shadow never holds a caller', () => {
  it('answers every caller from stable while the shadow has not answered one request', async () => {
    let shadowCalls = 0;
    // A shadow whose inference never finishes: the caller's answer must not wait for it.
    const stuck = host(() => {
      shadowCalls++;
      return new Promise<readonly Tensor[]>(() => undefined);
    });
    const { plane: p, stats } = plane(
      { stable: { version: '1' }, shadow: { version: '2', sampleRate: 100 } },
      stuck,
    );
    for (let i = 0; i < 5; i++) {
      const answer = await p.infer({ model: 'm', parse: () => ({ inputs: [], rows: 2 }) });
      expect(answer.variant).toBe('stable');
    }
    const snapshot = stats.view('m', 1, { sinceMs: 0, threshold: 0.5 });
    expect(snapshot.variants.stable?.requests).toBe(5);
    expect(snapshot.variants.shadow?.requests ?? 0).toBe(0);
    expect(shadowCalls).toBeGreaterThan(0);
  });
});
