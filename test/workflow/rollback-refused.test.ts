/* eslint-disable @typescript-eslint/require-await -- stubs stand in for activities, which return promises */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ApplyRoutingInput,
  ApplyRoutingOutput,
  ReadRoutingOutput,
  RecordOutcomeInput,
  WatchCanaryOutput,
} from '../../src/promotion/contracts';
import type { RoutingSpec } from '../../src/routing/schema';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { statusQuery } from '../../src/workflows/messages';
import { promoteModel } from '../../src/workflows/promote';
import type { PromotionState } from '../../src/promotion/state';
import { liveSpec } from '../support/specs';
import {
  endRolloutLock,
  promotionInput,
  startWorker,
  stubWorld,
  timeSkippingEnv,
  verdict,
  type World,
} from '../support/workflow-env';

/**
 * Chaos finding F4: a rollback whose routing change the gateway refused for good failed the whole
 * workflow, with no outcome recorded and the canary left serving. Now every promotion ends with a
 * recorded outcome: retryable failures of the rollback are retried past the forward steps' maximum,
 * a refusal ends the promotion as failed (the reason names the routing left serving), and the
 * champion is tried again after the outcome is recorded while the routing is still the promotion's.
 * Time-skipping test server, activities stubbed (as test/workflow/phases.test.ts).
 */
let env: TestWorkflowEnvironment;

beforeEach(async () => {
  env = await timeSkippingEnv();
});

afterEach(async () => {
  await env?.teardown();
});

const target = 'http://gateway.test:8080';
let seq = 0;

/**
 * Runs the promotion to its end. While it holds the live turn the rollout lock's watch activity is in
 * flight, and the test server then skips no time by itself: once the run is rolling back, workflow
 * time is pushed on by `step` at a time (the rollback's retries and pauses are timers).
 */
async function promote(world: World, spec: PromotionSpecInput, step = '1m'): Promise<PromotionState> {
  const { taskQueue, worker } = await startWorker(env, world);
  try {
    return await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(promoteModel, {
        taskQueue,
        workflowId: `promote/${spec.model}/2/${++seq}`,
        args: [promotionInput(spec, '2')],
      });
      let done = false;
      const result = handle.result().finally(() => (done = true));
      for (let i = 0; i < 400 && !done; i++) {
        const phase = await handle.query(statusQuery).then(
          (s) => s.phase,
          () => undefined,
        );
        if (phase === 'rolling-back') await env.sleep(step);
        else await new Promise((r) => setTimeout(r, 100));
      }
      return result;
    });
  } finally {
    await endRolloutLock(env, spec.model, target);
  }
}

/** The first canary bake fails: the saga rolls back from g2 (canary v2 at 20 %) with g3. */
const failFirstBake = async (): Promise<WatchCanaryOutput> => ({
  verdict: verdict('canary', 'failed', 'error rate 9% > 1%'),
  ticks: 3,
  endedEarly: true,
  elapsedMs: 3000,
});

const isRollback = (i: ApplyRoutingInput): boolean =>
  i.desired.canary === undefined && i.desired.shadow === undefined && i.desired.stable.version === '1';

/**
 * A gateway that keeps what it applied (readRouting answers it) and refuses the rollback `refusals`
 * times with `failure`, then applies it.
 */
function gatewayRefusingRollback(
  failure: () => Error,
  refusals: number,
): { world: World; rollbackTries: () => number } {
  let applied: RoutingSpec | null = null;
  let tries = 0;
  const world: World = stubWorld({
    overrides: {
      watchCanary: failFirstBake,
      readRouting: async (): Promise<ReadRoutingOutput> => ({
        generation: world.routingGeneration,
        routing: applied,
      }),
      applyRouting: async (i: ApplyRoutingInput): Promise<ApplyRoutingOutput> => {
        if (isRollback(i) && ++tries <= refusals) throw failure();
        if (i.generation < world.routingGeneration) {
          throw ApplicationFailure.nonRetryable(
            `stale generation ${i.generation}`,
            'GATEWAY_ROUTING_CONFLICT',
          );
        }
        const changed = i.generation > world.routingGeneration;
        world.routingGeneration = i.generation;
        applied = i.desired;
        return { applied: changed, generation: i.generation };
      },
    },
  });
  return { world, rollbackTries: () => tries };
}

