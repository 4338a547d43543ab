import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApplyRoutingInput, ApplyRoutingOutput } from '../../src/promotion/contracts';
import { promoteModel } from '../../src/workflows/promote';
import { liveSpec } from '../support/specs';
import {
  endRolloutLock,
  promotionInput,
  startWorker,
  stubWorld,
  devServerEnv,
} from '../support/workflow-env';

/**
 * Chaos finding F2: a worker killed while its applyRouting PUT was in flight left the attempt STARTED
 * until its 5-minute start-to-close timeout, holding a canary's share of traffic (or a rollback) all
 * that time. The routing change is now scheduled with a 30 s heartbeat timeout (the activity heartbeats
 * every 5 s while the gateway loads), so a dead worker's attempt is retried once its heartbeats stop.
 * The dead worker is an attempt that never answers and never heartbeats; what the test reads is why the
 * next attempt ran (a heartbeat timeout, as the Temporal dev server records it), not how long it took.
 */
let env: TestWorkflowEnvironment;

beforeEach(async () => {
  env = await devServerEnv();
});

afterEach(async () => {
  await env?.teardown();
});

const target = 'http://gateway.test:8080';
const { TimeoutType } = temporal.api.enums.v1;

describe('a worker that dies during a routing change (chaos F2)', () => {
  it('its attempt is retried on the heartbeat timeout, not the 5-minute start-to-close one', async () => {
    let release: () => void = () => undefined;
    const gone = new Promise<void>((r) => (release = r));
    let applies = 0;
    const world = stubWorld();
    const apply = world.activities.applyRouting;
    (world.activities as { applyRouting: typeof apply }).applyRouting = async (
      i: ApplyRoutingInput,
    ): Promise<ApplyRoutingOutput> => {
      // The first canary change's first attempt: its worker is gone (no answer, no heartbeat).
      if (i.desired.canary !== undefined && ++applies === 1) {
        await gone;
        throw new Error('the dead worker never answers');
      }
      return apply(i);
    };
    const spec = liveSpec('routing-heartbeat', target, { weights: [20] });
    const { taskQueue, worker } = await startWorker(env, world);
    let workflowId = '';
    try {
      const state = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(promoteModel, {
          taskQueue,
          workflowId: 'promote/routing-heartbeat/2',
          args: [promotionInput(spec, '2')],
        });
        workflowId = handle.workflowId;
        try {
          return await handle.result();
        } finally {
          release();
        }
      });
      expect(state.outcome).toBe('promoted');
    } finally {
      release();
      await endRolloutLock(env, spec.model, target);
    }

    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyRouting',
    );
    // Every routing change is scheduled with the 30 s heartbeat timeout.
    expect(
      scheduled.map((e) => Number(e.activityTaskScheduledEventAttributes?.heartbeatTimeout?.seconds ?? 0)),
    ).toEqual(scheduled.map(() => 30));
    const canaryScheduled = scheduled.find((e) =>
      /canary v2 at 20%/.test(Buffer.from(e.userMetadata?.summary?.data ?? new Uint8Array()).toString()),
    );
    const started = events.find(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(canaryScheduled?.eventId),
    )?.activityTaskStartedEventAttributes;
    // The attempt that completed was the second, run because the first stopped heartbeating.
    expect(started?.attempt).toBe(2);
    expect(started?.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
  }, 180_000);
});
