import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AccessControl, type Caller } from '../../src/serving/access';
import { credentialOf } from '../../src/serving/credentials';

const admins = [credentialOf('alice', 'alice-token-0123456789')];
const keys = [credentialOf('svc', 'svc-key-0123456789')];

function req(authorization?: string): IncomingMessage {
  return { headers: authorization !== undefined ? { authorization } : {} } as IncomingMessage;
}

function control(extra: Partial<ConstructorParameters<typeof AccessControl>[0]> = {}): AccessControl {
  return new AccessControl({
    adminTokens: () => admins,
    inferenceKeys: () => keys,
    protectMetrics: false,
    allowForceVariant: true,
    ...extra,
  });
}

const path = (p: string): string[] => p.split('/').filter((s) => s !== '');

function statusOf(fn: () => void): number | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { status: number }).status;
  }
}

describe('gateway access control', () => {
  it('identifies admins, inference keys, unknown tokens and anonymous callers', () => {
    const c = control();
    expect(c.identify(req('Bearer alice-token-0123456789'))).toEqual({ kind: 'admin', actor: 'alice' });
    expect(c.identify(req('Bearer svc-key-0123456789'))).toEqual({ kind: 'inference', key: 'svc' });
    expect(c.identify(req('Bearer nope'))).toEqual({ kind: 'unknown' });
    expect(c.identify(req())).toEqual({ kind: 'anonymous' });
  });

  it('guards each class of path', () => {
    const c = control({ protectMetrics: true });
    const anon: Caller = { kind: 'anonymous' };
    const key: Caller = { kind: 'inference', key: 'svc' };
    const admin: Caller = { kind: 'admin', actor: 'alice' };
    const cases: [string, Caller, number | undefined][] = [
      ['/admin/models', anon, 401],
      ['/admin/models', key, 401],
      ['/admin/nope', admin, undefined],
      ['/v2/models/credit/infer', anon, 401],
      ['/v2/models/credit/infer', key, undefined],
      ['/v2/models/credit/infer', admin, undefined],
      ['/v2/models', anon, 401],
      ['/invocations', anon, 401],
      ['/metrics', anon, 401],
      ['/metrics', key, undefined],
      ['/v2/health/ready', anon, undefined],
      ['/v2', anon, undefined],
      ['/ping', anon, undefined],
      ['/nope', anon, undefined],
    ];
    for (const [p, caller, status] of cases)
      expect({ p, caller, status: statusOf(() => c.authorize(caller, path(p))) }).toEqual({
        p,
        caller,
        status,
      });
  });

  it('leaves inference and metrics open without keys, and disables the admin API without tokens', () => {
    const c = control({ inferenceKeys: undefined, adminTokens: () => [] });
    expect(statusOf(() => c.authorize({ kind: 'anonymous' }, path('/v2/models/m/infer')))).toBeUndefined();
    expect(statusOf(() => c.authorize({ kind: 'anonymous' }, path('/metrics')))).toBeUndefined();
    expect(statusOf(() => c.authorize({ kind: 'anonymous' }, path('/admin/models')))).toBe(503);
  });

  it('honours a forced variant only from an admin, and only when enabled', () => {
    const on = control();
    expect(statusOf(() => on.checkForceVariant({ kind: 'admin', actor: 'alice' }))).toBeUndefined();
    for (const caller of [
      { kind: 'anonymous' },
      { kind: 'unknown' },
      { kind: 'inference', key: 'svc' },
    ] as Caller[])
      expect(() => on.checkForceVariant(caller)).toThrow(
        expect.objectContaining({ status: 403, code: 'SERVING_FORCE_VARIANT_FORBIDDEN' }),
      );
    const off = control({ allowForceVariant: false });
    expect(() => off.checkForceVariant({ kind: 'admin', actor: 'alice' })).toThrow(
      expect.objectContaining({ status: 403, code: 'SERVING_FORCE_VARIANT_DISABLED' }),
    );
  });

  it('says invalid_token only when a token was sent', () => {
    const c = control();
    const headerOf = (caller: Caller): string | undefined => {
      try {
        c.authorize(caller, path('/v2/models/m/infer'));
      } catch (e) {
        return (e as { reply: { headers: Record<string, string> } }).reply.headers['www-authenticate'];
      }
      return undefined;
    };
    expect(headerOf({ kind: 'anonymous' })).toBe('Bearer realm="prograde-inference"');
    expect(headerOf({ kind: 'unknown' })).toBe('Bearer realm="prograde-inference", error="invalid_token"');
  });
});
