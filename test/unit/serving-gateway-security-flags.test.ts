import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGatewayFlags, securityFrom } from '../../src/cli/commands/gateway';

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

describe('prograde gateway – access and TLS flags', () => {
  it('is all off by default', () => {
    expect(securityFrom(parseGatewayFlags(defaults), {})).toEqual({
      token: undefined,
      access: { protectMetrics: false, allowForceVariant: false },
    });
  });

  it('takes flags first, then PROGRADE_GATEWAY_* variables, with paths made absolute', () => {
    const env = {
      PROGRADE_GATEWAY_TOKEN: 'env-token',
      PROGRADE_GATEWAY_INFERENCE_KEYS: 'env-keys',
      PROGRADE_GATEWAY_ADMIN_TOKENS: 'env-tokens',
      PROGRADE_GATEWAY_PROTECT_METRICS: 'true',
      PROGRADE_GATEWAY_ALLOW_FORCE_VARIANT: '0',
      PROGRADE_GATEWAY_TLS_CERT: 'env.crt',
      PROGRADE_GATEWAY_TLS_KEY: 'env.key',
    };
    expect(securityFrom(parseGatewayFlags(defaults), env)).toEqual({
      token: 'env-token',
      access: {
        inferenceKeysFile: path.resolve('env-keys'),
        adminTokensFile: path.resolve('env-tokens'),
        protectMetrics: true,
        allowForceVariant: false,
      },
      tls: { certFile: path.resolve('env.crt'), keyFile: path.resolve('env.key') },
    });
    const flags = parseGatewayFlags({
      ...defaults,
      inferenceKeys: '/k',
      adminTokens: '/t',
      allowForceVariant: true,
      tlsCert: '/c',
      tlsKey: '/d',
    });
    expect(securityFrom(flags, env)).toMatchObject({
      access: { inferenceKeysFile: '/k', adminTokensFile: '/t', allowForceVariant: true },
      tls: { certFile: '/c', keyFile: '/d' },
    });
  });

  it('refuses a certificate without its key, and a switch that is not a boolean', () => {
    expect(() => securityFrom(parseGatewayFlags({ ...defaults, tlsCert: '/c' }), {})).toThrow(
      /--tls-cert and --tls-key go together.*only the certificate/,
    );
    expect(() => securityFrom(parseGatewayFlags(defaults), { PROGRADE_GATEWAY_TLS_KEY: '/k' })).toThrow(
      /only the key/,
    );
    expect(() =>
      securityFrom(parseGatewayFlags(defaults), { PROGRADE_GATEWAY_ALLOW_FORCE_VARIANT: 'maybe' }),
    ).toThrow(/^PROGRADE_GATEWAY_ALLOW_FORCE_VARIANT: "maybe" is not true\/false/);
  });
});
