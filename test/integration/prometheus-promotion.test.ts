import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import { writeDatasetCsv } from '../../src/samples/datasets';
import type { GatewayHandle } from '../../src/serving/server';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { type Harness } from '../support/harness';
import {
  adminOf,
  backgroundTraffic,
  cleanRows,
  liveSpec,
  nanTriggeringRows,
  servedChampion,
  startWorkerAndGateway,
  stopWorkerAndGateway,
} from '../support/live';
import {
  prometheusInstalled,
  startPrometheus,
  waitForTargetsUp,
  type PrometheusServer,
} from '../support/prometheus';
import { untilStatus } from '../support/wait';

/**
 * A whole promotion through Temporal whose canary is judged from Prometheus
 * (`canary.analysis.provider: { type: prometheus }`): real Temporal, MLflow, worker and gateway, and a
 * real Prometheus scraping the gateway every second. The worker's watch activity reads Prometheus,
 * never the gateway's stats API.
 */

const JOB = 'prograde-promotion';

function prometheusSpec(model: string, url: string, promUrl: string): PromotionSpecInput {
  const base = liveSpec(model, url, { shadow: false, weights: [50] });
  const canary = base.canary as NonNullable<PromotionSpecInput['canary']>;
  return {
    ...base,
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

const skip = !prometheusInstalled();

describe.skipIf(skip)('promotion workflow – canary analysis from Prometheus', () => {
  let h: Harness;
  let gateway: GatewayHandle;
  let prom: PrometheusServer;

  beforeAll(async () => {
    ({ h, gateway } = await startWorkerAndGateway());
    prom = await startPrometheus([{ job: JOB, targets: [new URL(gateway.url).host] }]);
    await waitForTargetsUp(prom.url, JOB, 1);
  }, 120_000);
  afterAll(async () => {
    await prom?.close();
    await stopWorkerAndGateway(h, gateway);
  });

  it('promotes a healthy candidate on Prometheus’s numbers', async () => {
    const { model } = await servedChampion(h, gateway, 'prom-good');
    const candidate = await h.register(model, 'good', undefined, 5);
    const traffic = backgroundTraffic(gateway, model, cleanRows(3000, 51));
    const spec = prometheusSpec(model, gateway.url, prom.url);
    const { handle } = await startPromotion(h.client, h.input(spec, candidate), h.taskQueue);
    const final = await handle.result();
    await traffic.stop();

    expect(final.outcome, final.reason).toBe('promoted');
    const canary = final.gates.find((g) => g.gate === 'canary');
    expect(canary?.status, canary?.summary).toBe('passed');
    expect(canary?.summary).toContain('metrics from prometheus');
    expect(canary?.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'passed']);
    console.log(`[prometheus] promotion: ${canary?.summary}`);
  }, 300_000);

  it('rolls back a candidate whose NaN answers reach Prometheus', async () => {
    const { model, champion } = await servedChampion(h, gateway, 'prom-nan');
    const candidate = await h.register(model, 'nan');
    const holdout = join(h.dir, 'holdout-clean-prom.csv');
    await writeDatasetCsv(cleanRows(1500, 12), holdout);
    const clean = backgroundTraffic(gateway, model, cleanRows(3000, 52));
    const spec = prometheusSpec(model, gateway.url, prom.url);
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
    const bad = backgroundTraffic(gateway, model, nanTriggeringRows(3000, 53), 80);
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
    const rollback = (await adminOf(gateway).audit(model)).at(-1);
    expect(rollback?.state).toEqual({ stable: { version: champion } });
  }, 300_000);
});
