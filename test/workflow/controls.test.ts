/* eslint-disable @typescript-eslint/require-await -- stubs stand in for activities, which return promises */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ApplyRoutingInput,
  PerformanceGateInput,
  WatchCanaryOutput,
} from '../../src/promotion/contracts';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { lockStateQuery, rolloutLockIdFor } from '../../src/promotion/lock-protocol';
import {
  abortUpdate,
  approveUpdate,
  pauseUpdate,
  promoteFullUpdate,
  resumeUpdate,
  statusQuery,
} from '../../src/workflows/messages';
import { promoteModel } from '../../src/workflows/promote';
import type { PromotionState } from '../../src/promotion/state';
import { liveSpec, sampleSpec } from '../support/specs';
import {
  blockingUntil,
  devServerEnv,
  eventually,
  promotionInput,
  startWorker,
  stubWorld,
  verdict,
  type World,
} from '../support/workflow-env';

/**
 * Operator controls (Updates) and the rollout lock's queue, on the Temporal CLI's dev server with
 * stubbed activities. The watch activities block until released or cancelled, so a test can act on a
 * promotion that is mid-canary, as an operator would.
 */
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await devServerEnv();
});

afterAll(async () => {
  await env?.teardown();
});

type Handle = WorkflowHandle<typeof promoteModel>;
const TARGET = 'http://gateway.test:8080';
const passedWatch = (): WatchCanaryOutput => ({
  verdict: verdict('canary'),
  ticks: 3,
  endedEarly: false,
  elapsedMs: 3000,
});
let seq = 0;

async function withPromotion<T>(
  world: World,
  spec: PromotionSpecInput,
  body: (handle: Handle) => Promise<T>,
  version = '2',
): Promise<T> {
  const { taskQueue, worker } = await startWorker(env, world);
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(promoteModel, {
      taskQueue,
      workflowId: `promote/${spec.model}/${version}/${++seq}`,
      args: [promotionInput(spec, version)],
    });
    return body(handle);
  });
}

function until(handle: Handle, what: string, test: (s: PromotionState) => boolean): Promise<PromotionState> {
  return eventually(what, async () => {
    const s = await handle.query(statusQuery);
    return test(s) ? s : undefined;
  });
}

const op = (operator: string, reason: string) => ({
  args: [{ operator, reason }] as [{ operator: string; reason: string }],
});
const applied = (world: World) =>
  world.callsOf('applyRouting').map((c) => (c.input as ApplyRoutingInput).desired);

