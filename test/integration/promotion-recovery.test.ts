import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promotionStatus, startPromotion } from '../../src/client/promotions';
import { repoRoot } from '../../src/devstack/tools';
import { TAG } from '../../src/records/outcome';
import { workflowIdFor, type PromotionState } from '../../src/promotion/state';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { stack } from '../support/stack';
import { eventually } from '../support/wait';

const EventType = temporal.api.enums.v1.EventType;

/** A `prograde worker` in its own process, so the test can kill it like a crashed machine would. */
function spawnWorker(h: Harness): ChildProcess {
  const child = spawn(process.execPath, ['bin/prograde.js', 'worker'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress(),
      PROGRADE_TASK_QUEUE: h.taskQueue,
      MLFLOW_TRACKING_URI: stack.mlflowUri(),
      PROGRADE_WORK_DIR: join(h.dir, 'worker'),
      PROGRADE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

describe('promotion workflow – durability', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('starting the same promotion twice yields one workflow run', async () => {
    const model = uniqueModel('twice');
    const v = await h.register(model, 'good');
    const spec = sampleSpec(model, {
      gates: { performance: [] },
      approval: { required: true, approvers: ['alice'] },
    });
    const first = await startPromotion(h.client, h.input(spec, v), h.taskQueue);
    const second = await startPromotion(h.client, h.input(spec, v), h.taskQueue);
    expect(first.started).toBe(true);
    expect(second.started).toBe(false);
    expect(second.runId).toBe(first.runId);
    expect(second.workflowId).toBe(`promote/${model}/${v}`);
    await first.handle.terminate('test done');
  });

  it('a promotion of a version that is already @champion ends promoted at once and writes nothing', async () => {
    const model = uniqueModel('again');
    const v = await h.register(model, 'good');
    const spec = sampleSpec(model, { gates: { performance: [{ metric: 'auc', min: 0.7 }] } });
    const worker = await h.startWorker();
    try {
      const first = await startPromotion(h.client, h.input(spec, v), h.taskQueue);
      expect((await first.handle.result()).outcome).toBe('promoted');
      const before = await h.mlflow.getModelVersion(model, v);
      // Straight to Temporal, past any client-side pre-check: the workflow itself must hold.
      const again = await h.client.workflow.start('promoteModel', {
        taskQueue: h.taskQueue,
        workflowId: workflowIdFor(model, v),
        args: [h.input(spec, v)],
      });
      const final = (await again.result()) as PromotionState;
      expect(final.outcome).toBe('promoted');
      expect(final.reason).toBe(`already promoted by run ${before.tags[TAG.runId] ?? 'unknown'}`);
      expect(final.phase).toBe('done');
      const after = await h.mlflow.getModelVersion(model, v);
      expect(after.tags).toEqual(before.tags);
      expect(after.aliases).toEqual(before.aliases);
      const activities = ((await again.fetchHistory()).events ?? [])
        .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
      expect(activities).toEqual(['resolveVersions']);
    } finally {
      await worker.stop();
    }
  });

  // Longer than the default 60 s: a 20 s heartbeat timeout, then a fresh worker process that
  // bundles the workflow code before it takes the retried activity.
  it('a worker killed in the middle of evaluation is replaced and the promotion ends the same, with one set of registry writes', async () => {
    const model = uniqueModel('crash');
    const champion = await h.register(model, 'good', 'champion');
    const candidate = await h.register(model, 'slow');
    // A latency gate long enough that the kill lands while its activity runs.
    const base = sampleSpec(model);
    const spec = sampleSpec(model, {
      gates: {
        ...base.gates,
        latency: { batchSize: 256, warmup: 2, iterations: 150, p99: '10s', maxRatioVsChampion: 10_000 },
      },
    });
    const first = spawnWorker(h);
    const { handle } = await startPromotion(h.client, h.input(spec, candidate), h.taskQueue);
    await eventually(
      'the latency gate activity to be running',
      async () => {
        const status = await promotionStatus(handle);
        if (status.phase !== 'latency') return undefined;
        const d = await handle.describe();
        const running = d.raw.pendingActivities?.some(
          (a) =>
            a.activityType?.name === 'latencyGate' &&
            a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        );
        return running ? true : undefined;
      },
      120_000,
      50,
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    const replacement = spawnWorker(h);
    try {
      const final = await handle.result();
      expect(final.outcome).toBe('promoted');
      expect(final.champion?.version).toBe(champion);

      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const scheduled = new Map<string, number>();
      for (const e of events) {
        if (e.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) continue;
        const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
        scheduled.set(name, (scheduled.get(name) ?? 0) + 1);
      }
      // Each step was scheduled once; the killed attempt was retried inside the same activity.
      expect(Object.fromEntries(scheduled)).toEqual({
        resolveVersions: 1,
        fetchModel: 2,
        formatGate: 1,
        performanceGate: 1,
        fairnessGate: 1,
        latencyGate: 1,
        recordOutcome: 1,
        recordEvidenceRun: 1,
      });
      const latencyStarted = events.find(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
          events.find(
            (s) =>
              s.eventId?.toString() === e.activityTaskStartedEventAttributes?.scheduledEventId?.toString(),
          )?.activityTaskScheduledEventAttributes?.activityType?.name === 'latencyGate',
      );
      expect(latencyStarted?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);

      const mv = await h.mlflow.getModelVersion(model, candidate);
      expect(mv.aliases).toContain('champion');
      expect(mv.tags[TAG.outcome]).toBe('promoted');
      expect(mv.tags[TAG.previousChampion]).toBe(champion);
    } finally {
      replacement.kill('SIGTERM');
      await new Promise((r) => replacement.once('exit', r));
    }
  }, 150_000);
});
