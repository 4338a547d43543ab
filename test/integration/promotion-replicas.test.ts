import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import { adminFor } from '../../src/config/gateway';
import type { Dataset } from '../../src/dataset/dataset';
import type { TargetRef } from '../../src/promotion/contracts';
import { writeDatasetCsv } from '../../src/samples/datasets';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { runTraffic, type TrafficSummary } from '../../src/traffic';
import { createHarness, uniqueModel, type Harness } from '../support/harness';
import { GATEWAY_TOKEN, cleanRows, liveSpec, nanTriggeringRows } from '../support/live';
import { startDnsResponder } from '../support/dns-responder';
import { startReplica, until, type ReplicaProcess } from '../support/replica-gateways';
import { stack } from '../support/stack';
import { untilStatus } from '../support/wait';

/**
 * Whole promotions through Temporal across three gateway processes (127.0.0.1, .2, .3 on one port),
 * loading versions from the test MLflow server: one replica killed mid-canary and brought back, and a
 * live failure rolled back on every replica.
 */

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;

let h: Harness;
let port = 0;
const stateDirs: string[] = [];
const replicas: (ReplicaProcess | undefined)[] = [];

const urls = (): string[] => HOSTS.map((host) => `http://${host}:${port}`);
const direct = (i: number): GatewayAdminClient =>
  new GatewayAdminClient({ baseUrl: urls()[i] ?? '', token: GATEWAY_TOKEN });
const target = (quorum?: number): TargetRef => ({
  url: urls()[0] ?? '',
  replicas: urls(),
  tokenEnv: 'PROGRADE_GATEWAY_TOKEN',
  ...(quorum !== undefined ? { quorum } : {}),
});

async function start(i: number): Promise<ReplicaProcess> {
  const r = await startReplica({
    host: HOSTS[i] ?? '127.0.0.1',
    port,
    stateDir: stateDirs[i] ?? '',
    replicaId: `replica-${i + 1}`,
    env: { MLFLOW_TRACKING_URI: stack.mlflowUri(), PROGRADE_GATEWAY_TOKEN: GATEWAY_TOKEN },
  });
  port = r.port;
  replicas[i] = r;
  return r;
}

/** The spec's target naming the three replicas. */
function replicatedSpec(spec: PromotionSpecInput, quorum?: number): PromotionSpecInput {
  return {
    ...spec,
    target: {
      type: 'gateway',
      replicas: urls(),
      tokenEnv: 'PROGRADE_GATEWAY_TOKEN',
      ...(quorum !== undefined ? { quorum } : {}),
    },
  };
}

/** Traffic to one replica until stopped. */
function trafficTo(i: number, model: string, dataset: Dataset, rps: number) {
  const abort = new AbortController();
  const done = runTraffic({
    gatewayUrl: urls()[i] ?? '',
    model,
    rps,
    durationMs: 180_000,
    dataset,
    signal: abort.signal,
    requestTimeoutMs: 45_000,
  });
  return {
    stop: async (): Promise<TrafficSummary> => {
      abort.abort();
      return done;
    },
  };
}

async function servedChampion(prefix: string): Promise<{ model: string; champion: string }> {
  const model = uniqueModel(prefix);
  const champion = await h.register(model, 'good', 'champion');
  await adminFor(target(), process.env).putRouting(
    model,
    { generation: 1, stable: { version: champion } },
    'test setup',
  );
  return { model, champion };
}

beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
  for (let i = 0; i < 3; i++) stateDirs.push(mkdtempSync(join(h.dir, `replica-${i + 1}-`)));
  await start(0);
  await Promise.all([start(1), start(2)]);
}, 180_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => (r ? r.kill() : Promise.resolve())));
  await h?.close();
});