describe('operator controls (Updates)', () => {
  it('pause holds a canary step, resume continues it with a new watch, and the run is promoted', async () => {
    const watch = blockingUntil(passedWatch);
    const world = stubWorld({ overrides: { watchCanary: watch.fn } });
    const spec = liveSpec('ctl-pause', TARGET, { weights: [20], shadow: false });
    const state = await withPromotion(world, spec, async (h) => {
      await until(h, 'the bake', (s) => s.phase === 'canary' && s.live?.step === 1);
      await eventually('the watch', async () => (watch.started() >= 1 ? true : undefined));
      const paused = await h.executeUpdate(pauseUpdate, op('alice', 'investigating a spike'));
      expect(paused.live?.paused).toMatchObject({ by: 'alice', reason: 'investigating a spike' });
      await until(h, 'the hold', (s) => s.waitingFor?.startsWith('resume, abort or promote --full') === true);
      const resumed = await h.executeUpdate(resumeUpdate, op('bob', 'spike explained'));
      expect(resumed.live?.paused).toBeUndefined();
      await eventually('a second watch', async () => (watch.started() >= 2 ? true : undefined));
      watch.release();
      return h.result();
    });
    expect(state.outcome).toBe('promoted');
    expect(
      state.audit.filter((a) => a.kind === 'pause' || a.kind === 'resume').map((a) => [a.kind, a.by]),
    ).toEqual([
      ['pause', 'alice'],
      ['resume', 'bob'],
    ]);
    expect(world.callsOf('watchCanary')).toHaveLength(2);
  });

  it('abort mid-canary rolls traffic back to the champion and records aborted', async () => {
    const watch = blockingUntil(passedWatch);
    const world = stubWorld({ overrides: { watchCanary: watch.fn } });
    const spec = liveSpec('ctl-abort', TARGET, { weights: [20, 50] });
    const state = await withPromotion(world, spec, async (h) => {
      await until(h, 'the first bake', (s) => s.phase === 'canary' && s.live?.step === 1);
      await h.executeUpdate(abortUpdate, op('alice', 'wrong model uploaded'));
      return h.result();
    });
    watch.release();
    expect(state.outcome).toBe('aborted');
    expect(state.reason).toBe('aborted by alice: wrong model uploaded');
    expect(applied(world)).toEqual([
      { stable: { version: '1' }, shadow: { version: '2', sampleRate: 100 } },
      { stable: { version: '1' }, canary: { version: '2', weight: 20 } },
      { stable: { version: '1' } },
    ]);
    expect(world.callsOf('recordOutcome')).toHaveLength(1);
    expect(world.champion).toBe('1');
  });

  it('promote --full skips the remaining steps and promotes at once', async () => {
    const watch = blockingUntil(passedWatch);
    const world = stubWorld({ overrides: { watchCanary: watch.fn } });
    const spec = liveSpec('ctl-full', TARGET, { weights: [20, 50, 80], shadow: false });
    const state = await withPromotion(world, spec, async (h) => {
      await until(h, 'the first bake', (s) => s.phase === 'canary' && s.live?.step === 1);
      await h.executeUpdate(promoteFullUpdate, op('bob', 'incident needs the fix now'));
      return h.result();
    });
    watch.release();
    expect(state.outcome).toBe('promoted');
    const weights = applied(world).flatMap((d) => (d.canary ? [d.canary.weight] : []));
    expect(weights).toEqual([20]);
    expect(applied(world).slice(-2)).toEqual([
      { stable: { version: '2' }, retain: ['1'] },
      { stable: { version: '2' } },
    ]);
    expect(state.audit.find((a) => a.kind === 'promote-full')).toMatchObject({ by: 'bob' });
  });

  it('abort while waiting for approval ends it at once: no routing, outcome recorded', async () => {
    const world = stubWorld();
    const spec = liveSpec('ctl-abort-approval', TARGET);
    const withApproval = {
      ...spec,
      approval: { required: true, approvers: ['alice', 'bob'], timeout: '24h' },
    };
    const state = await withPromotion(world, withApproval, async (h) => {
      await until(h, 'approval', (s) => s.phase === 'approval');
      await h.executeUpdate(abortUpdate, op('alice', 'superseded by v3'));
      return h.result();
    });
    expect(state.outcome).toBe('aborted');
    expect(world.callsOf('applyRouting')).toHaveLength(0);
    expect(world.callsOf('recordOutcome')).toHaveLength(1);
  });

  it('validators refuse what cannot apply, with the reason, and nothing is recorded; approve by update', async () => {
    const world = stubWorld();
    const spec = sampleSpec('ctl-refusals', {
      approval: { required: true, approvers: ['alice', 'bob'], timeout: '24h' },
    });
    const state = await withPromotion(world, spec, async (h) => {
      await until(h, 'approval', (s) => s.phase === 'approval');
      const refusal = (p: Promise<unknown>) =>
        p.then(
          () => 'accepted',
          (e: unknown) =>
            e instanceof WorkflowUpdateFailedError ? String((e.cause as Error).message) : String(e),
        );
      expect(await refusal(h.executeUpdate(pauseUpdate, op('alice', 'hold')))).toBe(
        'nothing to pause: the promotion is in phase approval, not shadow or canary',
      );
      expect(await refusal(h.executeUpdate(abortUpdate, op('mallory', 'because')))).toBe(
        "'mallory' may not abort ctl-refusals (allowed: alice, bob)",
      );
      expect(
        await refusal(h.executeUpdate(approveUpdate, { args: [{ approver: 'alice', reason: ' ' }] })),
      ).toMatch(/^invalid request: reason must not be empty/);
      const approved = await h.executeUpdate(approveUpdate, {
        args: [{ approver: 'alice', reason: 'reviewed' }],
      });
      expect(approved.approval.decision).toMatchObject({ decision: 'approve', by: 'alice', via: 'update' });
      return h.result();
    });
    expect(state.outcome).toBe('promoted');
    expect(state.audit.map((a) => a.kind)).not.toContain('pause');
    expect(state.audit.map((a) => a.kind)).not.toContain('abort');
  });
});

