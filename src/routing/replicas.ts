import { Resolver } from 'node:dns/promises';
import { z } from 'zod';

/**
 * A serving target's gateway replicas: a static list of base URLs, or a DNS name the worker resolves
 * again at every routing change and every watch tick (so a replica added or removed by scaling is
 * picked up without editing the spec). A leaf: the spec validates these shapes, the worker's admin
 * client resolves them (src/config/replica-set.ts).
 *
 * - `type: A`: every address of the name (A and AAAA), each at `port`, as `<scheme>://<address>:<port>`.
 * - `type: SRV`: every target host and port of the SRV records (weights and priorities are ignored:
 *   routing goes to every replica, not to one of them).
 */

/** Base URL of one gateway replica. */
export const ReplicaUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$/,
    'must be a DNS name such as gateway.serving.svc.cluster.local (SRV: _http._tcp.gateway…)',
  );

export const ReplicaDns = z
  .strictObject({
    name: Hostname.meta({ description: 'DNS name of the gateway replicas' }),
    type: z.enum(['A', 'SRV']).default('A').meta({
      description: 'A: every address of the name at `port`; SRV: every host and port the records give',
    }),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .meta({ description: 'Port of every replica (type A only; SRV records carry their own)' }),
    scheme: z.enum(['http', 'https']).default('http').meta({ description: 'http or https' }),
  })
  .superRefine((d, ctx) => {
    if (d.type === 'A' && d.port === undefined)
      ctx.addIssue({ code: 'custom', path: ['port'], message: 'type A needs the replicas’ port' });
    if (d.type === 'SRV' && d.port !== undefined)
      ctx.addIssue({ code: 'custom', path: ['port'], message: 'SRV records give the port: leave port out' });
  });
export type ReplicaDns = z.infer<typeof ReplicaDns>;

/** Where a target's replicas come from: exactly one of these. */
export interface ReplicaSource {
  readonly url?: string;
  readonly replicas?: readonly string[];
  readonly dns?: ReplicaDns;
}

/** The part of node:dns's Resolver used here, so tests can point one at a responder on loopback. */
export interface DnsLookup {
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveSrv(name: string): Promise<{ name: string; port: number }[]>;
}

/** A resolver using the system's servers, or `servers` ("host:port" or "host") when given. */
export function dnsResolver(servers?: readonly string[]): DnsLookup {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  if (servers && servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

export class ReplicaResolutionError extends Error {
  override readonly name = 'ReplicaResolutionError';
}

function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Base URLs of the replicas, deduplicated and sorted (so every caller sees them in one order). */
export async function resolveReplicas(source: ReplicaSource, dns: () => DnsLookup): Promise<string[]> {
  if (source.replicas && source.replicas.length > 0) return canonical(source.replicas);
  if (source.dns) return canonical(await resolveDns(source.dns, dns()));
  if (source.url !== undefined) return [source.url.replace(/\/+$/, '')];
  throw new ReplicaResolutionError('the target names no gateway: give url, replicas or dns');
}

function canonical(urls: readonly string[]): string[] {
  return [...new Set(urls.map((u) => u.replace(/\/+$/, '')))].sort();
}

async function resolveDns(d: ReplicaDns, resolver: DnsLookup): Promise<string[]> {
  const notFound = (e: unknown): boolean =>
    ['ENOTFOUND', 'ENODATA'].includes(String((e as NodeJS.ErrnoException).code));
  try {
    if (d.type === 'SRV') {
      const records = await resolver.resolveSrv(d.name);
      return records.map((r) => `${d.scheme}://${hostPart(r.name.replace(/\.$/, ''))}:${r.port}`);
    }
    const [v4, v6] = await Promise.all(
      [resolver.resolve4(d.name), resolver.resolve6(d.name)].map((p) =>
        p.catch((e: unknown) => {
          if (notFound(e)) return [];
          throw e;
        }),
      ),
    );
    return [...(v4 ?? []), ...(v6 ?? [])].map((a) => `${d.scheme}://${hostPart(a)}:${d.port ?? 0}`);
  } catch (e) {
    if (notFound(e)) return [];
    const code = (e as NodeJS.ErrnoException).code;
    throw new ReplicaResolutionError(
      `resolving ${d.type} records of ${d.name} failed: ${code ?? (e instanceof Error ? e.message : String(e))}`,
    );
  }
}

/**
 * Replicas that must acknowledge: the spec's quorum, or all of those resolved now. A quorum larger
 * than the replicas DNS gives at the moment cannot be met (the step waits); it is not lowered.
 */
export function quorumOf(quorum: number | undefined, replicas: number): number {
  return quorum ?? replicas;
}
