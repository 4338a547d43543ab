import type { IncomingMessage } from 'node:http';
import { bearerOf, digestOf, findCredential, type Credential } from './credentials';
import { HttpError, headerValue } from './http-util';

/**
 * Who a request comes from, and what that caller may do.
 *
 * - `/admin/*` needs an admin token; with none configured the admin API is disabled (503), never open.
 * - Inference and model metadata (`/v2/models/*`, `/invocations`) need an inference key or an admin
 *   token once inference keys are configured; `/metrics` too when it is protected. Health
 *   endpoints stay open for load balancers.
 * - Forcing a variant (`x-prograde-force-variant`) is off unless enabled, and then only for an admin
 *   token: an anonymous caller could otherwise steer traffic onto the canary and skew its statistics.
 *
 * An admin token is accepted wherever an inference key is. Checks run before the route is matched,
 * so a stranger learns nothing about which models or admin routes exist.
 */

export type Caller =
  | { readonly kind: 'anonymous' }
  /** Sent a bearer token that matches no credential. */
  | { readonly kind: 'unknown' }
  | { readonly kind: 'inference'; readonly key: string }
  | { readonly kind: 'admin'; readonly actor: string };

export interface AccessSources {
  /** Admin tokens in force now (the single `--token` and the tokens file); empty disables the admin API. */
  readonly adminTokens: () => readonly Credential[];
  /** Inference keys in force now; undefined leaves inference open. */
  readonly inferenceKeys?: (() => readonly Credential[]) | undefined;
  readonly protectMetrics: boolean;
  readonly allowForceVariant: boolean;
}

type PathClass = 'admin' | 'inference' | 'metrics' | 'open';

function classOf(parts: readonly string[]): PathClass {
  const [first, second] = parts;
  if (first === 'admin') return 'admin';
  if (first === 'invocations' || (first === 'v2' && second === 'models')) return 'inference';
  if (first === 'metrics' && parts.length === 1) return 'metrics';
  return 'open';
}

function unauthorized(realm: string, caller: Caller, message: string): HttpError {
  // RFC 6750: a token that was sent but is not valid is `invalid_token`; none sent carries no error.
  const error = caller.kind === 'unknown' ? ', error="invalid_token"' : '';
  return new HttpError(
    401,
    'SERVING_UNAUTHORIZED',
    message,
    {},
    { headers: { 'www-authenticate': `Bearer realm="${realm}"${error}` } },
  );
}

export class AccessControl {
  constructor(private readonly sources: AccessSources) {}

  /** Matches the bearer token against every admin token and inference key, without early exit. */
  identify(req: IncomingMessage): Caller {
    const token = bearerOf(headerValue(req, 'authorization'));
    if (token === undefined) return { kind: 'anonymous' };
    const given = digestOf(token);
    const admins = this.sources.adminTokens();
    const keys = this.sources.inferenceKeys?.() ?? [];
    // Both lists are searched whatever the first finds, so timing does not tell which kind matched.
    const admin = findCredential(given, admins);
    const key = findCredential(given, keys);
    if (admin) return { kind: 'admin', actor: admin.name };
    if (key) return { kind: 'inference', key: key.name };
    return { kind: 'unknown' };
  }

  /** Throws the 401 or 503 a caller gets on this path; `parts` are the URL's path segments. */
  authorize(caller: Caller, parts: readonly string[]): void {
    switch (classOf(parts)) {
      case 'admin':
        if (this.sources.adminTokens().length === 0)
          throw new HttpError(
            503,
            'SERVING_ADMIN_DISABLED',
            'the admin API is disabled: no token configured (--token, PROGRADE_GATEWAY_TOKEN or --admin-tokens)',
          );
        if (caller.kind !== 'admin')
          throw unauthorized(
            'prograde-admin',
            caller,
            'admin API needs header Authorization: Bearer <admin token>',
          );
        return;
      case 'inference':
        if (this.sources.inferenceKeys && !this.isKeyHolder(caller))
          throw unauthorized(
            'prograde-inference',
            caller,
            'inference needs header Authorization: Bearer <inference key>',
          );
        return;
      case 'metrics':
        if (this.sources.protectMetrics && !this.isKeyHolder(caller))
          throw unauthorized(
            'prograde-metrics',
            caller,
            'metrics need header Authorization: Bearer <inference key or admin token>',
          );
        return;
      case 'open':
        return;
    }
  }

  /** Throws the 403 for a caller that asks to force a variant and may not; call before routing. */
  checkForceVariant(caller: Caller): void {
    if (!this.sources.allowForceVariant)
      throw new HttpError(
        403,
        'SERVING_FORCE_VARIANT_DISABLED',
        'x-prograde-force-variant is disabled on this gateway (enable it with --allow-force-variant)',
      );
    if (caller.kind !== 'admin')
      throw new HttpError(
        403,
        'SERVING_FORCE_VARIANT_FORBIDDEN',
        'x-prograde-force-variant needs an admin token (Authorization: Bearer <admin token>)',
      );
  }

  private isKeyHolder(caller: Caller): boolean {
    return caller.kind === 'inference' || caller.kind === 'admin';
  }
}