describe('promotion across three gateway replicas', () => {
  it('promotes by quorum while one replica is killed mid-canary, and the replica catches up when it returns', async () => {
    const { model } = await servedChampion('replicas-quorum');
    const candidate = await h.register(model, 'good', undefined, 5);
    const traffic = [0, 1, 2].map((i) => trafficTo(i, model, cleanRows(3000, 31 + i), 25));
    const spec = replicatedSpec(
      liveSpec(model, urls()[0] ?? '', { shadow: false, weights: [20, 50, 80], bake: '8s' }),
      2,
    );
    const { handle } = await startPromotion(h.client, h.input(spec, candidate), h.taskQueue);

    await untilStatus(handle, (s) => s.phase === 'canary' && (s.live?.weight ?? 0) === 50, 'canary at 50%');
    await traffic[2]?.stop();
    await replicas[2]?.kill();
    // The next step goes on with two of the three replicas.
    const at80 = await untilStatus(
      handle,
      (s) => (s.live?.weight ?? 0) === 80,
      'canary at 80% without replica 3',
    );
    const g80 = at80.live?.generation ?? 0;
    expect((await direct(0).getRouting(model))?.generation).toBe(g80);

    await start(2);
    // Back from its persisted state (the 50% generation), then caught up by the watch to the 80% one.
    await until(
      async () => (await direct(2).getRouting(model))?.generation === g80,
      'replica 3 caught up to the 80% generation',
      30_000,
    );
    traffic[2] = trafficTo(2, model, cleanRows(3000, 40), 25);
    const final = await handle.result();
    const summaries = await Promise.all(traffic.map((t) => t?.stop()));

    expect(final.outcome, final.reason).toBe('promoted');
    const views = await Promise.all([0, 1, 2].map((i) => direct(i).getRouting(model)));
    const last = views[0]?.generation;
    expect(views.map((v) => v?.generation)).toEqual([last, last, last]);
    for (const v of views) expect(v?.spec).toEqual({ stable: { version: candidate } });
    const audit3 = await direct(2).audit(model);
    expect(audit3.find((e) => e.note === 'prograde replica catch-up')).toMatchObject({
      generation: g80,
      replica: 'replica-3',
    });
    expect(audit3.every((e) => e.replica === 'replica-3')).toBe(true);
    // Replicas 1 and 2 never lost a request; replica 3's clients saw its restart only.
    for (const s of summaries.slice(0, 2)) expect(s?.errors ?? 1).toBe(0);
  }, 240_000);

  it('rolls a live failure back on every replica, right after the look that fails it', async () => {
    const { model, champion } = await servedChampion('replicas-nan');
    const candidate = await h.register(model, 'nan');
    const holdout = join(h.dir, 'holdout-replicas-clean.csv');
    await writeDatasetCsv(cleanRows(1500, 11), holdout);
    const clean = [0, 1, 2].map((i) => trafficTo(i, model, cleanRows(3000, 51 + i), 25));
    const spec = replicatedSpec(
      liveSpec(model, urls()[0] ?? '', { shadow: false, weights: [50], bake: '60s' }),
    );
    const { handle } = await startPromotion(
      h.client,
      h.input(spec, candidate, { kind: 'file', path: holdout }),
      h.taskQueue,
    );
    await untilStatus(
      handle,
      (s) => s.phase === 'canary' && (s.live?.weight ?? 0) === 50 && /bake/.test(s.waitingFor ?? ''),
      'canary bake at 50%',
    );
    await new Promise((r) => setTimeout(r, 2_500));
    const failureStarted = Date.now();
    const bad = [0, 1, 2].map((i) => trafficTo(i, model, nanTriggeringRows(3000, 61 + i), 25));
    const final = await handle.result();
    await Promise.all([...clean, ...bad].map((t) => t.stop()));

    expect(final.outcome).toBe('rolled-back');
    const canary = final.gates.find((g) => g.gate === 'canary');
    expect(canary?.status).toBe('failed');
    const ticks = canary?.ticks ?? [];
    const failing = ticks.at(-1);
    expect(failing?.status).toBe('failed');
    const firstSeen = ticks.find((t) => t.at >= failureStarted && (t.variants.canary?.errorRate ?? 0) > 0);

    // Every replica's own audit record of the rollback, and when it applied it.
    const applied = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const rollback = (await direct(i).audit(model)).at(-1);
        expect(rollback?.state).toEqual({ stable: { version: champion } });
        expect(rollback?.replica).toBe(`replica-${i + 1}`);
        return Date.parse(rollback?.at ?? '');
      }),
    );
    const allBack = Math.max(...applied);
    const afterFailingLook = allBack - (failing?.at ?? Number.NaN);
    const afterFirstSeen = allBack - (firstSeen?.at ?? Number.NaN);
    console.log(
      `[replicas] rollback on all 3 replicas: ${afterFailingLook} ms after the failing look, ` +
        `${afterFirstSeen} ms after the first look that saw canary errors, ` +
        `${allBack - failureStarted} ms after NaN traffic began (interval 1000 ms; spread between replicas ${allBack - Math.min(...applied)} ms)`,
    );
    expect(afterFailingLook).toBeGreaterThanOrEqual(0);
    // Loose on purpose (a loaded 2-core box); the measured numbers are printed above.
    expect(afterFailingLook).toBeLessThan(15_000);
    expect(allBack - failureStarted).toBeLessThan(30_000);
  }, 180_000);
  it('follows DNS: a replica added to the A records mid-canary is brought to the rollout’s generation', async () => {
    const dns = await startDnsResponder({ a: { 'gateway.replicas.test': ['127.0.0.1', '127.0.0.2'] } });
    // The in-process worker reads its DNS servers from its environment at every call.
    process.env['PROGRADE_GATEWAY_DNS_SERVERS'] = dns.server;
    try {
      const model = uniqueModel('replicas-dns');
      const champion = await h.register(model, 'good', 'champion');
      // Only the two replicas in DNS serve the model at first; replica 3 has never heard of it.
      for (const i of [0, 1])
        await direct(i).putRouting(model, { generation: 1, stable: { version: champion } }, 'test setup');
      const candidate = await h.register(model, 'good', undefined, 9);
      const traffic = [0, 1].map((i) => trafficTo(i, model, cleanRows(3000, 71 + i), 25));
      const spec: PromotionSpecInput = {
        ...liveSpec(model, urls()[0] ?? '', { shadow: false, weights: [30, 60], bake: '6s' }),
        target: {
          type: 'gateway',
          dns: { name: 'gateway.replicas.test', type: 'A', port, scheme: 'http' },
          tokenEnv: 'PROGRADE_GATEWAY_TOKEN',
        },
      };
      const { handle } = await startPromotion(h.client, h.input(spec, candidate), h.taskQueue);
      const at30 = await untilStatus(handle, (s) => (s.live?.weight ?? 0) === 30, 'canary at 30%');
      expect(await direct(2).getRouting(model)).toBeUndefined();

      // Scaling out: the third replica appears in DNS; the watch finds it without routing and fills it in.
      dns.records.a = { 'gateway.replicas.test': [...HOSTS] };
      const g30 = at30.live?.generation ?? 0;
      await until(
        async () => ((await direct(2).getRouting(model))?.generation ?? 0) >= g30,
        'the new replica at the rollout’s generation',
        30_000,
      );
      traffic.push(trafficTo(2, model, cleanRows(3000, 79), 25));
      const final = await handle.result();
      await Promise.all(traffic.map((t) => t.stop()));

      expect(final.outcome, final.reason).toBe('promoted');
      const views = await Promise.all([0, 1, 2].map((i) => direct(i).getRouting(model)));
      expect(new Set(views.map((v) => v?.generation)).size).toBe(1);
      for (const v of views) expect(v?.spec).toEqual({ stable: { version: candidate } });
      const first3 = (await direct(2).audit(model))[0];
      expect(first3).toMatchObject({ note: 'prograde replica catch-up', replica: 'replica-3' });
      expect(dns.queries).toBeGreaterThan(4);
    } finally {
      delete process.env['PROGRADE_GATEWAY_DNS_SERVERS'];
      await dns.close();
    }
  }, 240_000);
});
