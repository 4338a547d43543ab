import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { startSampleGateway, type SampleGateway } from '../support/sample-gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDataset } from '../../src/samples/datasets';
import { type GatewayAdminClient } from '../../src/serving/admin-client';
import { type GatewayHandle } from '../../src/serving/server';
import { runTraffic, type TrafficResponse, type TrafficSummary } from '../../src/traffic/run';
import { isLoopbackHost } from '../../src/traffic/target';

const TOKEN = 'traffic-test-token';
const rows = sampleDataset({ rows: 500, seed: 21 });
/**
 * These tests count exactly, so neither bound may bite on a loaded 2-core machine, where answers
 * took up to 3 s (p99) and a 10 s timeout did hit once: no request times out or is skipped here.
 * The bounds themselves are the subject of no test in this file.
 */
const PATIENT = { requestTimeoutMs: 45_000, maxInFlight: 1000 } as const;

let gw: GatewayHandle;
let admin: GatewayAdminClient;
let generation = 0;

async function route(spec: { canary?: { version: string; weight: number } }): Promise<number> {
  generation += 1;
  await admin.putRouting('credit', { generation, stable: { version: '1' }, ...spec });
  return generation;
}

function total(s: TrafficSummary): number {
  return Object.values(s.byVariant).reduce((a, v) => a + v.requests, 0);
}

let stack: SampleGateway;

beforeAll(async () => {
  stack = await startSampleGateway(
    'traffic',
    'credit',
    { '1': 'good', '2': { variant: 'good', seed: 2 } },
    TOKEN,
  );
  ({ gw, admin } = stack);
});

afterAll(async () => {
  await stack?.close();
});

