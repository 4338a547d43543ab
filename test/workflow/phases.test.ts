/* eslint-disable @typescript-eslint/require-await -- stubs stand in for activities, which return promises */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApplyRoutingInput, RecordOutcomeInput, WatchCanaryOutput } from '../../src/promotion/contracts';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { approveSignal, statusQuery } from '../../src/workflows/messages';
import { promoteModel } from '../../src/workflows/promote';
import type { PromotionState } from '../../src/promotion/state';
import { liveSpec, sampleSpec } from '../support/specs';
import {
  endRolloutLock,
  eventually,
  promotionInput,
  startWorker,
  stubWorld,
  timeSkippingEnv,
  verdict,
  type World,
} from '../support/workflow-env';

/**
 * The promotion workflow's phase logic on Temporal's time-skipping test server, activities stubbed:
 * a 24-hour approval timeout or an hour of keepPreviousFor takes milliseconds. Signals and queries
 * only (the test server does not implement Updates; test/workflow/controls.test.ts covers those).
 */
let env: TestWorkflowEnvironment;

// A fresh server per test (about a second): anything a test leaves in flight — the rollout lock's
// watch of a holder, its idle timer — would otherwise stop the test server skipping time for the next.
beforeEach(async () => {
  env = await timeSkippingEnv();
});

afterEach(async () => {
  await env?.teardown();
});

let seq = 0;
async function promote(
  world: World,
  spec: PromotionSpecInput,
  version = '2',
  during?: (handle: Handle) => Promise<unknown>,
): Promise<PromotionState> {
  const { taskQueue, worker } = await startWorker(env, world);
  try {
    return await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(promoteModel, {
        taskQueue,
        workflowId: `promote/${spec.model}/${version}/${++seq}`,
        args: [promotionInput(spec, version)],
      });
      if (during) await during(handle);
      return handle.result();
    });
  } finally {
    if (spec.target) await endRolloutLock(env, spec.model, spec.target.url ?? '');
  }
}

type Handle = Awaited<ReturnType<TestWorkflowEnvironment['client']['workflow']['start']>>;

/**
 * Waits (time locked) until the run is in `phase`, then skips `by` of workflow time until it leaves it.
 * Repeated, because a query can answer before the server has the timer the phase started; a skip that
 * came first is then followed by another.
 */
async function skipOnceIn(
  handle: Handle,
  phase: PromotionState['phase'],
  by: string,
  before?: (state: PromotionState) => void,
): Promise<PromotionState> {
  const state = await eventually(`phase ${phase}`, async () => {
    const s = await handle.query(statusQuery);
    return s.phase === phase ? s : undefined;
  });
  before?.(state);
  for (let i = 0; i < 5; i++) {
    await env.sleep(by);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING' || (await handle.query(statusQuery)).phase !== phase) return state;
  }
  throw new Error(`still in ${phase} after skipping ${by} five times`);
}

const names = (world: World) => world.calls.map((c) => c.name);
const auditKinds = (state: PromotionState) => state.audit.map((a) => a.kind);

