import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WatchCanaryInput } from '../../src/promotion/contracts';
import type { PromotionInput, PromotionState } from '../../src/promotion/state';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { promoteModel } from '../../src/workflows/promote';
import { liveSpec } from '../support/specs';
import {
  endRolloutLock,
  promotionInput,
  startWorker,
  stubWorld,
  timeSkippingEnv,
  type World,
} from '../support/workflow-env';

/**
 * What the workflow asks of each canary watch in each analysis mode: the sequential default divides
 * alpha by the windows and lets a bake end once passed after its minimum; bonferroni divides it by
 * every look and bakes to the end; a spec parsed before modes existed (a workflow history started
 * then) keeps bonferroni.
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

async function watches(world: World, input: PromotionInput): Promise<WatchCanaryInput[]> {
  const { taskQueue, worker } = await startWorker(env, world);
  try {
    const state: PromotionState = await worker.runUntil(() =>
      env.client.workflow.execute(promoteModel, {
        taskQueue,
        workflowId: `promote/${input.spec.model}/2/${++seq}`,
        args: [input],
      }),
    );
    expect(state.outcome, state.reason).toBe('promoted');
  } finally {
    await endRolloutLock(env, input.spec.model, target);
  }
  return world.callsOf('watchCanary').map((c) => c.input as WatchCanaryInput);
}

function withBakes(model: string, analysis: Record<string, unknown> = {}): PromotionSpecInput {
  const base = liveSpec(model, target, { shadow: false });
  const canary = base.canary as NonNullable<PromotionSpecInput['canary']>;
  return {
    ...base,
    canary: {
      steps: [{ setWeight: 20 }, { bake: { min: '5s', max: '1m' } }, { setWeight: 60 }, { bake: '30s' }],
      analysis: { ...canary.analysis, ...analysis },
    },
  };
}

describe('canary analysis modes in the workflow', () => {
  it('sequential (default): alpha over the 2 windows; a { min, max } bake may end after min, a plain one at its end', async () => {
    const calls = await watches(stubWorld(), promotionInput(withBakes('modes-seq'), '2'));
    expect(calls.map((c) => [c.looks, c.stopWhenConclusive, c.minDurationMs, c.durationMs])).toEqual([
      [2, true, 5_000, 60_000],
      [2, true, 30_000, 30_000],
    ]);
    expect(calls[0]?.analysis.mode).toBe('sequential');
  });

  it('bonferroni: alpha over every planned look, bakes run to their end', async () => {
    const input = promotionInput(withBakes('modes-bonf', { mode: 'bonferroni' }), '2');
    const calls = await watches(stubWorld(), input);
    // (60 s / 1 s + 1) + 2 × (3 s + 1) and (30 + 1) + 2 × 4 looks (liveSpec: interval 1 s, 2 extensions of 3 s).
    const looks = 61 + 8 + 31 + 8;
    expect(calls.map((c) => [c.looks, c.stopWhenConclusive, c.minDurationMs])).toEqual([
      [looks, false, undefined],
      [looks, false, undefined],
    ]);
  });

  it('a spec without a mode (parsed before modes existed) keeps bonferroni', async () => {
    const input = promotionInput(withBakes('modes-old'), '2');
    const canary = input.spec.canary as NonNullable<PromotionInput['spec']['canary']>;
    const { mode: _dropped, ...analysis } = canary.analysis;
    const old = { ...input, spec: { ...input.spec, canary: { ...canary, analysis } } } as PromotionInput;
    const calls = await watches(stubWorld(), old);
    expect(calls.map((c) => c.stopWhenConclusive)).toEqual([false, false]);
    expect(calls[0]?.looks).toBeGreaterThan(2);
  });
});
