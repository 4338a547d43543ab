import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError, headerValue } from './http-util';

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = headerValue(req, 'authorization') ?? '';
  const match = /^Bearer (.+)$/i.exec(header);
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The admin API's guard: without a configured token the API is disabled (503), never open; with
 * one, a request needs `Authorization: Bearer <token>` (compared in constant time).
 */
export function adminGuard(token: string | undefined): (req: IncomingMessage) => void {
  return (req) => {
    if (!token)
      throw new HttpError(
        503,
        'SERVING_ADMIN_DISABLED',
        'the admin API is disabled: no token configured (--token or PROGRADE_GATEWAY_TOKEN)',
      );
    if (!bearerMatches(req, token))
      throw new HttpError(
        401,
        'SERVING_UNAUTHORIZED',
        'admin API needs header Authorization: Bearer <token>',
        {},
        { headers: { 'www-authenticate': 'Bearer' } },
      );
  };
}