describe('offline gates', () => {
  it('run in order — resolve, fetch both, format, performance, fairness, latency — then record the promotion', async () => {
    const world = stubWorld();
    const state = await promote(world, sampleSpec('gates-order'));
    expect(state.outcome).toBe('promoted');
    expect(names(world)).toEqual([
      'resolveVersions',
      'fetchModel',
      'fetchModel',
      'formatGate',
      'performanceGate',
      'fairnessGate',
      'latencyGate',
      'recordOutcome',
      'recordEvidenceRun',
    ]);
    expect(state.gates.map((g) => g.gate)).toEqual(['format', 'performance', 'fairness', 'latency']);
    expect(state.phase).toBe('done');
    // The performance gate compares with the champion resolved in MLflow, by its content hash.
    expect(world.callsOf('performanceGate')[0]?.input).toMatchObject({
      candidate: { version: '2', sha256: 'sha-2' },
      champion: { version: '1', sha256: 'sha-1' },
    });
    expect(state.reportUri).toBe('mlflow://report/2');
    // The attempt's MLflow run comes after the outcome, with the attempt number recordOutcome gave.
    expect(world.callsOf('recordEvidenceRun')[0]?.input).toMatchObject({
      attempt: 1,
      state: { outcome: 'promoted' },
    });
    expect(state.evidenceRun?.runId).toBe('mlflow-run');
  });

  it('an MLflow run that cannot be written leaves the outcome as recorded, and the audit says so', async () => {
    const world = stubWorld({
      overrides: {
        recordEvidenceRun: async () => {
          throw ApplicationFailure.nonRetryable('MLflow refused the run', 'MLFLOW_SERVER_ERROR');
        },
      },
    });
    const state = await promote(world, sampleSpec('evidence-missing'));
    expect(state.outcome).toBe('promoted');
    expect(state.evidenceRun).toBeUndefined();
    expect(auditKinds(state)).toContain('evidence-run-missing');
  });

  it('an outcome MLflow cannot take for longer than 20 attempts is retried until it is recorded', async () => {
    let failures = 0;
    const world = stubWorld({
      overrides: {
        recordOutcome: async (input: RecordOutcomeInput) => {
          if (failures++ < 25) throw ApplicationFailure.retryable('MLflow is down', 'MLFLOW_UNREACHABLE');
          return { reportUri: `mlflow-artifacts:/report-${input.state.model}`, writes: 1, attempt: 1 };
        },
      },
    });
    const state = await promote(world, sampleSpec('outcome-outage'));
    expect(state.outcome).toBe('promoted');
    expect(failures).toBe(26);
    expect(state.reportUri).toBe('mlflow-artifacts:/report-outcome-outage');
  });

  it('a failed gate rejects at once: no later gate runs, and the rejection is recorded', async () => {
    const world = stubWorld({
      overrides: { performanceGate: async () => verdict('performance', 'failed', 'auc 0.61 < 0.75') },
    });
    const state = await promote(world, sampleSpec('gates-fail'));
    expect(state.outcome).toBe('rejected');
    expect(state.reason).toBe('auc 0.61 < 0.75');
    expect(names(world)).not.toContain('fairnessGate');
    expect(names(world)).not.toContain('latencyGate');
    expect(names(world).slice(-2)).toEqual(['recordOutcome', 'recordEvidenceRun']);
    const recorded = world.callsOf('recordOutcome')[0]?.input as RecordOutcomeInput;
    expect(recorded.state.outcome).toBe('rejected');
    expect(world.champion).toBe('1');
  });

  it('an inconclusive gate rejects too, and says it was inconclusive', async () => {
    const world = stubWorld({
      overrides: { fairnessGate: async () => verdict('fairness', 'inconclusive', 'group too small') },
    });
    const state = await promote(world, sampleSpec('gates-inconclusive'));
    expect(state.outcome).toBe('rejected');
    expect(state.reason).toBe('fairness gate was inconclusive: group too small');
    expect(names(world)).not.toContain('latencyGate');
  });

  it('a first model (no @champion) is compared with nobody and goes to 100% on the target', async () => {
    const world = stubWorld({ champion: null });
    const spec = sampleSpec('first-model', {
      target: { type: 'gateway', url: 'http://gateway.test:8080' },
    });
    const state = await promote(world, spec, '1');
    expect(state.outcome).toBe('promoted');
    expect(state.champion).toBeNull();
    expect(world.callsOf('fetchModel')).toHaveLength(1);
    expect(world.callsOf('performanceGate')[0]?.input).toMatchObject({ champion: null });
    const applied = world.callsOf('applyRouting').map((c) => (c.input as ApplyRoutingInput).desired);
    expect(applied).toEqual([{ stable: { version: '1' } }]);
    expect(world.champion).toBe('1');
  });
});

describe('already champion', () => {
  it('ends promoted at once and writes nothing: no fetch, no gate, no record, no routing', async () => {
    const world = stubWorld({ champion: '2' });
    const spec = liveSpec('already', 'http://gateway.test:8080');
    const state = await promote(world, spec, '2');
    expect(state.outcome).toBe('promoted');
    expect(state.reason).toBe('already promoted by run run-of-the-champion');
    expect(names(world)).toEqual(['resolveVersions']);
    expect(auditKinds(state)).toContain('already-promoted');
    // The rollout lock was taken only after the offline phases, so nothing queued anywhere either.
    expect(state.live).toBeUndefined();
  });
});

