import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promotionHandle } from '../../src/client/promotions';
import type { GatewayHandle } from '../../src/serving/server';
import { type Harness } from '../support/harness';
import { prograde, specFile } from '../support/cli';
import {
  backgroundTraffic,
  cleanRows,
  liveSpec,
  servedChampion,
  startWorkerAndGateway,
  stopWorkerAndGateway,
} from '../support/live';

/**
 * `prograde promote` plans the canary before traffic moves: the champion's request rate from the
 * gateway's stats, how long each step will likely take, and a warning when a low-traffic model cannot
 * decide within a step's maximum (the test suite's 3 s bakes at 30 requests/s cannot).
 */
describe('prograde promote – sample-size planning', () => {
  let h: Harness;
  let gateway: GatewayHandle;

  beforeAll(async () => ({ h, gateway } = await startWorkerAndGateway()));
  afterAll(() => stopWorkerAndGateway(h, gateway));

  it('prints the plan from the observed traffic and warns that 3 s bakes are too short for it', async () => {
    const { model } = await servedChampion(h, gateway, 'cli-plan');
    const candidate = await h.register(model, 'good', undefined, 3);
    const traffic = backgroundTraffic(gateway, model, cleanRows(1500, 51), 30);
    try {
      await new Promise((r) => setTimeout(r, 4_000)); // some traffic for the gateway to have measured
      const file = specFile(h, liveSpec(model, gateway.url, { shadow: false, weights: [20, 80] }));
      const r = await prograde(h, ['promote', '--spec', file, '--version', candidate]);
      expect(r.status, r.stderr).toBe(0);
      const rate = Number(/canary plan \(sequential; ([\d.]+) requests\/s over the last/.exec(r.stderr)?.[1]);
      // 30 requests/s sent; a loaded machine serves fewer, never more.
      expect(rate, r.stderr).toBeGreaterThan(5);
      expect(rate, r.stderr).toBeLessThan(40);
      expect(r.stderr).toMatch(/ {2}step 2 at 20 % \(fixed 3 s\): likely 3 s/);
      expect(r.stderr).toMatch(/ {2}step 4 at 80 % \(fixed 3 s\): likely 3 s/);
      expect(r.stderr).toMatch(
        /warning: step 2 \(20 %, at most 3 s\): [\d.]+ requests\/s are too few to decide/,
      );
      // The plan comes before the promotion starts.
      expect(r.stderr.indexOf('canary plan')).toBeLessThan(r.stderr.indexOf('started promote/'));
    } finally {
      await traffic.stop();
      const handle = promotionHandle(h.client, model, candidate);
      await handle.cancel().catch(() => undefined);
      await handle.result().catch(() => undefined);
    }
  }, 120_000);
});
