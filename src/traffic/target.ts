import { isIPv4 } from 'node:net';
import { InvalidInputError, ProgradeError, messageOf } from '../errors';
import {
  TlsTransport,
  certificateProblem,
  describeCertificateProblem,
  type TlsFetchInit,
} from '../mlflow/tls-fetch';
import { readCaBundle } from '../mlflow/tls-pem';
import { GATEWAY_CA_VAR } from '../serving/admin-client';

/**
 * The traffic generator is a load tool: pointed at the wrong host it is a denial-of-service tool.
 * It talks to loopback gateways only unless the caller opts in explicitly.
 */

/** 127.0.0.0/8, localhost, ::1 (and IPv4-mapped 127/8), as WHATWG URL spells hostnames. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (h === '::1') return true;
  // URL normalises ::ffff:127.0.0.1 to ::ffff:7f00:1.
  return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
}

/** Parses the gateway URL and refuses a non-loopback host unless `allowRemote`. Sends nothing. */
export function checkTarget(gatewayUrl: string, allowRemote: boolean): URL {
  let url: URL;
  try {
    url = new URL(gatewayUrl);
  } catch (e) {
    throw new InvalidInputError(`gateway URL '${gatewayUrl}' is not a URL`, { gatewayUrl }, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidInputError(`gateway URL '${gatewayUrl}' must be http or https`, { gatewayUrl });
  if (!allowRemote && !isLoopbackHost(url.hostname)) {
    throw new ProgradeError(
      'TRAFFIC_TARGET_REFUSED',
      `refusing to send traffic to ${url.host}: only loopback gateways (127.0.0.0/8, localhost, ::1) are allowed without allowRemote (--allow-remote)`,
      'terminal',
      { gatewayUrl, host: url.hostname },
    );
  }
  return url;
}

/** How the traffic tool sends to one gateway. */
export interface GatewaySender {
  readonly fetch: (url: string, init: TlsFetchInit) => Promise<Response>;
  /** A failed request in words: a certificate problem names the variable that fixes it. */
  readonly describe: (e: unknown) => string;
}

/**
 * `fetch` for an https gateway with a private CA: the same PROGRADE_GATEWAY_CA_BUNDLE the admin
 * client trusts (checked here, exit 2 on a bad file); plain `fetch` otherwise.
 */
export function gatewaySender(base: URL, env: NodeJS.ProcessEnv = process.env): GatewaySender {
  const caPath = env[GATEWAY_CA_VAR];
  const useBundle = base.protocol === 'https:' && caPath !== undefined && caPath.trim() !== '';
  const transport = useBundle
    ? new TlsTransport({ ca: readCaBundle(GATEWAY_CA_VAR, caPath).pem })
    : undefined;
  return {
    fetch: transport ? transport.fetch : (url, init) => fetch(url, init),
    describe: (e) => {
      const tls = certificateProblem(e);
      if (!tls) return messageOf(e);
      return describeCertificateProblem(tls.problem, tls.detail, base.host, {
        ca: GATEWAY_CA_VAR,
        caPath: useBundle ? caPath : undefined,
      });
    },
  };
}