describe('approval', () => {
  const approvalSpec = (model: string, onTimeout: 'reject' | 'approve') =>
    sampleSpec(model, {
      approval: { required: true, approvers: ['alice', 'bob'], timeout: '24h', onTimeout },
    });

  it('nobody decides within 24 h and the spec says reject: rejected by the timeout, recorded', async () => {
    const world = stubWorld();
    const state = await promote(world, approvalSpec('approval-timeout-reject', 'reject'), '2', (h) =>
      skipOnceIn(h, 'approval', '25h'),
    );
    expect(state.outcome).toBe('rejected');
    expect(state.approval.decision).toMatchObject({ decision: 'reject', by: 'prograde', via: 'timeout' });
    expect(state.reason).toMatch(/^rejected by prograde: no decision within the approval timeout/);
    // The deadline is 24 h of workflow time after approval began.
    const deadline = Date.parse(state.approval.deadline ?? '');
    const decidedAt = Date.parse(state.approval.decision?.at ?? '');
    expect(decidedAt - deadline).toBeGreaterThanOrEqual(0);
    expect(decidedAt - deadline).toBeLessThan(60_000);
    expect(names(world).slice(-2)).toEqual(['recordOutcome', 'recordEvidenceRun']);
  });

  it('nobody decides and the spec says approve: approved by the timeout and promoted', async () => {
    const world = stubWorld();
    const state = await promote(world, approvalSpec('approval-timeout-approve', 'approve'), '2', (h) =>
      skipOnceIn(h, 'approval', '25h'),
    );
    expect(state.outcome).toBe('promoted');
    expect(state.approval.decision).toMatchObject({ decision: 'approve', by: 'prograde', via: 'timeout' });
    expect(state.reason).toBe('passed format, performance, fairness, latency gates; approved by prograde');
  });

  it('an approver signals approval before the timeout: promoted, decision by that approver via signal', async () => {
    const world = stubWorld();
    const state = await promote(world, approvalSpec('approval-signal', 'reject'), '2', async (handle) => {
      await eventually('the approval phase', async () => {
        const s = await handle.query(statusQuery);
        return s.phase === 'approval' ? s : undefined;
      });
      // Not an approver: recorded and ignored; the approval still waits.
      await handle.signal(approveSignal, { approver: 'mallory', reason: 'looks fine' });
      await handle.signal(approveSignal, { approver: 'bob', reason: 'reviewed the fairness report' });
    });
    expect(state.outcome).toBe('promoted');
    expect(state.approval.decision).toMatchObject({
      decision: 'approve',
      by: 'bob',
      reason: 'reviewed the fairness report',
      via: 'signal',
    });
    expect(state.ignoredSignals).toBe(1);
    expect(state.audit.find((a) => a.kind === 'ignored-signal')?.message).toMatch(
      /'mallory' is not an approver/,
    );
  });
});

