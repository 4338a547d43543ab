import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayFlags } from '../../src/cli/commands/gateway';
import { adminFor, dnsFor } from '../../src/config/gateway';
import { ReplicaSetAdmin } from '../../src/config/replica-set';
import { ProgradeError } from '../../src/errors';
import { replicasOf } from '../../src/promotion/contracts';
import { quorumOf, resolveReplicas, type DnsLookup } from '../../src/routing/replicas';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { PredictionLog } from '../../src/serving/prediction-log';
import { StateStore } from '../../src/serving/state-store';
import { PromotionSpec, Target } from '../../src/spec/schema';
import { liveSpec } from '../support/specs';

const messages = (input: unknown): string[] => {
  const r = Target.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

/** A table for resolveReplicas: what a DNS server would answer (the integration test asks a real one). */
function table(
  a: Record<string, string[]>,
  srv: Record<string, { name: string; port: number }[]> = {},
): DnsLookup {
  const missing = (name: string): Error =>
    Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return {
    resolve4: (n) => (a[n] ? Promise.resolve(a[n]) : Promise.reject(missing(n))),
    resolve6: (n) => Promise.reject(Object.assign(new Error(n), { code: a[n] ? 'ENODATA' : 'ENOTFOUND' })),
    resolveSrv: (n) => (srv[n] ? Promise.resolve(srv[n]) : Promise.reject(missing(n))),
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('target: replicas, dns and quorum in the spec', () => {
  it('accepts one url, a list, or a DNS name, and always names the target by a url', () => {
    expect(Target.parse({ url: 'http://gw:8080' })).toMatchObject({ url: 'http://gw:8080' });
    const list = Target.parse({ replicas: ['http://b:8080/', 'http://a:8080'], quorum: 2 });
    expect(list).toMatchObject({ url: 'http://a:8080', quorum: 2 });
    expect(Target.parse({ dns: { name: 'gw.svc.cluster.local', port: 8080 } })).toMatchObject({
      url: 'http://gw.svc.cluster.local:8080',
      dns: { type: 'A', scheme: 'http', port: 8080 },
    });
    expect(Target.parse({ dns: { name: '_http._tcp.gw.svc', type: 'SRV', scheme: 'https' } }).url).toBe(
      'https://_http._tcp.gw.svc',
    );
    // Through the whole spec, and what the workflow passes to the activities.
    const spec = PromotionSpec.parse({
      ...liveSpec('m', 'http://unused:1'),
      target: { replicas: ['http://a:1', 'http://b:1', 'http://c:1'], quorum: 2 },
    });
    expect(spec.target && replicasOf(spec.target)).toEqual({
      replicas: ['http://a:1', 'http://b:1', 'http://c:1'],
      quorum: 2,
    });
    // A one-gateway target carries nothing more, so its activity inputs are as they were recorded.
    const one = PromotionSpec.parse(liveSpec('m', 'http://gw:1'));
    expect(one.target && replicasOf(one.target)).toEqual({});
  });

  it('refuses what cannot be meant, naming the field', () => {
    expect(messages({})).toEqual([
      ': name the gateway: url (one), replicas (a list) or dns (a service name)',
    ]);
    expect(messages({ url: 'http://a:1', replicas: ['http://b:1'] })).toEqual([
      ': give one of url, replicas and dns, not url and replicas',
    ]);
    expect(messages({ replicas: [] })).toEqual(['replicas: list at least one replica URL']);
    expect(messages({ replicas: ['http://a:1', 'http://a:1/'] })).toEqual([
      'replicas: a replica URL is listed twice',
    ]);
    expect(messages({ replicas: ['ftp://a'] })).toEqual(['replicas.0: must be an http:// or https:// URL']);
    expect(messages({ replicas: ['http://a:1', 'http://b:1'], quorum: 3 })).toEqual([
      'quorum: quorum 3 is more than the 2 replicas listed',
    ]);
    expect(messages({ replicas: ['http://a:1'], quorum: 0 })).toEqual(['quorum: must be at least 1']);
    expect(messages({ url: 'http://a:1', quorum: 2 })).toEqual([
      'quorum: one url is one replica: quorum must be 1',
    ]);
    expect(messages({ dns: { name: 'gw' } })).toEqual(['dns.port: type A needs the replicas’ port']);
    expect(messages({ dns: { name: '_s._tcp.gw', type: 'SRV', port: 1 } })).toEqual([
      'dns.port: SRV records give the port: leave port out',
    ]);
    expect(messages({ dns: { name: 'not a name!', port: 1 } })[0]).toMatch(/^dns.name: must be a DNS name/);
    expect(messages({ dns: { name: 'gw', port: 1, servers: ['x'] } })[0]).toMatch(/^dns: Unrecognized key/);
  });
});

describe('resolving replicas', () => {
  it('lists A addresses at the port, SRV hosts at their ports, sorted and deduplicated', async () => {
    const dns = table(
      { 'gw.svc': ['10.0.0.3', '10.0.0.1', '10.0.0.3'] },
      {
        '_http._tcp.gw.svc': [
          { name: 'b.gw.svc.', port: 81 },
          { name: 'a.gw.svc', port: 80 },
        ],
      },
    );
    expect(
      await resolveReplicas({ dns: { name: 'gw.svc', type: 'A', port: 8080, scheme: 'http' } }, () => dns),
    ).toEqual(['http://10.0.0.1:8080', 'http://10.0.0.3:8080']);
    expect(
      await resolveReplicas({ dns: { name: '_http._tcp.gw.svc', type: 'SRV', scheme: 'https' } }, () => dns),
    ).toEqual(['https://a.gw.svc:80', 'https://b.gw.svc:81']);
    expect(await resolveReplicas({ replicas: ['http://b/', 'http://a'] }, () => dns)).toEqual([
      'http://a',
      'http://b',
    ]);
    expect(
      await resolveReplicas({ dns: { name: 'none.svc', type: 'A', port: 1, scheme: 'http' } }, () => dns),
    ).toEqual([]);
    expect(quorumOf(undefined, 3)).toBe(3);
    expect(quorumOf(2, 1)).toBe(2);
  });

  it('is a retryable GATEWAY_REPLICAS_UNRESOLVED when the name has no replica or DNS fails', async () => {
    process.env['REPLICAS_UNIT_TOKEN'] = 't';
    const failing: DnsLookup = {
      resolve4: () => Promise.reject(Object.assign(new Error('queryA ETIMEOUT gw'), { code: 'ETIMEOUT' })),
      resolve6: () => Promise.reject(Object.assign(new Error('x'), { code: 'ETIMEOUT' })),
      resolveSrv: () => Promise.reject(Object.assign(new Error('x'), { code: 'ETIMEOUT' })),
    };
    for (const dns of [table({}), failing]) {
      const admin = adminFor(
        {
          url: 'http://gw:1',
          tokenEnv: 'REPLICAS_UNIT_TOKEN',
          dns: { name: 'gw', type: 'A', port: 1, scheme: 'http' },
        },
        process.env,
        { dns: () => dns },
      );
      const e = await admin.getRouting('m').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ProgradeError);
      expect((e as ProgradeError).code).toBe('GATEWAY_REPLICAS_UNRESOLVED');
      expect((e as ProgradeError).retryable).toBe(true);
    }
  });

  it('refuses a DNS answer with more replicas than a spec may list (64)', async () => {
    const many = table({ 'big.svc': Array.from({ length: 65 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) });
    const admin = adminFor(
      { url: 'http://big.svc:1', dns: { name: 'big.svc', type: 'A', port: 1, scheme: 'http' } },
      { PROGRADE_GATEWAY_TOKEN: 't' },
      { dns: () => many },
    );
    const e = await admin.getRouting('m').catch((err: unknown) => err);
    expect(e).toMatchObject({ code: 'GATEWAY_REPLICAS_UNRESOLVED' });
    expect((e as Error).message).toMatch(/names 65 replicas; at most 64/);
  });

  it('checks PROGRADE_GATEWAY_DNS_SERVERS, and builds a replica set only for replicated targets', () => {
    expect(() => dnsFor({ PROGRADE_GATEWAY_DNS_SERVERS: '10.96.0.10, 127.0.0.1:5353' })).not.toThrow();
    for (const bad of ['dns.example', '10.0.0.1:99999', '10.0.0.1;rm'])
      expect(() => dnsFor({ PROGRADE_GATEWAY_DNS_SERVERS: bad })).toThrow(
        expect.objectContaining({ code: 'GATEWAY_DNS_SERVERS_INVALID' }),
      );
    const env = { PROGRADE_GATEWAY_TOKEN: 't' };
    expect(adminFor({ url: 'http://gw:1' }, env)).toBeInstanceOf(GatewayAdminClient);
    expect(adminFor({ url: 'http://a:1', replicas: ['http://a:1', 'http://b:1'] }, env)).toBeInstanceOf(
      ReplicaSetAdmin,
    );
    // No token: refused at once, as for one gateway.
    expect(() => adminFor({ url: 'http://a:1', replicas: ['http://a:1'] }, {})).toThrow(
      expect.objectContaining({ code: 'GATEWAY_TOKEN_MISSING' }),
    );
  });
});

describe('the replica identity', () => {
  const defaults = {
    port: '8080',
    host: '127.0.0.1',
    stateDir: '.data/gateway',
    workers: '2',
    shadowWorkers: '1',
    maxBatchSize: '64',
    maxWaitMs: '2',
    maxBody: '8MiB',
    predictionLogRate: '0',
    logLevel: 'silent',
  };

  it('is a checked --replica-id flag', () => {
    expect(parseGatewayFlags({ ...defaults, replicaId: 'gw-0.serving:8080' }).replicaId).toBe(
      'gw-0.serving:8080',
    );
    expect(() => parseGatewayFlags({ ...defaults, replicaId: 'a b' })).toThrow(/^--replica-id: use letters/);
    expect(() => parseGatewayFlags({ ...defaults, replicaId: 'x'.repeat(129) })).toThrow(/^--replica-id:/);
  });

  it('is written on every prediction record and every audit record', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'replica-id-'));
    dirs.push(dir);
    const file = path.join(dir, 'p.jsonl');
    const log = new PredictionLog({ file, sampleRate: 1, replica: () => 'gw-2' });
    log.maybeLog(() => ({ at: 'now', model: 'm', version: '1', variant: 'stable', inputs: {}, outputs: {} }));
    await log.close();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ model: 'm', replica: 'gw-2' });

    const store = new StateStore(path.join(dir, 'state'), () => 'gw-2');
    await store.init();
    await store.recover();
    await store.commit('m', { generation: 1, spec: { stable: { version: '1' } }, appliedAt: 'now' });
    const audit = await store.readAudit('m');
    expect(audit).toEqual([
      { at: 'now', model: 'm', generation: 1, state: { stable: { version: '1' } }, replica: 'gw-2' },
    ]);
  });
});
