import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operate, promotionStatus, startPromotion, type PromotionHandle } from '../../src/client/promotions';
import { TAG } from '../../src/records/outcome';
import type { GatewayHandle } from '../../src/serving/server';
import { lockStateQuery, rolloutLockIdFor } from '../../src/promotion/lock-protocol';
import type { PromotionState } from '../../src/promotion/state';
import { type Harness } from '../support/harness';
import {
  adminOf,
  backgroundTraffic,
  cleanRows,
  liveSpec,
  servedChampion,
  startWorkerAndGateway,
  stopWorkerAndGateway,
} from '../support/live';
import { eventually, untilStatus } from '../support/wait';

const EventType = temporal.api.enums.v1.EventType;

/** How many times each activity was scheduled in a finished run's history. */
async function scheduled(handle: PromotionHandle): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const e of (await handle.fetchHistory()).events ?? []) {
    if (e.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) continue;
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/**
 * Given one model served on one gateway, promotions of several of its versions at once: offline
 * gates run side by side, live rollouts one at a time in the order they asked, each starting from the
 * champion the one before it left — or, when the spec says `whenBusy: refuse`, the second is rejected.
 */
describe('promotion workflow – one live rollout per model and target', () => {
  let h: Harness;
  let gateway: GatewayHandle;

  beforeAll(async () => ({ h, gateway } = await startWorkerAndGateway()));
  afterAll(() => stopWorkerAndGateway(h, gateway));

  it('three promotions of one model started at once each end with exactly one recorded outcome, one live rollout after another', async () => {
    const { model, champion } = await servedChampion(h, gateway, 'three');
    const versions = [
      await h.register(model, 'good', undefined, 31),
      await h.register(model, 'good', undefined, 32),
      await h.register(model, 'good', undefined, 33),
    ];
    const traffic = backgroundTraffic(gateway, model, cleanRows(3000, 27), 60, 240_000);
    const spec = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '3s' });
    const handles = (
      await Promise.all(versions.map((v) => startPromotion(h.client, h.input(spec, v), h.taskQueue)))
    ).map((s) => s.handle);

    // While one rolls out, the others say whom they wait for, in status and in the UI's details.
    const waiting = await eventually(
      'a promotion queued behind another',
      async () => {
        for (const handle of handles) {
          const s = await promotionStatus(handle);
          if (s.phase === 'queued' && /^promote\//.test(s.waitingFor ?? '')) return s;
        }
        return undefined;
      },
      120_000,
      200,
    );
    expect(waiting.waitingFor).toMatch(
      new RegExp(`^promote/${model}/\\d+ to finish its live rollout \\(\\d ahead in the queue\\)$`),
    );

    const finals: PromotionState[] = await Promise.all(handles.map((hd) => hd.result()));
    await traffic.stop();

    for (const [i, final] of finals.entries()) {
      expect(final.outcome, final.reason).toBe('promoted');
      expect(final.reason ?? '').not.toMatch(/CONFLICT/);
      const mv = await h.mlflow.getModelVersion(model, versions[i] ?? '');
      expect(mv.tags[TAG.outcome]).toBe('promoted');
      expect(mv.tags[TAG.workflowId]).toBe(final.workflowId);
      const counts = await scheduled(handles[i] as PromotionHandle);
      expect(counts['recordOutcome'], final.workflowId).toBe(1);
      expect(counts['requestRolloutLock'], final.workflowId).toBe(1);
    }

    // Each rollout started from the champion the previous one left: v1 → a → b → c, in some order.
    const byChampion = new Map(finals.map((f) => [f.champion?.version, f.candidate.version]));
    const chain = [champion];
    for (let next = byChampion.get(champion); next; next = byChampion.get(next)) chain.push(next);
    expect(chain).toHaveLength(4);
    expect(new Set(chain.slice(1))).toEqual(new Set(versions));
    const last = chain.at(-1) ?? '';
    expect((await h.mlflow.getModelVersion(model, last)).aliases).toContain('champion');
    // The two that waited re-judged the candidate against the champion that was current by then.
    expect(finals.filter((f) => f.audit.some((a) => a.kind === 'champion-changed'))).toHaveLength(2);

    // On the gateway, every rollout's routing changes are contiguous: no generations interleave.
    const actors = (await adminOf(gateway).audit(model))
      .map((e) => e.note ?? '')
      .filter((a) => a.startsWith('prograde '));
    const runs = actors.filter((a, i) => a !== actors[i - 1]);
    expect(new Set(runs).size).toBe(runs.length);
    expect(runs).toHaveLength(3);
    expect((await adminOf(gateway).getRouting(model))?.spec.stable.version).toBe(last);

    const lock = h.client.workflow.getHandle(rolloutLockIdFor(model, gateway.url));
    const state = await lock.query(lockStateQuery);
    expect(state.holder).toBeUndefined();
    expect(state.queue).toEqual([]);
  }, 300_000);

  it('with whenBusy: refuse, a second promotion while one holds the target is rejected at once, and says by whom', async () => {
    const { model } = await servedChampion(h, gateway, 'refuse');
    const first = await h.register(model, 'good', undefined, 41);
    const second = await h.register(model, 'good', undefined, 42);
    const base = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '3s' });
    const spec = {
      ...base,
      approval: { required: true, approvers: ['alice'], timeout: '1h', onTimeout: 'reject' as const },
      target: { ...base.target, url: gateway.url, whenBusy: 'refuse' as const },
    };
    const a = await startPromotion(h.client, h.input(spec, first), h.taskQueue);
    await untilStatus(a.handle, (s) => s.phase === 'approval', 'first promotion waiting for approval');
    const b = await startPromotion(h.client, h.input(spec, second), h.taskQueue);
    const refused = await b.handle.result();
    expect(refused.outcome).toBe('rejected');
    expect(refused.reason).toBe(
      `another promotion (${a.workflowId}) holds the live turn for ${model} on ${gateway.url}; the spec says target.whenBusy: refuse`,
    );
    expect(refused.gates).toEqual([]); // refused at the start, before any gate ran
    const mv = await h.mlflow.getModelVersion(model, second);
    expect(mv.tags[TAG.outcome]).toBe('rejected');
    expect(mv.tags[TAG.reason]).toMatch(/whenBusy: refuse/);
    await a.handle.terminate('test done');
  });

  it('abort while queued ends that promotion at once and takes it out of the queue', async () => {
    const { model } = await servedChampion(h, gateway, 'abort-queued');
    const first = await h.register(model, 'good', undefined, 61);
    const second = await h.register(model, 'good', undefined, 62);
    const traffic = backgroundTraffic(gateway, model, cleanRows(3000, 29), 40, 240_000);
    try {
      const slow = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '10m' });
      const a = await startPromotion(h.client, h.input(slow, first), h.taskQueue);
      await untilStatus(a.handle, (s) => s.phase === 'canary', 'first promotion in its canary');
      const b = await startPromotion(h.client, h.input(slow, second), h.taskQueue);
      await untilStatus(b.handle, (s) => /to finish its live rollout/.test(s.waitingFor ?? ''), 'queued');
      const lock = h.client.workflow.getHandle(rolloutLockIdFor(model, gateway.url));
      expect((await lock.query(lockStateQuery)).queue.map((q) => q.workflowId)).toEqual([b.workflowId]);

      await operate(b.handle, 'abort', { operator: 'alice', reason: 'not today' });
      const final = await b.handle.result();
      expect(final.outcome).toBe('aborted');
      expect(final.reason).toBe('aborted by alice while queued: not today');
      expect((await h.mlflow.getModelVersion(model, second)).tags[TAG.outcome]).toBe('aborted');
      await eventually('the queue to be empty', async () =>
        (await lock.query(lockStateQuery)).queue.length === 0 ? true : undefined,
      );
      expect((await lock.query(lockStateQuery)).holder?.workflowId).toBe(a.workflowId);
      await operate(a.handle, 'abort', { operator: 'alice', reason: 'test done' });
      expect((await a.handle.result()).outcome).toBe('aborted');
    } finally {
      await traffic.stop();
    }
  }, 180_000);

  it('a holder terminated without releasing its turn does not block the next in line', async () => {
    const { model, champion } = await servedChampion(h, gateway, 'dead-holder');
    const first = await h.register(model, 'good', undefined, 51);
    const second = await h.register(model, 'good', undefined, 52);
    const traffic = backgroundTraffic(gateway, model, cleanRows(3000, 28), 40, 240_000);
    const slow = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '10m' });
    const a = await startPromotion(h.client, h.input(slow, first), h.taskQueue);
    await untilStatus(a.handle, (s) => s.phase === 'canary', 'first promotion in its canary');
    const fast = liveSpec(model, gateway.url, { shadow: false, weights: [50], bake: '3s' });
    const b = await startPromotion(h.client, h.input(fast, second), h.taskQueue);
    await untilStatus(
      b.handle,
      (s) => s.phase === 'queued' && /to finish its live rollout/.test(s.waitingFor ?? ''),
      'queued',
    );
    await a.handle.terminate('operator killed it');
    const final = await b.handle.result();
    await traffic.stop();
    expect(final.outcome, final.reason).toBe('promoted');
    expect(final.champion?.version).toBe(champion);
    expect((await adminOf(gateway).getRouting(model))?.spec.stable.version).toBe(second);
  }, 180_000);
});
