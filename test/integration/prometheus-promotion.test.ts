import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import type { Dataset } from '../../src/dataset/dataset';
import { writeDatasetCsv } from '../../src/samples/datasets';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { runTraffic, type TrafficSummary } from '../../src/traffic';
import { createHarness, uniqueModel, type Harness } from '../support/harness';
import { GATEWAY_TOKEN, cleanRows, liveSpec, nanTriggeringRows } from '../support/live';
import {
  prometheusInstalled,
  startPrometheus,
  waitForTargetsUp,
  type PrometheusServer,
} from '../support/prometheus';
import { startReplica, type ReplicaProcess } from '../support/replica-gateways';
import { stack } from '../support/stack';
import { untilStatus } from '../support/wait';

/**
 * Whole promotions through Temporal whose canary is judged from Prometheus
 * (`canary.analysis.provider: { type: prometheus }`) across three gateway processes (127.0.0.1, .2,
 * .3 on one port, versions loaded from the test MLflow server, `target.replicas`): real Temporal,
 * MLflow and worker, and a real Prometheus scraping the three every second. The worker's watch
 * activity reads Prometheus's sums over the replicas, never a gateway's stats API.
 */

const JOB = 'prograde-promotion';
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;

let h: Harness;
let prom: PrometheusServer | undefined;
let port = 0;
const replicas: ReplicaProcess[] = [];

const urls = (): string[] => HOSTS.map((host) => `http://${host}:${port}`);
const admin = (i: number): GatewayAdminClient =>
  new GatewayAdminClient({ baseUrl: urls()[i] ?? '', token: GATEWAY_TOKEN });

function prometheusSpec(model: string, promUrl: string): PromotionSpecInput {
  const base = liveSpec(model, urls()[0] ?? '', { shadow: false, weights: [50] });
  const canary = base.canary as NonNullable<PromotionSpecInput['canary']>;
  return {
    ...base,
    target: { type: 'gateway', replicas: urls(), tokenEnv: 'PROGRADE_GATEWAY_TOKEN' },
    canary: {
      ...canary,
      steps: [{ setWeight: 50 }, { bake: { min: '3s', max: '150s' } }],
      analysis: {
        ...canary.analysis,
        provider: { type: 'prometheus', url: promUrl, labels: { job: JOB } },
        maxErrorRateIncrease: 0.05,
        latency: { alpha: 1e-4, maxIncreaseRatio: 2 },
        prediction: { ksAlpha: 1e-4, maxPsi: 1 },
      },
    },
  };
}

/** Traffic spread over the three replicas, as a load balancer would, until stopped. */
function traffic(model: string, dataset: (i: number) => Dataset, rps: number) {
  const abort = new AbortController();
  const runs = [0, 1, 2].map((i) =>
    runTraffic({
      gatewayUrl: urls()[i] ?? '',
      model,
      rps,
      durationMs: 200_000,
      dataset: dataset(i),
      signal: abort.signal,
      requestTimeoutMs: 45_000,
    }),
  );
  return {
    stop: async (): Promise<TrafficSummary[]> => {
      abort.abort();
      return Promise.all(runs);
    },
  };
}

async function servedChampion(prefix: string): Promise<{ model: string; champion: string }> {
  const model = uniqueModel(prefix);
  const champion = await h.register(model, 'good', 'champion');
  for (let i = 0; i < 3; i++)
    await admin(i).putRouting(model, { generation: 1, stable: { version: champion } }, 'test setup');
  return { model, champion };
}

const skip = !prometheusInstalled();

describe.skipIf(skip)('promotion workflow – canary analysis from Prometheus over three replicas', () => {
  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
    const env = { MLFLOW_TRACKING_URI: stack.mlflowUri(), PROGRADE_GATEWAY_TOKEN: GATEWAY_TOKEN };
    for (const [i, host] of HOSTS.entries()) {
      const r = await startReplica({
        host,
        port,
        stateDir: mkdtempSync(join(h.dir, `prom-replica-${i + 1}-`)),
        replicaId: `replica-${i + 1}`,
        env,
      });
      port = r.port;
      replicas.push(r);
    }
    prom = await startPrometheus([{ job: JOB, targets: urls().map((u) => new URL(u).host) }]);
    await waitForTargetsUp(prom.url, JOB, 3);
  }, 180_000);

  afterAll(async () => {
    await prom?.close();
    await Promise.all(replicas.map((r) => r.kill()));
    await h?.close();
  });

  it('promotes a healthy candidate on Prometheus’s numbers', async () => {
    const { model } = await servedChampion('prom-good');
    const candidate = await h.register(model, 'good', undefined, 5);
    const load = traffic(model, (i) => cleanRows(3000, 51 + i), 27);
    const spec = prometheusSpec(model, prom!.url);
    const { handle } = await startPromotion(h.client, h.input(spec, candidate), h.taskQueue);
    const final = await handle.result();
    await load.stop();

    expect(final.outcome, final.reason).toBe('promoted');
    const canary = final.gates.find((g) => g.gate === 'canary');
    expect(canary?.status, canary?.summary).toBe('passed');
    expect(canary?.summary).toContain('metrics from prometheus');
    expect(canary?.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'passed']);
    for (let i = 0; i < 3; i++)
      expect((await admin(i).getRouting(model))?.spec).toEqual({ stable: { version: candidate } });
    console.log(`[prometheus] promotion over 3 replicas: ${canary?.summary}`);
  }, 300_000);

  it('rolls back, on every replica, a candidate whose NaN answers reach Prometheus', async () => {
    const { model, champion } = await servedChampion('prom-nan');
    const candidate = await h.register(model, 'nan');
    const holdout = join(h.dir, 'holdout-clean-prom.csv');
    await writeDatasetCsv(cleanRows(1500, 12), holdout);
    const clean = traffic(model, (i) => cleanRows(3000, 52 + i), 20);
    const spec = prometheusSpec(model, prom!.url);
    const { handle } = await startPromotion(
      h.client,
      h.input(spec, candidate, { kind: 'file', path: holdout }),
      h.taskQueue,
    );
    await untilStatus(
      handle,
      (s) => s.phase === 'canary' && (s.live?.weight ?? 0) === 50 && /bake/.test(s.waitingFor ?? ''),
      'canary bake at 50%',
    );
    const bad = traffic(model, (i) => nanTriggeringRows(3000, 55 + i), 27);
    const final = await handle.result();
    await Promise.all([clean.stop(), bad.stop()]);

    expect(final.outcome, final.reason).toBe('rolled-back');
    const canary = final.gates.find((g) => g.gate === 'canary');
    expect(canary?.status).toBe('failed');
    expect(canary?.summary).toContain('metrics from prometheus');
    expect(
      canary?.checks.some((c) => c.status === 'failed' && /error/i.test(c.name)),
      JSON.stringify(canary?.checks.map((c) => [c.name, c.status, c.message])),
    ).toBe(true);
    for (let i = 0; i < 3; i++) {
      const rollback = (await admin(i).audit(model)).at(-1);
      expect(rollback?.state, `replica ${i + 1}`).toEqual({ stable: { version: champion } });
    }
  }, 300_000);
});
