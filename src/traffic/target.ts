import { isIPv4 } from 'node:net';
import { InvalidInputError, ProgradeError } from '../errors';

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
