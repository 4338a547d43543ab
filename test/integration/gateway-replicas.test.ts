import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFor } from '../../src/config/gateway';
import { ProgradeError } from '../../src/errors';
import type { TargetRef } from '../../src/promotion/contracts';
import { dnsResolver } from '../../src/routing/replicas';
import { newSegmentRows, usualRows } from '../../src/samples/segments';
import { sampleModel } from '../../src/samples/models';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { writeModelVersion } from '../../src/serving/model-directory';
import { runTraffic } from '../../src/traffic';
import { startDnsResponder, type DnsResponder } from '../support/dns-responder';
import { startReplica, until, type ReplicaProcess } from '../support/replica-gateways';

/**
 * Three gateway replicas as three processes on loopback (127.0.0.1, .2 and .3, one port), driven as
 * one target: by a static list, and by A and SRV records from a DNS responder on loopback.
 */

const TOKEN = 'replicas-test-token';
const env = { PROGRADE_GATEWAY_TOKEN: TOKEN };
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;
const MODEL = 'credit';

let dir: string;
let dns: DnsResponder;
let port: number;
const replicas: (ReplicaProcess | undefined)[] = [];
const stateDirs: string[] = [];

const direct = (i: number): GatewayAdminClient =>
  new GatewayAdminClient({ baseUrl: `http://${HOSTS[i]}:${port}`, token: TOKEN });
const urls = (): string[] => HOSTS.map((h) => `http://${h}:${port}`);
const listTarget = (quorum?: number): TargetRef => ({
  url: urls()[0] ?? '',
  replicas: urls(),
  ...(quorum !== undefined ? { quorum } : {}),
});

async function start(i: number): Promise<ReplicaProcess> {
  const r = await startReplica({
    host: HOSTS[i] ?? '127.0.0.1',
    port: i === 0 && replicas.length === 0 ? 0 : port,
    stateDir: stateDirs[i] ?? '',
    replicaId: `replica-${i + 1}`,
    modelsDir: path.join(dir, 'models'),
    env,
  });
  replicas[i] = r;
  // Listening comes before the persisted routing is restored: wait until it serves again.
  await until(async () => (await fetch(`${r.url}/v2/health/ready`)).ok, `replica ${i + 1} ready`);
  return r;
}

async function generations(): Promise<(number | undefined)[]> {
  return Promise.all(
    HOSTS.map((_, i) =>
      direct(i)
        .getRouting(MODEL)
        .then((v) => v?.generation),
    ),
  );
}