describe('live phases', () => {
  const target = 'http://gateway.test:8080';
  const failingAt = (step: number) => {
    let watches = 0;
    return async (): Promise<WatchCanaryOutput> => {
      watches++;
      const failed = watches === step;
      return {
        verdict: verdict('canary', failed ? 'failed' : 'passed', failed ? 'error rate 9% > 1%' : undefined),
        ticks: 3,
        endedEarly: failed,
        elapsedMs: 3000,
      };
    };
  };
  const desired = (world: World) =>
    world.callsOf('applyRouting').map((c) => {
      const i = c.input as ApplyRoutingInput;
      return { generation: i.generation, desired: i.desired };
    });

  it('shadow, canary steps, promotion, then the previous champion is released after keepPreviousFor', async () => {
    const world = stubWorld();
    world.routingGeneration = 7;
    const spec = liveSpec('live-ok', target, { weights: [20, 50] });
    const state = await promote(
      world,
      { ...spec, rollback: { automatic: true, keepPreviousFor: '1h' } },
      '2',
      async (h) => {
        await skipOnceIn(h, 'retaining', '61m', (retaining) => {
          // Promoted and recorded before the hour of retention; the old champion is still loaded then.
          expect(retaining.outcome).toBe('promoted');
          expect(world.champion).toBe('2');
          expect(world.callsOf('applyRouting')).toHaveLength(4);
        });
      },
    );
    expect(state.outcome).toBe('promoted');
    expect(desired(world)).toEqual([
      { generation: 8, desired: { stable: { version: '1' }, shadow: { version: '2', sampleRate: 100 } } },
      { generation: 9, desired: { stable: { version: '1' }, canary: { version: '2', weight: 20 } } },
      { generation: 10, desired: { stable: { version: '1' }, canary: { version: '2', weight: 50 } } },
      { generation: 11, desired: { stable: { version: '2' }, retain: ['1'] } },
      { generation: 12, desired: { stable: { version: '2' } } },
    ]);
    expect(world.callsOf('watchCanary')).toHaveLength(2);
    // Recorded before the hour of retention, so the registry says promoted while the old one stays loaded.
    const order = names(world);
    expect(order.indexOf('recordOutcome')).toBeLessThan(order.lastIndexOf('applyRouting'));
    expect(state.phase).toBe('done');
  });

  it('a failed canary step rolls traffic back to the champion (the saga), then records rolled-back', async () => {
    const world = stubWorld({ overrides: { watchCanary: failingAt(2) } });
    const spec = liveSpec('live-canary-fails', target, { weights: [20, 50, 80] });
    const state = await promote(world, spec);
    expect(state.outcome).toBe('rolled-back');
    expect(state.reason).toBe('step 4, 3 ticks: error rate 9% > 1%');
    expect(desired(world)).toEqual([
      { generation: 1, desired: { stable: { version: '1' }, shadow: { version: '2', sampleRate: 100 } } },
      { generation: 2, desired: { stable: { version: '1' }, canary: { version: '2', weight: 20 } } },
      { generation: 3, desired: { stable: { version: '1' }, canary: { version: '2', weight: 50 } } },
      { generation: 4, desired: { stable: { version: '1' } } },
    ]);
    // The third weight is never set; the saga runs before the outcome is recorded.
    expect(names(world).slice(-3)).toEqual(['applyRouting', 'recordOutcome', 'recordEvidenceRun']);
    expect(auditKinds(state)).toContain('rolled-back');
    expect(world.champion).toBe('1');
  });

  it('a failed shadow rolls back before any canary weight is set', async () => {
    const world = stubWorld({
      overrides: { watchShadow: async () => verdict('shadow', 'failed', 'agreement 0.41 < 0.9') },
    });
    const state = await promote(world, liveSpec('live-shadow-fails', target));
    expect(state.outcome).toBe('rolled-back');
    expect(state.reason).toBe('agreement 0.41 < 0.9');
    expect(desired(world).map((d) => d.desired)).toEqual([
      { stable: { version: '1' }, shadow: { version: '2', sampleRate: 100 } },
      { stable: { version: '1' } },
    ]);
    expect(world.callsOf('watchCanary')).toHaveLength(0);
  });

  it('a routing change that cannot be applied fails the run, and the saga still restores the champion', async () => {
    let applies = 0;
    const world = stubWorld();
    const realApply = world.activities.applyRouting;
    (world.activities as { applyRouting: typeof realApply }).applyRouting = async (i) => {
      // The second change (canary at 20 %) meets a gateway that refuses it for good.
      if (++applies === 2) {
        world.calls.push({ name: 'applyRouting', input: i });
        throw ApplicationFailure.nonRetryable('version 2 failed to load', 'GATEWAY_LOAD_FAILED');
      }
      return realApply(i);
    };
    const state = await promote(world, liveSpec('live-apply-fails', target));
    expect(state.outcome).toBe('failed');
    expect(state.reason).toMatch(/version 2 failed to load/);
    const last = world.callsOf('applyRouting').at(-1)?.input as ApplyRoutingInput;
    expect(last.desired).toEqual({ stable: { version: '1' } });
    expect(last.generation).toBe(2);
    expect(names(world).slice(-2)).toEqual(['recordOutcome', 'recordEvidenceRun']);
  });

  it('with automatic rollback off, a failed canary holds for a person instead of rolling back', async () => {
    const world = stubWorld({ overrides: { watchCanary: failingAt(1) } });
    const spec = liveSpec('live-manual', target, { automatic: false });
    const { taskQueue, worker } = await startWorker(env, world);
    const paused = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(promoteModel, {
        taskQueue,
        workflowId: `promote/live-manual/2/${++seq}`,
        args: [promotionInput(spec, '2')],
      });
      const s = await eventually('the hold', async () => {
        const q = await handle.query(statusQuery);
        return q.live?.paused ? q : undefined;
      });
      await handle.terminate('test done');
      await endRolloutLock(env, 'live-manual', target);
      return s;
    });
    expect(paused.live?.paused?.by).toBe('prograde');
    expect(paused.live?.paused?.reason).toMatch(/canary failed and automatic rollback is off/);
    expect(paused.outcome).toBeUndefined();
    expect(desired(world).at(-1)?.desired).toEqual({
      stable: { version: '1' },
      canary: { version: '2', weight: 20 },
    });
  });
});
