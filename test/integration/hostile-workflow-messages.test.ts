import { execFile } from 'node:child_process';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, promotionStatus, startPromotion, type PromotionHandle } from '../../src/client/promotions';
import { toolPaths } from '../../src/devstack/tools';
import { TAG } from '../../src/records/outcome';
import {
  lockAnswerSignal,
  lockReleaseSignal,
  lockRequestSignal,
  lockStateQuery,
} from '../../src/promotion/lock-protocol';
import {
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseUpdate,
  promoteFullUpdate,
  rejectSignal,
  rejectUpdate,
  resumeUpdate,
} from '../../src/workflows/messages';
import type { PromotionState } from '../../src/promotion/state';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { stack } from '../support/stack';
import { eventually, untilStatus } from '../support/wait';

/**
 * Garbage sent to every message of a promotion waiting for approval, through the real Temporal dev
 * server: each update is refused by its validator with a message that says what is wrong, each signal
 * is recorded as `ignored-signal`, the query answers, and the promotion then completes as usual.
 */

const MB = 1024 * 1024;
const deep = (depth: number): unknown => {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

type Case = readonly [what: string, args: unknown[], message: RegExp];

/** Argument lists, each a hostile or malformed payload, for messages whose name field is `who`. */
function garbage(who: 'approver' | 'operator'): readonly Case[] {
  const ok = { [who]: 'alice', reason: 'ok' };
  return [
    ['no argument', [], /exactly one argument, got 0/],
    ['null', [null], /expected \{.*\} \(got null\)/],
    ['undefined', [undefined], /expected \{.*\} \(got nothing\)/],
    ['a number', [42], /got number 42/],
    ['a string', ['approve'], /got 'approve'/],
    ['an array', [['alice', 'ok']], /got an array of 2/],
    ['two arguments', [ok, 'extra'], /exactly one argument, got 2/],
    [
      'a number where the name goes',
      [{ ...ok, [who]: 42 }],
      new RegExp(`${who} must be a string \\(got number 42\\)`),
    ],
    [
      'an object where the reason goes',
      [{ ...ok, reason: { text: 'ok' } }],
      /reason must be a string \(got an object\)/,
    ],
    ['a missing reason', [{ [who]: 'alice' }], /reason must be a string \(got nothing\)/],
    ['an empty reason', [{ ...ok, reason: '   ' }], /reason must not be empty/],
    ['a 1 MB reason', [{ ...ok, reason: 'x'.repeat(MB) }], /reason is too long \(at most 1000 characters\)/],
    ['a 1 MB string', ['y'.repeat(MB)], /got a string of 1048576 characters/],
    [
      '1,000-deep nesting',
      [{ ...ok, [who]: deep(1_000) }],
      new RegExp(`${who} must be a string \\(got an array of 1\\)`),
    ],
    [
      'a control character in the name',
      [{ ...ok, [who]: 'ali\u0000ce' }],
      /must not contain control characters/,
    ],
    ['an unknown field', [{ ...ok, admin: true }], /unknown field\(s\) 'admin'/],
    [
      'a __proto__ key',
      [JSON.parse(`{"${who}":"alice","reason":"ok","__proto__":{"admin":true}}`)],
      /unknown field\(s\) '__proto__'/,
    ],
  ];
}

const DECISION_UPDATES = { approve: approveUpdate, reject: rejectUpdate } as const;
const OPERATOR_UPDATES = {
  pause: pauseUpdate,
  resume: resumeUpdate,
  abort: abortUpdate,
  promoteFull: promoteFullUpdate,
} as const;

describe('hostile input – workflow messages', () => {
  let h: Harness;
  let handle: PromotionHandle;
  let model: string;
  let version: string;
  let signalsSent = 0;

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
    model = uniqueModel('hostile');
    version = await h.register(model, 'good');
    const spec = sampleSpec(model, {
      gates: { performance: [{ metric: 'auc', min: 0.7 }] },
      approval: { required: true, approvers: ['alice', 'bob'], timeout: '1h', onTimeout: 'reject' },
    });
    ({ handle } = await startPromotion(h.client, h.input(spec, version), h.taskQueue));
    await untilStatus(handle, (s) => s.phase === 'approval', 'phase approval');
  });
  afterAll(async () => {
    await h?.close();
  });

  async function refusal(send: () => Promise<unknown>): Promise<string> {
    const e: unknown = await send().then(
      () => new Error('accepted'),
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (e as WorkflowUpdateFailedError).cause;
    return cause instanceof Error ? cause.message : String(cause);
  }

  async function expectIgnored(signal: string, problem: RegExp): Promise<void> {
    signalsSent++;
    const s = await untilStatus(
      handle,
      (st) => (st.ignoredSignals ?? 0) >= signalsSent,
      `ignored signal #${signalsSent} (${signal})`,
      30_000,
    );
    const entries = s.audit.filter((a) => a.kind === 'ignored-signal');
    // The first 20 are listed, later ones only counted.
    if (signalsSent <= 20) expect(entries.at(-1)?.message).toMatch(problem);
    expect(s.phase).toBe('approval');
    expect(s.approval.decision).toBeUndefined();
  }

  describe.each(Object.entries(DECISION_UPDATES))('update %s', (_name, def) => {
    it.each(garbage('approver'))(`refuses %s with a clear message`, async (_what, args, message) => {
      const text = await refusal(() => handle.executeUpdate(def, { args: args as never }));
      expect(text).toMatch(/^invalid request: /);
      expect(text).toMatch(message);
      expect(text.length).toBeLessThan(400);
    });
  });

  it.each(Object.entries(OPERATOR_UPDATES))('update %s refuses every garbage payload', async (_name, def) => {
    for (const [, args, message] of garbage('operator')) {
      const text = await refusal(() => handle.executeUpdate(def, { args: args as never }));
      expect(text).toMatch(/^invalid request: /);
      expect(text).toMatch(message);
    }
  });

  it('update approve refuses an unlisted approver, and pause refuses an unlisted operator', async () => {
    expect(
      await refusal(() =>
        handle.executeUpdate(approveUpdate, { args: [{ approver: 'mallory', reason: 'x' }] }),
      ),
    ).toMatch(/'mallory' is not an approver .*alice, bob/);
    expect(
      await refusal(() =>
        handle.executeUpdate(abortUpdate, { args: [{ operator: 'mallory', reason: 'x' }] }),
      ),
    ).toMatch(/'mallory' may not abort/);
    expect(
      await refusal(() => handle.executeUpdate(pauseUpdate, { args: [{ operator: 'alice', reason: 'x' }] })),
    ).toMatch(/nothing to pause: the promotion is in phase approval/);
  });

  it('an update name the workflow does not know is refused', async () => {
    expect(
      await refusal(() => handle.executeUpdate('deploy', { args: [{ approver: 'alice', reason: 'x' }] })),
    ).toMatch(/deploy/);
  });

  it.each(garbage('approver'))(
    'signal approveSignal with %s is recorded as ignored',
    async (_what, args, message) => {
      await handle.signal(approveSignal, ...(args as [never]));
      await expectIgnored('approveSignal', message);
    },
  );

  it.each(garbage('approver').filter((_, i) => i % 3 === 0))(
    'signal rejectSignal with %s is recorded as ignored',
    async (_what, args, message) => {
      await handle.signal(rejectSignal, ...(args as [never]));
      await expectIgnored('rejectSignal', message);
    },
  );

  it('signal approveSignal from an unlisted approver is recorded as ignored', async () => {
    await handle.signal(approveSignal, { approver: 'mallory', reason: 'sneaky' });
    await expectIgnored('approveSignal', /'mallory' is not an approver/);
  });

  it('a forged or malformed rollout-lock answer is recorded as ignored', async () => {
    await handle.signal(lockAnswerSignal, {
      lockId: `rollout-lock/${model}/0`,
      requestId: 'forged',
      answer: 'granted',
    });
    await expectIgnored('rolloutLockAnswer', /not an answer to a request of this promotion/);
    await handle.signal(lockAnswerSignal, { answer: 'granted', extra: deep(100) } as never);
    await expectIgnored('rolloutLockAnswer', /invalid answer/);
  });

  it('a signal name the workflow does not know is recorded as ignored', async () => {
    await h.client.workflow.getHandle(handle.workflowId).signal('deploy', { everything: true });
    await expectIgnored('deploy', /deploy signal ignored: no such signal/);
  });

  it('a signal whose payload is not JSON, is in an unknown encoding, or nests 100,000 deep is recorded as ignored', async () => {
    const send = (metadata: Record<string, string>, data: string) =>
      h.client.workflowService.signalWorkflowExecution({
        namespace: stack.temporalNamespace(),
        workflowExecution: { workflowId: handle.workflowId },
        signalName: approveSignal.name,
        input: {
          payloads: [
            {
              metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v)])),
              data: Buffer.from(data),
            },
          ],
        },
        identity: 'hostile-test',
      });
    await send({ encoding: 'json/plain' }, '{"approver": "alice", "reason": ');
    await expectIgnored('approveSignal', /payload could not be decoded \(encoding 'json\/plain': .*JSON/);
    await send({ encoding: 'application/x-evil' }, 'AAAA');
    await expectIgnored('approveSignal', /payload could not be decoded \(encoding 'application\/x-evil'/);
    // 100,000-deep JSON, deeper than any client library would encode.
    await send({ encoding: 'json/plain' }, `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    await expectIgnored('approveSignal', /got an array of 1|payload could not be decoded/);
  });

  it('a bare `temporal workflow signal --name approveSignal` (no input) is recorded as ignored', async () => {
    const { temporal: cli } = toolPaths();
    await new Promise<void>((resolve, reject) =>
      execFile(
        cli,
        [
          'workflow',
          'signal',
          '--address',
          stack.temporalAddress(),
          '--namespace',
          stack.temporalNamespace(),
          '--workflow-id',
          handle.workflowId,
          '--name',
          'approveSignal',
        ],
        (error, _stdout, stderr) => (error ? reject(new Error(`${error.message}: ${stderr}`)) : resolve()),
      ),
    );
    await expectIgnored('approveSignal', /exactly one argument, got 0|got nothing/);
  });

  it('the status query ignores arguments it is given, whatever they are', async () => {
    for (const [, args] of garbage('approver')) {
      const s = await h.client.workflow
        .getHandle(handle.workflowId)
        .query<PromotionState, unknown[]>('status', ...args);
      expect(s.phase).toBe('approval');
    }
  });

  it('a rollout lock started with garbage and sent garbage keeps working and answers its query', async () => {
    const lockId = `rollout-lock/${model}/garbage`;
    const lock = await h.client.workflow.start('rolloutLock', {
      taskQueue: h.taskQueue,
      workflowId: lockId,
      args: [{ model: 42, queue: 'everyone' }],
    });
    await lock.signal(lockRequestSignal, null as never);
    await lock.signal(lockReleaseSignal, { requestId: 7 } as never);
    await lock.signal('lockRequest', {
      requestId: 'r1',
      workflowId: handle.workflowId,
      runId: 'x',
      mode: 'steal',
    });
    await lock.signal('takeOver', {});
    const state = await eventually('four ignored lock signals', async () => {
      const s = await lock.query(lockStateQuery);
      return s.ignored >= 4 ? s : undefined;
    });
    expect(state).toMatchObject({ model: '(unknown)', queue: [] });
    expect(state.holder).toBeUndefined();
    const failedTasks = ((await lock.fetchHistory()).events ?? []).filter(
      (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    );
    expect(failedTasks).toHaveLength(0);
    // An idle lock ends by itself after 30 s; either way it must not outlive the test.
    await lock.terminate('test done').catch(() => undefined);
  });

  it('after all of it, a listed approver approves and the promotion completes normally', async () => {
    const before = await promotionStatus(handle);
    expect(before.ignoredSignals).toBe(signalsSent);
    expect(before.audit.filter((a) => a.kind === 'ignored-signal')).toHaveLength(Math.min(20, signalsSent));
    // No workflow task failed: every garbage message was handled, none jammed the run.
    const history = await handle.fetchHistory();
    const failedTasks = (history.events ?? []).filter(
      (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    );
    expect(failedTasks).toHaveLength(0);

    await decide(handle, 'approve', { approver: 'bob', reason: 'garbage ignored' });
    const final = await handle.result();
    expect(final.outcome, final.reason).toBe('promoted');
    expect(final.approval.decision).toMatchObject({ by: 'bob', via: 'update' });
    const mv = await h.mlflow.getModelVersion(model, version);
    expect(mv.aliases).toContain('champion');
    expect(mv.tags[TAG.outcome]).toBe('promoted');
    // The audit that went to MLflow stayed small however much garbage came in.
    expect(JSON.stringify(final).length).toBeLessThan(64 * 1024);
  });
});
