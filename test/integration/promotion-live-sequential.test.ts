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
import { untilStatus } from '../support/wait';

/**
 * The sequential analysis (the default) in a whole promotion: a bake of { min, max } ends once every
 * check is shown non-inferior after its minimum, and a clear regression rolls back long before the
 * maximum. Real Temporal, MLflow and gateway; one canary step at 50 % with a 3-minute maximum.
 */

const MAX_S = 180;

/** liveSpec with one { min: 3s, max: 3m } bake; margins loose enough for 80 requests/s to decide in seconds. */
function sequentialSpec(model: string, url: string): PromotionSpecInput {
  const base = liveSpec(model, url, { shadow: false, weights: [50] });
  const canary = base.canary as NonNullable<PromotionSpecInput['canary']>;
  return {
    ...base,
    canary: {
      ...canary,
      steps: [{ setWeight: 50 }, { bake: { min: '3s', max: `${MAX_S}s` } }],
      analysis: {
        ...canary.analysis,
        maxErrorRateIncrease: 0.05,
        latency: { alpha: 1e-4, maxIncreaseRatio: 2 },
        prediction: { ksAlpha: 1e-4, maxPsi: 1 },
      },
    },
  };
}

/** "window 12.3s" in a canary verdict's summary. */
function windowSeconds(summary: string | undefined): number {
  return Number(/window ([\d.]+)s/.exec(summary ?? '')?.[1]);
}

describe('promotion workflow – sequential canary analysis', () => {
  let h: Harness;
  let gateway: GatewayHandle;

  beforeAll(async () => ({ h, gateway } = await startWorkerAndGateway()));
  afterAll(() => stopWorkerAndGateway(h, gateway));

  it('a healthy candidate ends its bake early, once every check is non-inferior after the minimum', async () => {
    const { model } = await servedChampion(h, gateway, 'seq-good');
    const candidate = await h.register(model, 'good', undefined, 5);
    const traffic = backgroundTraffic(gateway, model, cleanRows(3000, 41));
    const spec = sequentialSpec(model, gateway.url);
    const { handle } = await startPromotion(h.client, h.input(spec, candidate), h.taskQueue);
    const final = await handle.result();
    await traffic.stop();

    expect(final.outcome, final.reason).toBe('promoted');
    const canary = final.gates.find((g) => g.gate === 'canary');
    expect(canary?.status).toBe('passed');
    const seconds = windowSeconds(canary?.summary);
    console.log(`[live] sequential healthy canary: bake ended after ${seconds} s of ${MAX_S} s`);
    expect(seconds, canary?.summary).toBeGreaterThanOrEqual(3);
    expect(seconds, canary?.summary).toBeLessThan(MAX_S - 30);
    expect(canary?.checks.map((c) => c.status)).toEqual(['passed', 'passed', 'passed']);
    for (const c of canary?.checks ?? []) expect(c.evidence?.['decidedOnPointEstimate']).toBeUndefined();
    expect(final.audit.some((a) => a.kind === 'canary-extended')).toBe(false);
  }, 240_000);

  it('a clear regression stops the canary long before the bake’s maximum', async () => {
    const { model, champion } = await servedChampion(h, gateway, 'seq-nan');
    const candidate = await h.register(model, 'nan');
    // Offline the candidate is fine: the holdout never reaches its NaN region.
    const holdout = join(h.dir, 'holdout-clean-seq.csv');
    await writeDatasetCsv(cleanRows(1500, 12), holdout);
    const clean = backgroundTraffic(gateway, model, cleanRows(3000, 42));
    const spec = sequentialSpec(model, gateway.url);
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
    const failureStarted = Date.now();
    const bad = backgroundTraffic(gateway, model, nanTriggeringRows(3000, 43), 80);
    const final = await handle.result();
    await Promise.all([clean.stop(), bad.stop()]);

    expect(final.outcome, final.reason).toBe('rolled-back');
    const canary = final.gates.find((g) => g.gate === 'canary');
    expect(canary?.status).toBe('failed');
    expect(
      canary?.checks.some((c) => c.status === 'failed' && /error|prediction/i.test(c.name)),
      JSON.stringify(canary?.checks.map((c) => [c.name, c.status, c.message])),
    ).toBe(true);
    const rollback = (await adminOf(gateway).audit(model)).at(-1);
    expect(rollback?.state).toEqual({ stable: { version: champion } });
    const afterMs = Date.parse(rollback?.at ?? '') - failureStarted;
    console.log(`[live] sequential: rollback ${afterMs} ms after NaN-triggering traffic began`);
    expect(afterMs).toBeGreaterThan(0);
    expect(afterMs).toBeLessThan(60_000);
    expect(windowSeconds(canary?.summary)).toBeLessThan(MAX_S - 30);
  }, 240_000);
});
