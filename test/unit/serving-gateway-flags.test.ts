import { describe, expect, it } from 'vitest';
import {
  gatewayOptionsFrom,
  limitsFrom,
  modelSourceFor,
  parseGatewayFlags,
} from '../../src/cli/commands/gateway';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { DirectoryModelSource } from '../../src/serving/model-source';

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

describe('prograde gateway – flags', () => {
  it('parses the defaults commander hands over', () => {
    expect(parseGatewayFlags(defaults)).toMatchObject({
      port: 8080,
      workers: 2,
      maxBody: 8 * 1024 * 1024,
      maxWaitMs: 2,
    });
  });

  it('names the flag that is wrong', () => {
    expect(() => parseGatewayFlags({ ...defaults, maxBody: 'lots' })).toThrow(
      /^--max-body: "lots" is not a size/,
    );
    expect(() => parseGatewayFlags({ ...defaults, shadowWorkers: '0' })).toThrow(/^--shadow-workers:/);
    expect(() => parseGatewayFlags({ ...defaults, port: '70000' })).toThrow(/^--port:/);
  });

  it('prefers --models-dir, falls back to MLFLOW_TRACKING_URI, and refuses neither', () => {
    const flags = parseGatewayFlags({ ...defaults, modelsDir: '/srv/models' });
    expect(modelSourceFor(flags, { MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000' })).toBeInstanceOf(
      DirectoryModelSource,
    );
    expect(
      modelSourceFor(parseGatewayFlags(defaults), { MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000' }),
    ).toBeInstanceOf(MlflowModelSource);
    expect(() => modelSourceFor(parseGatewayFlags(defaults), {})).toThrow(/no model source/);
  });

  it('takes the token from the environment and the rate limit from flags', () => {
    const options = gatewayOptionsFrom(
      parseGatewayFlags({ ...defaults, modelsDir: '/m', rateLimit: '50', rateBurst: '10' }),
      { PROGRADE_GATEWAY_TOKEN: 'from-env' },
    );
    expect(options.token).toBe('from-env');
    expect(options.rateLimit).toEqual({ default: { requestsPerSecond: 50, burst: 10 } });
  });
});

describe('prograde gateway – limit flags', () => {
  it('maps limit flags onto gateway limits and leaves the rest to the defaults', () => {
    const flags = parseGatewayFlags({
      ...defaults,
      modelsDir: '/m',
      maxJsonDepth: '16',
      maxRows: '500',
      maxInflightBytes: '64MiB',
      maxConnections: '200',
      bodyTimeout: '5s',
      lookupTimeout: '750ms',
      lookupCache: '1m',
      retryAfter: '3',
    });
    expect(limitsFrom(flags)).toEqual({
      maxJsonDepth: 16,
      maxRowsPerRequest: 500,
      maxInflightBytes: 64 * 1024 * 1024,
      maxConnections: 200,
      bodyIdleTimeoutMs: 5_000,
      modelLookupTimeoutMs: 750,
      modelLookupCacheMs: 60_000,
      retryAfterSec: 3,
    });
    expect(limitsFrom(parseGatewayFlags(defaults))).toEqual({});
    expect(gatewayOptionsFrom(flags, {}).limits).toMatchObject({ maxRowsPerRequest: 500 });
  });

  it('names the limit flag that is wrong', () => {
    expect(() => parseGatewayFlags({ ...defaults, bodyTimeout: 'soon' })).toThrow(
      /^--body-timeout: "soon" is not a duration/,
    );
    expect(() => parseGatewayFlags({ ...defaults, maxRows: '0' })).toThrow(/^--max-rows:/);
    expect(() => parseGatewayFlags({ ...defaults, maxInflightBytes: 'all' })).toThrow(
      /^--max-inflight-bytes:/,
    );
  });
});
