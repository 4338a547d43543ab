import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decide,
  operate,
  promotionStatus,
  startPromotion,
  type PromotionHandle,
} from '../../src/client/promotions';
import { repoRoot } from '../../src/devstack/tools';
import { TAG } from '../../src/records/outcome';
import { approveSignal } from '../../src/workflows/messages';
import type { PromotionState } from '../../src/promotion/state';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { stack } from '../support/stack';
import { untilStatus } from '../support/wait';

/** Approvals: who may decide, once, with a reason — and what a timeout does. */
describe('promotion workflow – approval', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function startAwaitingApproval(
    approval: { timeout?: string; onTimeout?: 'reject' | 'approve' } = {},
  ): Promise<{ handle: PromotionHandle; model: string; version: string }> {
    const model = uniqueModel('approval');
    const version = await h.register(model, 'good');
    const spec = sampleSpec(model, {
      gates: { performance: [{ metric: 'auc', min: 0.7 }] },
      approval: {
        required: true,
        approvers: ['alice', 'bob'],
        timeout: approval.timeout ?? '1h',
        onTimeout: approval.onTimeout ?? 'reject',
      },
    });
    const { handle } = await startPromotion(h.client, h.input(spec, version), h.taskQueue);
    await untilStatus(handle, (s) => s.phase === 'approval', 'phase approval');
    return { handle, model, version };
  }

  it('refuses a caller who is not a listed approver, accepts a listed one, and refuses a second decision', async () => {
    const { handle, model, version } = await startAwaitingApproval();
    await expect(decide(handle, 'approve', { approver: 'mallory', reason: 'looks fine' })).rejects.toThrow(
      /'mallory' is not an approver.*alice, bob/,
    );
    const approved = await decide(handle, 'approve', { approver: 'alice', reason: 'metrics reviewed' });
    expect(approved.approval.decision).toMatchObject({
      decision: 'approve',
      by: 'alice',
      reason: 'metrics reviewed',
      via: 'update',
    });
    await expect(decide(handle, 'reject', { approver: 'bob', reason: 'second thoughts' })).rejects.toThrow(
      /already made: approve by alice|has ended|not waiting/,
    );
    const final: PromotionState = await handle.result();
    expect(final.outcome).toBe('promoted');
    expect(final.audit.filter((a) => a.kind === 'approved')).toHaveLength(1);
    const mv = await h.mlflow.getModelVersion(model, version);
    expect(mv.tags[TAG.approvedBy]).toMatch(/^alice \(update\) at .*: metrics reviewed$/);
    expect(mv.aliases).toContain('champion');
  });

  it('ends rejected when an approver rejects, keeping who and why', async () => {
    const { handle, model, version } = await startAwaitingApproval();
    await decide(handle, 'reject', { approver: 'bob', reason: 'wait for the quarterly review' });
    const final = await handle.result();
    expect(final.outcome).toBe('rejected');
    expect(final.reason).toBe('rejected by bob: wait for the quarterly review');
    const mv = await h.mlflow.getModelVersion(model, version);
    expect(mv.aliases).not.toContain('champion');
    expect(mv.tags[TAG.outcome]).toBe('rejected');
  });

  it('follows onTimeout: reject when nobody decides in time', async () => {
    const { handle } = await startAwaitingApproval({ timeout: '2s', onTimeout: 'reject' });
    const final = await handle.result();
    expect(final.outcome).toBe('rejected');
    expect(final.approval.decision).toMatchObject({ decision: 'reject', via: 'timeout', by: 'prograde' });
  });

  it('follows onTimeout: approve when the spec says so', async () => {
    const { handle } = await startAwaitingApproval({ timeout: '2s', onTimeout: 'approve' });
    const final = await handle.result();
    expect(final.outcome).toBe('promoted');
    expect(final.approval.decision).toMatchObject({ decision: 'approve', via: 'timeout' });
  });

  it('applies the same rules to the signal form: an invalid signal is recorded and ignored', async () => {
    const { handle } = await startAwaitingApproval();
    await handle.signal(approveSignal, { approver: 'mallory', reason: 'sneaky' });
    await untilStatus(
      handle,
      (s) => s.audit.some((a) => a.kind === 'ignored-signal'),
      'ignored signal in audit',
    );
    expect((await promotionStatus(handle)).phase).toBe('approval');
    await handle.signal(approveSignal, { approver: 'bob', reason: 'ok from chat' });
    const final = await handle.result();
    expect(final.outcome).toBe('promoted');
    expect(final.approval.decision).toMatchObject({ by: 'bob', via: 'signal' });
  });

  it('abort while waiting for approval ends the promotion at once as aborted, recorded', async () => {
    const { handle, model, version } = await startAwaitingApproval();
    const sent = Date.now();
    await operate(handle, 'abort', { operator: 'bob', reason: 'superseded' });
    const final = await handle.result();
    expect(final.outcome).toBe('aborted');
    expect(final.reason).toBe('aborted by bob: superseded');
    expect(Date.now() - sent).toBeLessThan(120_000); // the approval timeout is 1 h
    const mv = await h.mlflow.getModelVersion(model, version);
    expect(mv.tags[TAG.outcome]).toBe('aborted');
    expect(mv.aliases).not.toContain('champion');
  });

  it('the CLI says why a non-approver is refused, with exit code 2', async () => {
    const { handle, model, version } = await startAwaitingApproval();
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress(),
      MLFLOW_TRACKING_URI: stack.mlflowUri(),
    };
    // Asynchronous on purpose: the worker runs in this process and must keep serving while the CLI waits.
    const run = (who: string) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['bin/prograde.js', 'approve', `${model}@${version}`, '--as', who, '--reason', 'cli test'],
          { cwd: repoRoot, env, encoding: 'utf8' },
          (error, stdout, stderr) =>
            resolve({
              status: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
              stdout,
              stderr,
            }),
        );
      });
    const refused = await run('mallory');
    expect(refused.stderr).toMatch(/approve refused: 'mallory' is not an approver/);
    expect(refused.status).toBe(2);
    const ok = await run('alice');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/approve: promote\/.* by alice/);
    expect((await handle.result()).outcome).toBe('promoted');
  });
});
