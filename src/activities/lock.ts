import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { lockRequestSignal, type LockRequest, type RolloutLockInput } from '../promotion/lock-protocol';

/**
 * The two activities behind the rollout lock (src/workflows/rollout-lock.ts). Workflows cannot
 * signal-with-start, nor watch another workflow's end; these do both through the worker's client.
 */

export interface RequestRolloutLockInput {
  readonly lockId: string;
  readonly lock: RolloutLockInput;
  readonly request: LockRequest;
}

/**
 * Asks for a turn: signals the lock, starting it first when it is not running. Idempotent: the lock
 * ignores a request id it already knows, so a retry after a lost answer queues nobody twice.
 */
export async function requestRolloutLock(input: RequestRolloutLockInput): Promise<void> {
  const ctx = Context.current();
  await ctx.client.workflow.signalWithStart('rolloutLock', {
    workflowId: input.lockId,
    taskQueue: ctx.info.taskQueue,
    args: [input.lock],
    signal: lockRequestSignal,
    signalArgs: [input.request],
    staticSummary: `One live rollout at a time for ${input.lock.model} on ${input.lock.target}`,
  });
}

export interface AwaitWorkflowClosedInput {
  readonly workflowId: string;
  readonly runId: string;
}

const POLL_MS = 2_000;

/**
 * Returns once the given run is no longer running (completed, failed, terminated, timed out, or gone),
 * with its status name. Polls rather than long-polls so that a cancellation (the holder released its
 * turn) is seen at the next heartbeat.
 */
export async function awaitWorkflowClosed(input: AwaitWorkflowClosedInput): Promise<string> {
  const ctx = Context.current();
  const handle = ctx.client.workflow.getHandle(input.workflowId, input.runId);
  for (;;) {
    try {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') return status.name;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return 'NOT_FOUND';
      throw e;
    }
    ctx.heartbeat();
    await ctx.sleep(POLL_MS); // rejects with a CancelledFailure once the lock cancels the watch
  }
}
