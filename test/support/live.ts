import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Dataset } from '../../src/dataset/dataset';
import { ModelCache } from '../../src/mlflow/cache';
import { newSegmentRows, usualRows } from '../../src/samples/segments';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';
import { runTraffic, type TrafficSummary } from '../../src/traffic';
import { createHarness, uniqueModel, type Harness } from './harness';

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

export { liveSpec, type LiveSpecOptions } from './specs';

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
    // Generous: under a busy CI machine a timed-out request would count as a network error.
    requestTimeoutMs: 45_000,
  });
  return {
    started,
    stop: async () => {
      abort.abort();
      return done;
    },
  };
}

/** A model whose champion v1 already serves 100% on `gateway` (routing generation 1). */
export async function servedChampion(
  h: Harness,
  gateway: GatewayHandle,
  prefix: string,
): Promise<{ model: string; champion: string }> {
  const model = uniqueModel(prefix);
  const champion = await h.register(model, 'good', 'champion');
  await adminOf(gateway).putRouting(model, { generation: 1, stable: { version: champion } }, 'test setup');
  return { model, champion };
}

/** A harness with a running worker and a sample-model gateway of its own: the live suites' setup. */
export async function startWorkerAndGateway(): Promise<{ h: Harness; gateway: GatewayHandle }> {
  const h = await createHarness();
  await h.startWorker();
  const gateway = await startTestGateway(h, mkdtempSync(join(h.dir, 'gateway-')));
  return { h, gateway };
}

export async function stopWorkerAndGateway(
  h: Harness | undefined,
  gateway: GatewayHandle | undefined,
): Promise<void> {
  await gateway?.close();
  await h?.close();
}