/** Requests to one replica only: `n` clean rows, plus `bad` rows that make v2 answer NaN. */
async function trafficTo(i: number, n: number, seed: number): Promise<void> {
  await runTraffic({
    gatewayUrl: `http://${HOSTS[i]}:${port}`,
    model: MODEL,
    rps: 100,
    durationMs: Math.ceil((n / 100) * 1000),
    dataset: i === 2 ? newSegmentRows(n, seed) : usualRows(n, seed),
    requestTimeoutMs: 30_000,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-replicas-'));
  await writeModelVersion(path.join(dir, 'models'), MODEL, '1', sampleModel('good'));
  await writeModelVersion(path.join(dir, 'models'), MODEL, '2', sampleModel('nan'));
  for (let i = 0; i < 3; i++) stateDirs.push(mkdtempSync(path.join(dir, `state-${i + 1}-`)));
  // The first replica picks a free port on 127.0.0.1; the others take the same port on .2 and .3.
  port = (await start(0)).port;
  await Promise.all([start(1), start(2)]);
  dns = await startDnsResponder({
    a: { 'gateway.replicas.test': [...HOSTS] },
    srv: {
      '_http._tcp.gateway.replicas.test': HOSTS.map((h) => ({ target: h, port })),
    },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => (r ? r.kill() : Promise.resolve())));
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a replicated gateway target', () => {
  it('routes all three replicas with one generation, from a static list, A records and SRV records', async () => {
    const admin = adminFor(listTarget(), env);
    const view = await admin.putRouting(MODEL, { generation: 1, stable: { version: '1' } }, 'test');
    expect(view.generation).toBe(1);
    expect(await generations()).toEqual([1, 1, 1]);

    // The same PUT again changes nothing anywhere (idempotent per generation).
    const again = await admin.putRouting(MODEL, { generation: 1, stable: { version: '1' } }, 'test');
    expect(again.applied).toBe(false);

    const lookup = (): ReturnType<typeof dnsResolver> => dnsResolver([dns.server]);
    const byA = adminFor(
      {
        url: 'http://gateway.replicas.test',
        dns: { name: 'gateway.replicas.test', type: 'A', port, scheme: 'http' },
      },
      env,
      { dns: lookup },
    );
    const asked = dns.queries;
    await byA.putRouting(
      MODEL,
      { generation: 2, stable: { version: '1' }, canary: { version: '2', weight: 50 } },
      'test',
    );
    expect(await generations()).toEqual([2, 2, 2]);
    expect(dns.queries).toBeGreaterThan(asked);

    const bySrv = adminFor(
      { url: 'http://srv', dns: { name: '_http._tcp.gateway.replicas.test', type: 'SRV', scheme: 'http' } },
      env,
      { dns: lookup },
    );
    expect((await bySrv.getRouting(MODEL))?.generation).toBe(2);

    // Each replica audits under its own identity and says who it is on /v2/health/ready.
    for (let i = 0; i < 3; i++) {
      const audit = await direct(i).audit(MODEL);
      expect(audit.map((e) => [e.generation, e.replica])).toEqual([
        [1, `replica-${i + 1}`],
        [2, `replica-${i + 1}`],
      ]);
      const health = await (await fetch(`http://${HOSTS[i]}:${port}/v2/health/ready`)).json();
      expect(health).toEqual({ ready: true, replica: `replica-${i + 1}` });
    }
  }, 60_000);

  it('merges the statistics of the three replicas into exactly the sum of their own', async () => {
    // Different amounts per replica; replica 3 gets rows on which v2 answers NaN (errors).
    await Promise.all([trafficTo(0, 120, 1), trafficTo(1, 60, 2), trafficTo(2, 90, 3)]);
    const parts = await Promise.all(HOSTS.map((_, i) => direct(i).stats(MODEL, { generation: 2 })));
    const merged = await adminFor(listTarget(), env).stats(MODEL, { generation: 2 });
    const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
    for (const role of ['stable', 'canary'] as const) {
      const each = parts.map((p) => p.variants[role]);
      expect(
        each.every((w) => (w?.requests ?? 0) > 0),
        role,
      ).toBe(true);
      const m = merged.variants[role];
      expect(m?.requests).toBe(each.reduce((a, w) => a + (w?.requests ?? 0), 0));
      expect(m?.errors).toBe(each.reduce((a, w) => a + (w?.errors ?? 0), 0));
      expect(sorted(m?.latencyMs ?? [])).toEqual(sorted(each.flatMap((w) => w?.latencyMs ?? [])));
      expect(sorted(m?.scores ?? [])).toEqual(sorted(each.flatMap((w) => w?.scores ?? [])));
    }
    expect(merged.variants.canary?.errors ?? 0).toBeGreaterThan(0);
    expect((merged.variants.stable?.requests ?? 0) + (merged.variants.canary?.requests ?? 0)).toBe(270);
  }, 60_000);

  it('keeps the rollout when a replica dies: quorum all waits, quorum 2 goes on, and the replica catches up', async () => {
    const dead = replicas[2];
    await dead?.kill();
    const g3 = { generation: 3, stable: { version: '1' }, canary: { version: '2', weight: 80 } };

    // Quorum all (the default): the step does not go on, and the error is worth retrying.
    const all = adminFor(listTarget(), env);
    const refused = await all.putRouting(MODEL, g3, 'test').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProgradeError);
    expect((refused as ProgradeError).code).toBe('GATEWAY_QUORUM_NOT_MET');
    expect((refused as ProgradeError).retryable).toBe(true);

    // Quorum 2: the two live replicas take generation 3 and the rollout goes on.
    const two = adminFor(listTarget(2), env, {});
    expect((await two.putRouting(MODEL, g3, 'test')).generation).toBe(3);
    expect((await two.stats(MODEL, { generation: 3 })).generation).toBe(3);
    await expect(all.stats(MODEL, { generation: 3 })).rejects.toMatchObject({
      code: 'GATEWAY_QUORUM_NOT_MET',
    });

    // Back on its port and state dir, it serves what it had persisted (generation 2) ...
    await start(2);
    expect(await generations()).toEqual([3, 3, 2]);
    // ... until the next watch tick finds it behind and re-applies generation 3 to it.
    const caught: string[] = [];
    const watching = adminFor(listTarget(2), env, {
      onCatchUp: (e) => caught.push(`${e.replica} ${e.outcome}`),
    });
    await until(async () => {
      await watching.stats(MODEL, { generation: 3 });
      return (await direct(2).getRouting(MODEL))?.generation === 3;
    }, 'replica 3 caught up to generation 3');
    expect(caught).toContain(`http://127.0.0.3:${port} applied`);
    const last = (await direct(2).audit(MODEL)).at(-1);
    expect(last).toMatchObject({ generation: 3, replica: 'replica-3', note: 'prograde replica catch-up' });
    expect(last?.state).toEqual({ stable: { version: '1' }, canary: { version: '2', weight: 80 } });
    // With all three back, quorum all is met again.
    expect((await all.stats(MODEL, { generation: 3 })).generation).toBe(3);

    // Down for a rollout's last change (no watch follows it): the next read of the routing, which
    // starts the next rollout, brings it up to date first.
    await replicas[2]?.kill();
    await two.putRouting(
      MODEL,
      { generation: 4, stable: { version: '1' }, canary: { version: '2', weight: 10 } },
      'test',
    );
    await start(2);
    expect(await generations()).toEqual([4, 4, 3]);
    expect((await all.getRouting(MODEL))?.generation).toBe(4);
    expect(await generations()).toEqual([4, 4, 4]);
  }, 120_000);

  it('sends a rollback to every replica at once', async () => {
    const admin = adminFor(listTarget(), env);
    const started = Date.now();
    await admin.putRouting(MODEL, { generation: 5, stable: { version: '1' } }, 'rollback');
    const ms = Date.now() - started;
    expect(await generations()).toEqual([5, 5, 5]);
    for (let i = 0; i < 3; i++) expect((await direct(i).getRouting(MODEL))?.spec.canary).toBeUndefined();
    console.log(`rollback applied on all 3 replicas in ${ms} ms`);
  }, 60_000);
});