describe('traffic generator against a real gateway', () => {
  it('sends rps × duration requests split between stable and canary, matching the gateway stats', async () => {
    const gen = await route({ canary: { version: '2', weight: 30 } });
    const s = await runTraffic({
      gatewayUrl: gw.url,
      ...PATIENT,
      model: 'credit',
      rps: 100,
      durationMs: 3000,
      dataset: rows,
    });
    expect(s).toMatchObject({ planned: 300, sent: 300, ok: 300, errors: 0, skipped: 0, stoppedEarly: false });
    expect(s.byStatus).toEqual({ '200': 300 });
    expect(total(s)).toBe(300);
    const canaryShare = (s.byVariant.canary?.requests ?? 0) / 300;
    expect(canaryShare).toBeGreaterThan(0.15);
    expect(canaryShare).toBeLessThan(0.45);
    expect(s.byVersion).toEqual({ '1': s.byVariant.stable?.requests, '2': s.byVariant.canary?.requests });
    expect(s.latencyMs?.p50).toBeGreaterThan(0);
    expect(s.latencyMs!.p99).toBeGreaterThanOrEqual(s.latencyMs!.p50);
    // The timeline runs second by second from 0 over the 3 s and accounts for every request. It is
    // by actual send time, so on a busy machine a late request can land in second 3.
    expect(s.timeline.length).toBeGreaterThanOrEqual(3);
    expect(s.timeline.map((t) => t.second)).toEqual(s.timeline.map((_, i) => i));
    const fromTimeline = s.timeline
      .flatMap((t) => Object.values(t.variants))
      .reduce((a, c) => a + c.ok + c.error, 0);
    expect(fromTimeline).toBe(300);
    // The gateway saw exactly what we sent.
    const stats = await admin.stats('credit', { generation: gen });
    expect(stats.variants.stable?.requests).toBe(s.byVariant.stable?.requests);
    expect(stats.variants.canary?.requests).toBe(s.byVariant.canary?.requests);
  });

  it('keeps each routing key on one variant and speaks the MLflow protocol too', async () => {
    await route({ canary: { version: '2', weight: 50 } });
    const seen = new Map<string, Set<string>>();
    const s = await runTraffic({
      gatewayUrl: gw.url,
      ...PATIENT,
      model: 'credit',
      rps: 100,
      durationMs: 1000,
      protocol: 'invocations',
      rowsPerRequest: 3,
      routingKeys: Array.from({ length: 20 }, (_, i) => `user-${i}`),
      dataset: rows,
      onResponse: (r: TrafficResponse) => {
        const set = seen.get(r.routingKey ?? '') ?? new Set<string>();
        set.add(r.variant ?? 'none');
        seen.set(r.routingKey ?? '', set);
      },
    });
    expect(s.ok).toBe(100);
    expect(seen.size).toBe(20);
    for (const variants of seen.values()) expect(variants.size).toBe(1);
    const variantsUsed = new Set([...seen.values()].flatMap((v) => [...v]));
    expect(variantsUsed).toEqual(new Set(['stable', 'canary']));
  });

  it('stops at maxRequests and when aborted', async () => {
    await route({});
    const capped = await runTraffic({
      gatewayUrl: gw.url,
      ...PATIENT,
      model: 'credit',
      rps: 200,
      durationMs: 3000,
      maxRequests: 40,
      dataset: rows,
    });
    expect(capped).toMatchObject({ planned: 40, sent: 40, ok: 40 });

    const ac = new AbortController();
    let answered = 0;
    const aborted = await runTraffic({
      gatewayUrl: gw.url,
      ...PATIENT,
      model: 'credit',
      rps: 100,
      durationMs: 10_000,
      dataset: rows,
      signal: ac.signal,
      onResponse: () => {
        answered += 1;
        if (answered === 30) ac.abort();
      },
    });
    expect(aborted.stoppedEarly).toBe(true);
    expect(aborted.sent).toBeLessThan(1000);
    expect(aborted.ok).toBeGreaterThanOrEqual(30);
    expect(aborted.errors).toBe(0);
  });

  it('rolls back mid-traffic without a single caller getting an error', async () => {
    await route({ canary: { version: '2', weight: 50 } });
    let rolledBack: Promise<number> | undefined;
    let appliedAt = Number.POSITIVE_INFINITY;
    const afterRollback: string[] = [];
    const s = await runTraffic({
      gatewayUrl: gw.url,
      ...PATIENT,
      model: 'credit',
      rps: 100,
      durationMs: 3000,
      dataset: rows,
      onResponse: (r) => {
        if (rolledBack === undefined && r.sentAtMs > 1000)
          rolledBack = route({}).finally(() => (appliedAt = performance.now()));
        // latencyMs ends just before this call, so this is when the request was sent.
        if (performance.now() - r.latencyMs > appliedAt) afterRollback.push(r.variant ?? 'none');
      },
    });
    expect(await rolledBack).toBe(generation);
    expect(s.errors).toBe(0);
    expect(s.byStatus).toEqual({ '200': 300 });
    // Every request sent once the rollback was applied went to stable, however long applying took.
    expect(afterRollback.length).toBeGreaterThan(0);
    expect(new Set(afterRollback)).toEqual(new Set(['stable']));
    expect(s.byVariant.canary?.requests).toBeGreaterThan(0);
  });

  it('refuses a non-loopback gateway without sending anything', async () => {
    // A real listener on every interface, addressed through a non-loopback address of this machine.
    let hits = 0;
    const server: Server = createServer((_req, res) => {
      hits += 1;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as AddressInfo).port;
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal && !isLoopbackHost(a.address));
    const host = external?.address ?? '192.0.2.1';
    const calls: TrafficResponse[] = [];
    try {
      await expect(
        runTraffic({
          gatewayUrl: `http://${host}:${port}`,
          model: 'credit',
          rps: 100,
          durationMs: 1000,
          dataset: rows,
          onResponse: (r) => calls.push(r),
        }),
      ).rejects.toMatchObject({ code: 'TRAFFIC_TARGET_REFUSED', retry: 'terminal' });
      await expect(
        runTraffic({
          gatewayUrl: 'http://example.com',
          model: 'credit',
          rps: 1,
          durationMs: 1000,
          dataset: rows,
        }),
      ).rejects.toMatchObject({ code: 'TRAFFIC_TARGET_REFUSED' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(hits).toBe(0);
    expect(calls).toEqual([]);
    // Loopback spellings are accepted.
    for (const h of ['127.0.0.1', '127.3.2.1', 'localhost', '[::1]'])
      expect(isLoopbackHost(new URL(`http://${h}:1/`).hostname)).toBe(true);
    for (const h of ['10.0.0.1', '128.0.0.1', 'localhost.example.com', '[::2]'])
      expect(isLoopbackHost(new URL(`http://${h}:1/`).hostname)).toBe(false);
  });
});
