import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import { repoRoot } from '../../src/devstack/tools';
import type { GatewayHandle } from '../../src/serving/server';
import { createHarness, type Harness } from '../support/harness';
import {
  adminOf,
  backgroundTraffic,
  cleanRows,
  GATEWAY_TOKEN,
  liveSpec,
  servedChampion,
  startTestGateway,
} from '../support/live';
import { stack } from '../support/stack';
import { eventually } from '../support/wait';

const PendingActivityState = temporal.api.enums.v1.PendingActivityState;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * Graceful shutdown of `prograde worker` as Kubernetes does it (deploy/helm/prograde): SIGTERM, then
 * SIGKILL after terminationGracePeriodSeconds (45 s in the chart). A worker stopped in the middle of a
 * canary bake must exit by itself, with 0, within that grace, and the rollout must go on on another
 * worker with every routing generation applied once.
 */

/** The chart's worker.terminationGracePeriodSeconds: after it Kubernetes kills the process. */
const GRACE_MS = 45_000;

let h: Harness;
let gateway: GatewayHandle;
const children: ChildProcess[] = [];

function spawnWorker(): ChildProcess {
  const child = spawn(process.execPath, ['bin/prograde.js', 'worker'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress(),
      PROGRADE_TASK_QUEUE: h.taskQueue,
      MLFLOW_TRACKING_URI: stack.mlflowUri(),
      PROGRADE_WORK_DIR: join(h.dir, 'worker'),
      PROGRADE_GATEWAY_TOKEN: GATEWAY_TOKEN,
      PROGRADE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  children.push(child);
  return child;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

beforeAll(async () => {
  // Its own task queue and no in-process worker: only the spawned worker processes run the promotion.
  h = await createHarness();
  gateway = await startTestGateway(h, mkdtempSync(join(h.dir, 'gateway-')));
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await gateway?.close();
  await h?.close();
});

describe('prograde worker: graceful shutdown on SIGTERM', () => {
  it('stopped mid-canary, it exits 0 within the grace period and another worker finishes the rollout', async () => {
    const { model, champion } = await servedChampion(h, gateway, 'sigterm-bake');
    const candidate = await h.register(model, 'good', undefined, 70);
    const traffic = backgroundTraffic(gateway, model, cleanRows(3000, 71), 60);
    const first = spawnWorker();
    try {
      const { handle } = await startPromotion(
        h.client,
        h.input(liveSpec(model, gateway.url, { shadow: false, weights: [30, 60], bake: '4s' }), candidate),
        h.taskQueue,
      );
      await eventually(
        'a canary bake watch activity to be running',
        async () => {
          const d = await handle.describe();
          const watching = d.raw.pendingActivities?.some(
            (a) =>
              a.activityType?.name === 'watchCanary' &&
              a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
          );
          return watching ? true : undefined;
        },
        120_000,
        50,
      );

      const signalled = Date.now();
      first.kill('SIGTERM');
      const exit = await Promise.race([
        exitOf(first),
        new Promise<'still running'>((resolve) =>
          setTimeout(() => resolve('still running'), GRACE_MS).unref(),
        ),
      ]);
      const stoppedAfterMs = Date.now() - signalled;
      // Exited by itself, cleanly, before Kubernetes would have killed it.
      expect(exit).toEqual({ code: 0, signal: null });
      console.info(`worker exited 0 ${stoppedAfterMs} ms after SIGTERM during a canary bake`);

      spawnWorker();
      const final = await handle.result();
      await traffic.stop();
      expect(final.outcome, `${final.reason ?? ''} ${JSON.stringify(final.gates.at(-1))}`).toBe('promoted');

      // 30 %, 60 %, 100 % with the old champion retained, release of the old champion: once each.
      const ours = (await adminOf(gateway).audit(model)).filter((e) => e.note?.includes(final.workflowId));
      expect(ours.map((e) => e.generation)).toEqual([2, 3, 4, 5]);
      expect(ours[2]?.state).toMatchObject({ stable: { version: candidate }, retain: [champion] });
      // One completed watch per canary step: the one interrupted by the shutdown was neither lost nor doubled.
      const events = (await handle.fetchHistory()).events ?? [];
      const watch = activityEvents(events, 'watchCanary');
      console.info(`watchCanary events: ${JSON.stringify(watch)}`);
      expect(watch.completed).toBe(2);
    } finally {
      await traffic.stop();
    }
  }, 240_000);
});

/** How many times `activity` was scheduled, started (with attempts), completed, failed, timed out. */
function activityEvents(
  events: readonly HistoryEvent[],
  activity: string,
): { scheduled: number; attempts: number[]; completed: number; failed: number; timedOut: number } {
  const names = new Map<string, string>();
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) names.set(String(e.eventId), name);
  }
  const ours = (scheduledEventId: unknown): boolean => names.get(String(scheduledEventId)) === activity;
  const out = { scheduled: 0, attempts: [] as number[], completed: 0, failed: 0, timedOut: 0 };
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes && ours(e.eventId)) out.scheduled++;
    const started = e.activityTaskStartedEventAttributes;
    if (started && ours(started.scheduledEventId)) out.attempts.push(started.attempt ?? 0);
    if (ours(e.activityTaskCompletedEventAttributes?.scheduledEventId)) out.completed++;
    if (ours(e.activityTaskFailedEventAttributes?.scheduledEventId)) out.failed++;
    if (ours(e.activityTaskTimedOutEventAttributes?.scheduledEventId)) out.timedOut++;
  }
  return out;
}
