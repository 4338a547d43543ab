import { join } from 'node:path';
import pino from 'pino';
import type { Dataset } from '../../src/dataset/dataset';
import { ModelCache } from '../../src/mlflow/cache';
import { newSegmentRows, usualRows } from '../../src/samples/segments';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { runTraffic, type TrafficSummary } from '../../src/traffic';
import type { Harness } from './harness';
import { sampleSpec } from './harness';

export const GATEWAY_TOKEN = 'live-test-token';
// The worker runs in the test process and reads the admin token from its environment, as in production.
process.env.PROGRADE_GATEWAY_TOKEN = GATEWAY_TOKEN;

/** A real gateway loading versions from the test MLflow server, state under `stateDir`. */
export async function startTestGateway(h: Harness, stateDir: string, port = 0): Promise<GatewayHandle> {
  const gateway = await startGateway({
    source: new MlflowModelSource(h.mlflow, new ModelCache(h.mlflow, join(stateDir, 'cache'))),
    stateDir,
    port,
    token: GATEWAY_TOKEN,
    logger: pino({ level: 'warn' }),
    restoreRetryMs: 500,
    shutdownGraceMs: 2_000,
  });
  await gateway.whenReady();
  return gateway;
}

export function adminOf(gateway: GatewayHandle): GatewayAdminClient {
  return new GatewayAdminClient({ baseUrl: gateway.url, token: GATEWAY_TOKEN });
}

/** Rows the `nan` model answers with numbers, and rows that trigger its NaN region. */
export const cleanRows = usualRows;
export const nanTriggeringRows = newSegmentRows;

export interface LiveSpecOptions {
  readonly shadow?: boolean;
  readonly bake?: string;
  readonly weights?: readonly number[];
  readonly automatic?: boolean;
}

/** Short live phases for tests: shadow, then setWeight/bake pairs, analysis every second. */
export function liveSpec(model: string, gatewayUrl: string, o: LiveSpecOptions = {}): PromotionSpecInput {
  const weights = o.weights ?? [20, 50, 80];
  return sampleSpec(model, {
    gates: { performance: [{ metric: 'auc', min: 0.7 }] },
    ...(o.shadow === false
      ? {}
      : {
          shadow: {
            sampleRate: 100,
            minRequests: 60,
            minDuration: '2s',
            maxDuration: '60s',
            checks: { minAgreement: 0.9 },
          },
        }),
    canary: {
      steps: weights.flatMap((w) => [{ setWeight: w }, { bake: o.bake ?? '3s' }]),
      analysis: {
        interval: '1s',
        minSamples: 20,
        onInconclusive: { extendBy: '3s', maxExtensions: 2, then: 'fail' },
      },
    },
    approval: { required: false, approvers: ['alice', 'bob'] },
    rollback: { automatic: o.automatic ?? true, keepPreviousFor: '2s' },
    target: { type: 'gateway', url: gatewayUrl, tokenEnv: 'PROGRADE_GATEWAY_TOKEN' },
  });
}

/** Background traffic at `rps` until stopped; bounded by `maxMs` whatever happens. */
export function backgroundTraffic(
  gateway: GatewayHandle,
  model: string,
  dataset: Dataset,
  rps = 80,
  maxMs = 180_000,
): { stop: () => Promise<TrafficSummary>; started: number } {
  const abort = new AbortController();
  const started = Date.now();
  const done = runTraffic({
    gatewayUrl: gateway.url,
    model,
    rps,
    durationMs: maxMs,
    dataset,
    signal: abort.signal,
    requestTimeoutMs: 10_000,
  });
  return {
    started,
    stop: async () => {
      abort.abort();
      return done;
    },
  };
}