async function historyOf(workflowId: string) {
  return (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

function timerSummaries(events: Awaited<ReturnType<typeof historyOf>>): string[] {
  return events.flatMap((e) => {
    const data = e.userMetadata?.summary?.data;
    return e.timerStartedEventAttributes && data ? [JSON.parse(Buffer.from(data).toString()) as string] : [];
  });
}

const refused = () =>
  ApplicationFailure.nonRetryable('version 1 failed to load: checksum mismatch', 'GATEWAY_VERSION_REJECTED');
const kinds = (s: PromotionState) => s.audit.map((a) => a.kind);
const names = (w: World) => w.calls.map((c) => c.name);

describe('a rollback the gateway refuses (chaos F4)', () => {
  it('ends failed with the routing left serving named, records it once, then restores the champion', async () => {
    const { world, rollbackTries } = gatewayRefusingRollback(refused, 2);
    const state = await promote(world, liveSpec('rollback-refused', target, { weights: [20] }));

    expect(state.outcome).toBe('failed');
    expect(state.reason).toMatch(
      /^rolled-back \(step 2, 3 ticks: error rate 9% > 1%\), but the rollback to v1 \(g3\) was refused: GATEWAY_VERSION_REJECTED: version 1 failed to load/,
    );
    expect(state.reason).toMatch(/routing left serving: g2 stable v1, canary v2 at 20%/);
    // One recorded outcome, and it says failed: the registry is not told rolled-back while v2 serves.
    const recorded = world.callsOf('recordOutcome').map((c) => (c.input as RecordOutcomeInput).state);
    expect(recorded.map((s) => s.outcome)).toEqual(['failed']);
    // Refused in the saga, refused once more after the outcome was recorded, applied the third time.
    expect(rollbackTries()).toBe(3);
    expect(world.routingGeneration).toBe(3);
    const order = names(world);
    expect(order.indexOf('recordOutcome')).toBeLessThan(order.lastIndexOf('applyRouting'));
    expect(kinds(state)).toEqual(expect.arrayContaining(['rollback-refused', 'recorded', 'rolled-back']));
    expect(kinds(state).indexOf('rollback-refused')).toBeLessThan(kinds(state).indexOf('rolled-back'));
    expect(state.audit.find((a) => a.kind === 'rolled-back')?.message).toMatch(
      /after the refused rollback \(the recorded outcome stays failed\)/,
    );
    expect(world.champion).toBe('1');
    expect(state.phase).toBe('done');
  });

  it('leaves the routing alone once someone else changed it', async () => {
    const { world, rollbackTries } = gatewayRefusingRollback(refused, Number.POSITIVE_INFINITY);
    const recordOutcome = world.activities.recordOutcome;
    (world.activities as { recordOutcome: typeof recordOutcome }).recordOutcome = async (i) => {
      // An operator takes over the target while the failed outcome is being written.
      world.routingGeneration = 9;
      return recordOutcome(i);
    };
    const state = await promote(world, liveSpec('rollback-taken-over', target, { weights: [20] }));
    expect(state.outcome).toBe('failed');
    expect(rollbackTries()).toBe(1);
    expect(state.audit.find((a) => a.kind === 'rollback-abandoned')?.message).toMatch(
      /moved to g9 .*not this promotion's g2\/g3: left as it is/,
    );
    expect(kinds(state)).not.toContain('rolled-back');
  });

  it('keeps trying while refused, pausing longer each time, until the routing is no longer its own', async () => {
    const { world, rollbackTries } = gatewayRefusingRollback(refused, Number.POSITIVE_INFINITY);
    const applyRouting = world.activities.applyRouting;
    (world.activities as { applyRouting: typeof applyRouting }).applyRouting = async (i) => {
      try {
        return await applyRouting(i);
      } finally {
        // After the third refusal someone else takes the target over; the next read sees it.
        if (rollbackTries() === 3) world.routingGeneration = 5;
      }
    };
    const state = await promote(world, liveSpec('rollback-keeps-trying', target, { weights: [20] }));
    expect(state.outcome).toBe('failed');
    expect(world.callsOf('recordOutcome')).toHaveLength(1);
    expect(rollbackTries()).toBe(3);
    expect(state.audit.at(-1)?.kind).toBe('rollback-abandoned');
    const pauses = timerSummaries(await historyOf(state.workflowId));
    expect(pauses).toEqual([
      'wait 1s before trying the rollback again',
      'wait 2s before trying the rollback again',
      'wait 4s before trying the rollback again',
    ]);
  });

  it('schedules the rollback without a maximum of attempts; a retryable failure is retried, then rolled-back', async () => {
    const unreachable = () => ApplicationFailure.retryable('gateway unreachable', 'GATEWAY_UNREACHABLE');
    const { world, rollbackTries } = gatewayRefusingRollback(unreachable, 2);
    const state = await promote(world, liveSpec('rollback-retried', target, { weights: [20] }));
    expect(state.outcome).toBe('rolled-back');
    expect(rollbackTries()).toBe(3);
    expect(world.routingGeneration).toBe(3);
    expect(kinds(state)).toContain('rolled-back');
    expect(kinds(state)).not.toContain('rollback-refused');
    // The forward changes stop after 30 attempts; the rollback's has no maximum (0 = unlimited), since
    // giving up leaves the candidate serving.
    const scheduled = (await historyOf(state.workflowId)).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      return a?.activityType?.name === 'applyRouting' ? [a.retryPolicy?.maximumAttempts ?? 0] : [];
    });
    expect(scheduled).toEqual([30, 30, 0]);
  });
});
