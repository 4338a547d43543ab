import { ProgradeError } from '../errors';
import type { TargetRef } from '../promotion/contracts';
import { readCaBundle } from '../mlflow/tls-pem';
import { GATEWAY_CA_VAR, GatewayAdminClient, type GatewayAdmin } from '../serving/admin-client';
import { dnsResolver, type DnsLookup } from '../routing/replicas';
import { ReplicaSetAdmin, type CatchUpEvent } from './replica-set';

const DEFAULT_TOKEN_ENV = 'PROGRADE_GATEWAY_TOKEN';

/**
 * The admin client for a serving target. The token is read from the environment of the process that
 * calls (the worker, or the CLI for `rollback`), never carried in workflow history. It lives here and
 * not with the activities so that the CLI does not load the Temporal activity runtime to use it.
 *
 * An https gateway with a certificate from a private CA is trusted through PROGRADE_GATEWAY_CA_BUNDLE,
 * a PEM bundle that replaces the default roots for this client, checked here (a bad file is exit 2
 * naming the variable). NODE_EXTRA_CA_CERTS also works, as for any Node program, but Node reads it
 * once at start-up and only warns about a bad file.
 */
export function gatewayFor(target: TargetRef, env: NodeJS.ProcessEnv = process.env): GatewayAdminClient {
  const name = target.tokenEnv ?? DEFAULT_TOKEN_ENV;
  const token = env[name];
  if (!token) {
    throw new ProgradeError(
      'GATEWAY_TOKEN_MISSING',
      `the worker has no gateway admin token: set ${name} in the worker's environment`,
      'terminal',
      { tokenEnv: name },
    );
  }
  const caPath = env[GATEWAY_CA_VAR];
  if (caPath === undefined || caPath.trim() === '')
    return new GatewayAdminClient({ baseUrl: target.url, token });
  return new GatewayAdminClient({
    baseUrl: target.url,
    token,
    tls: { trust: { ca: readCaBundle(GATEWAY_CA_VAR, caPath).pem }, caPath },
  });
}

/** DNS servers ("host" or "host:port", comma-separated) the worker asks about replicated targets. */
export const DNS_SERVERS_VAR = 'PROGRADE_GATEWAY_DNS_SERVERS';

const DNS_SERVER = /^(?:[0-9.]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+)(?::\d{1,5})?$/;

/** The resolver for DNS targets: the system's, or PROGRADE_GATEWAY_DNS_SERVERS (checked: exit 2 when wrong). */
export function dnsFor(env: NodeJS.ProcessEnv = process.env): () => DnsLookup {
  const raw = env[DNS_SERVERS_VAR]?.trim();
  if (raw === undefined || raw === '') return () => dnsResolver();
  const servers = raw.split(',').map((s) => s.trim());
  const bad = servers.find((s) => !DNS_SERVER.test(s) || Number(/:(\d+)$/.exec(s)?.[1] ?? 53) > 65535);
  if (bad !== undefined)
    throw new ProgradeError(
      'GATEWAY_DNS_SERVERS_INVALID',
      `${DNS_SERVERS_VAR}: ${JSON.stringify(bad)} is not an IP address with an optional :port`,
      'terminal',
      { env: DNS_SERVERS_VAR },
    );
  return () => dnsResolver(servers);
}

/**
 * The admin side of a serving target: the one gateway at `url`, or every replica of a replicated
 * target (`replicas` or `dns`) driven together with the spec's quorum (src/config/replica-set.ts).
 */
export function adminFor(
  target: TargetRef,
  env: NodeJS.ProcessEnv = process.env,
  options: { dns?: () => DnsLookup; onCatchUp?: (event: CatchUpEvent) => void } = {},
): GatewayAdmin {
  if (target.replicas === undefined && target.dns === undefined) return gatewayFor(target, env);
  // Token and CA bundle are checked once, up front: a missing token is a terminal error at once.
  gatewayFor(target, env);
  return new ReplicaSetAdmin({
    source: {
      ...(target.replicas !== undefined ? { replicas: target.replicas } : {}),
      ...(target.dns !== undefined ? { dns: target.dns } : {}),
    },
    ...(target.quorum !== undefined ? { quorum: target.quorum } : {}),
    clientFor: (url) => gatewayFor({ ...target, url }, env),
    dns: options.dns ?? dnsFor(env),
    ...(options.onCatchUp ? { onCatchUp: options.onCatchUp } : {}),
  });
}
