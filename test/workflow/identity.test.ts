/* eslint-disable @typescript-eslint/require-await -- stubs stand in for activities, which return promises */
import { WorkflowUpdateFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalStatement, newStatement, parseKeyLine, type DecisionAction } from '../../src/identity';
import type { ResolveTrustInput, WatchCanaryOutput } from '../../src/promotion/contracts';
import type { PromotionState } from '../../src/promotion/state';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { pauseUpdate, promoteFullUpdate, resumeUpdate, statusQuery } from '../../src/workflows/messages';
import { promoteModel } from '../../src/workflows/promote';
import { keyDir, type KeyDir, type TestKey } from '../support/ssh-keys';
import { liveSpec } from '../support/specs';
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
 * Signed operator controls in the real workflow (dev server, stubbed activities): the validators
 * verify ssh-keygen signatures against the keys the trust activity returned at the start, in
 * workflow time, and refuse a statement used once already in this run.
 */
let env: TestWorkflowEnvironment;
let keys: KeyDir;
let ops: TestKey;
let alice: TestKey;

beforeAll(async () => {
  env = await devServerEnv();
  keys = keyDir();
  ops = keys.key('ops');
  alice = keys.key('alice');
});
afterAll(async () => {
  await env?.teardown();
  keys?.close();
});

type Handle = WorkflowHandleWithFirstExecutionRunId<typeof promoteModel>;
const TARGET = 'http://gateway.test:8080';
let seq = 0;
const fingerprint = (k: TestKey) => {
  const parsed = parseKeyLine(k.publicLine);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.value.fingerprint;
};
const passedWatch = (): WatchCanaryOutput => ({
  verdict: verdict('canary'),
  ticks: 3,
  endedEarly: false,
  elapsedMs: 3000,
});

function trustingWorld(watch: () => Promise<WatchCanaryOutput>): World {
  return stubWorld({
    overrides: {
      watchCanary: watch,
      resolveTrust: async (i: ResolveTrustInput) => ({
        people: [
          ...(i.operators.includes('ops') ? [{ name: 'ops', fingerprints: [fingerprint(ops)] }] : []),
          ...(i.approvers.includes('alice') ? [{ name: 'alice', fingerprints: [fingerprint(alice)] }] : []),
        ],
        trustFile: 'test',
      }),
    },
  });
}

async function withPromotion<T>(world: World, spec: PromotionSpecInput, body: (h: Handle) => Promise<T>) {
  const { taskQueue, worker } = await startWorker(env, world);
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(promoteModel, {
      taskQueue,
      workflowId: `promote/${spec.model}/2/${++seq}`,
      args: [promotionInput(spec, '2')],
    });
    return body(handle);
  });
}

const until = (h: Handle, what: string, test: (s: PromotionState) => boolean) =>
  eventually(what, async () => {
    const s = await h.query(statusQuery);
    return test(s) ? s : undefined;
  });

function signed(h: Handle, key: TestKey, action: DecisionAction, reason: string) {
  const statement = canonicalStatement(
    newStatement({ workflowId: h.workflowId, runId: h.firstExecutionRunId, action, reason }, Date.now()),
  );
  return {
    args: [{ statement, signature: keys.sign(key, statement) }] as [{ statement: string; signature: string }],
  };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: unknown) => (e instanceof WorkflowUpdateFailedError ? String((e.cause as Error).message) : String(e)),
  );

describe('signed operator controls', () => {
  it('pause, resume and promote --full signed by an operator; a replayed pause, a typed name and an approver are refused', async () => {
    const watch = blockingUntil(passedWatch);
    const world = trustingWorld(watch.fn);
    const spec: PromotionSpecInput = {
      ...liveSpec('sig-ops', TARGET, { weights: [20, 50], shadow: false }),
      identity: 'verified',
      operators: ['ops'],
    };
    const state = await withPromotion(world, spec, async (h) => {
      await until(h, 'the bake', (s) => s.phase === 'canary' && s.live?.step === 1);
      await eventually('the watch', async () => (watch.started() >= 1 ? true : undefined));
      expect(
        await refusal(h.executeUpdate(pauseUpdate, { args: [{ operator: 'ops', reason: 'typed' }] })),
      ).toMatch(/takes signed decisions only/);
      const pause = signed(h, ops, 'pause', 'investigating a spike');
      const paused = await h.executeUpdate(pauseUpdate, pause);
      expect(paused.live?.paused).toMatchObject({ by: 'ops', reason: 'investigating a spike' });
      await h.executeUpdate(resumeUpdate, signed(h, ops, 'resume', 'spike explained'));
      // The pause statement again: verified, trusted, fresh, for this run — and already used.
      expect(await refusal(h.executeUpdate(pauseUpdate, pause))).toBe(
        'signed pause refused: this signed statement was already used in this run',
      );
      // An approver's key is no operator's.
      expect(await refusal(h.executeUpdate(promoteFullUpdate, signed(h, alice, 'promoteFull', 'now')))).toBe(
        "'alice' may not promoteFull sig-ops (allowed: ops)",
      );
      await h.executeUpdate(promoteFullUpdate, signed(h, ops, 'promoteFull', 'incident needs the fix'));
      watch.release();
      return h.result();
    });
    expect(state.outcome).toBe('promoted');
    expect(state.decisions?.map((d) => `${d.action}:${d.by}`)).toEqual([
      'pause:ops',
      'resume:ops',
      'promoteFull:ops',
    ]);
    expect(new Set(state.decisions?.map((d) => d.digest)).size).toBe(3);
    const trustCall = world.callsOf('resolveTrust')[0]?.input as ResolveTrustInput | undefined;
    expect(trustCall).toMatchObject({ model: 'sig-ops', operators: ['ops'] });
    expect(state.identity?.people?.map((p) => p.name)).toEqual(['ops', 'alice']);
  });

  it('the go-ahead at a manual pause step is signed by one of its approvers', async () => {
    const world = trustingWorld(async () => passedWatch());
    const base = liveSpec('sig-goahead', TARGET, { weights: [20], shadow: false });
    const spec: PromotionSpecInput = {
      ...base,
      identity: 'verified',
      operators: ['ops'],
      canary: {
        ...base.canary,
        steps: [{ setWeight: 20 }, { pause: { approvers: ['alice'] } }, { setWeight: 50 }],
      },
    };
    const state = await withPromotion(world, spec, async (h) => {
      await until(h, 'the go-ahead', (s) => (s.live?.awaitingGoAhead?.length ?? 0) > 0);
      // ops may operate, but this step waits for alice.
      expect(await refusal(h.executeUpdate(resumeUpdate, signed(h, ops, 'resume', 'go')))).toMatch(
        /'ops' may not resume .*allowed: alice/,
      );
      await h.executeUpdate(resumeUpdate, signed(h, alice, 'resume', 'dashboards fine'));
      return h.result();
    });
    expect(state.outcome).toBe('promoted');
    expect(state.decisions?.map((d) => `${d.action}:${d.by}`)).toEqual(['resume:alice']);
    const trustCall = world.callsOf('resolveTrust')[0]?.input as ResolveTrustInput | undefined;
    // The spec's approvers (liveSpec: alice, bob) and the pause step's, once each.
    expect(trustCall?.approvers).toEqual(['alice', 'bob']);
  });
});