describe('one live rollout per model and target', () => {
  it('a second promotion queues behind the first, shows whom it waits for, and is judged against the new champion', async () => {
    const first = blockingUntil(passedWatch);
    let watches = 0;
    const world = stubWorld({
      overrides: { watchCanary: async () => (++watches === 1 ? first.fn() : passedWatch()) },
    });
    const spec = liveSpec('lock-queue', TARGET, { weights: [20], shadow: false });
    const { taskQueue, worker } = await startWorker(env, world);
    const [a, b] = await worker.runUntil(async () => {
      const start = (version: string) =>
        env.client.workflow.start(promoteModel, {
          taskQueue,
          workflowId: `promote/lock-queue/${version}/${++seq}`,
          args: [promotionInput(spec, version)],
        });
      const ha = await start('2');
      await until(ha, 'A in its bake', (s) => s.phase === 'canary' && s.live?.step === 1);
      const hb = await start('3');
      const queued = await until(
        hb,
        'B queued behind A',
        (s) => s.waitingFor?.includes(ha.workflowId) === true,
      );
      expect(queued.phase).toBe('queued');
      expect(queued.waitingFor).toBe(`${ha.workflowId} to finish its live rollout (1 ahead in the queue)`);
      // B's offline gates ran beside A's rollout; only its live part waits.
      expect(queued.gates.map((g) => g.gate)).toEqual(['format', 'performance']);
      const lock = await env.client.workflow
        .getHandle(rolloutLockIdFor('lock-queue', TARGET))
        .query(lockStateQuery);
      expect(lock.holder?.workflowId).toBe(ha.workflowId);
      expect(lock.queue.map((q) => q.workflowId)).toEqual([hb.workflowId]);
      expect(
        world
          .callsOf('applyRouting')
          .every((c) => (c.input as ApplyRoutingInput).desired.canary?.version !== '3'),
      ).toBe(true);
      first.release();
      return Promise.all([ha.result(), hb.result()]);
    });
    expect(a.outcome).toBe('promoted');
    expect(b.outcome).toBe('promoted');
    expect(world.champion).toBe('3');
    // B judged again against A, the champion that serves when its turn came.
    expect(b.audit.find((e) => e.kind === 'champion-changed')?.message).toMatch(/moved from v1 to v2/);
    const perf = world.callsOf('performanceGate').map((c) => c.input as PerformanceGateInput);
    expect(perf.filter((p) => p.candidate.version === '3').map((p) => p.champion?.version)).toEqual([
      '1',
      '2',
    ]);
    // Every routing change of B came after A's promotion on the target, and B's canary ran against v2.
    const desired = applied(world);
    const aPromoted = desired.findIndex((d) => d.stable.version === '2' && !d.canary);
    const bFirst = desired.findIndex((d) => d.canary?.version === '3');
    expect(aPromoted).toBeGreaterThanOrEqual(0);
    expect(bFirst).toBeGreaterThan(aPromoted);
    expect(desired[bFirst]?.stable.version).toBe('2');
  });

  it('whenBusy: refuse rejects a second promotion at once, before any gate runs', async () => {
    const first = blockingUntil(passedWatch);
    const world = stubWorld({ overrides: { watchCanary: first.fn } });
    const base = liveSpec('lock-refuse', TARGET, { weights: [20], shadow: false });
    const refuse = { ...base, target: { ...base.target, whenBusy: 'refuse' } } as PromotionSpecInput;
    const { taskQueue, worker } = await startWorker(env, world);
    const b = await worker.runUntil(async () => {
      const start = (version: string) =>
        env.client.workflow.start(promoteModel, {
          taskQueue,
          workflowId: `promote/lock-refuse/${version}/${++seq}`,
          args: [promotionInput(refuse, version)],
        });
      const ha = await start('2');
      await until(ha, 'A in its bake', (s) => s.phase === 'canary' && s.live?.step === 1);
      const result = await (await start('3')).result();
      first.release();
      await ha.result();
      return result;
    });
    expect(b.outcome).toBe('rejected');
    expect(b.reason).toMatch(/holds the live turn for lock-refuse .*whenBusy: refuse/);
    expect(b.gates).toHaveLength(0);
    expect(
      world
        .callsOf('formatGate')
        .map((c) => (c.input as { candidate: { version: string } }).candidate.version),
    ).toEqual(['2']);
  });
});
