import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { TurnInbox } from './handlers';
import type { Control } from './live';
import { lockReleaseSignal, normaliseTarget, rolloutLockIdFor } from '../promotion/lock-protocol';
import { serviceOptions, Stop, type Activities, type PromotionRun } from './run';

const { requestRolloutLock } = proxyActivities<Activities>(serviceOptions);

/**
 * A promotion's side of the rollout lock (rollout-lock.ts): ask for the turn on (model, target), wait
 * for it while showing who is ahead, and give it back. `queue` waits; `try` is refused at once when
 * another promotion holds or waits. Waiting ends at once on abort.
 */
export class LiveTurn {
  readonly lockId: string;
  private readonly target: string;
  private requested = false;

  constructor(
    private readonly run: PromotionRun,
    private readonly control: Control,
    private readonly inbox: TurnInbox,
    targetUrl: string,
  ) {
    this.target = normaliseTarget(targetUrl);
    this.lockId = rolloutLockIdFor(run.state.model, targetUrl);
  }

  async acquire(mode: 'queue' | 'try'): Promise<void> {
    const { workflowId, runId } = workflowInfo();
    const requestId = uuid4();
    this.inbox.expect = { lockId: this.lockId, requestId };
    this.inbox.answer = undefined;
    this.requested = true;
    this.run.enter('queued', `the live turn on ${this.target} (asking ${this.lockId})`);
    await requestRolloutLock.executeWithOptions(
      { ...serviceOptions, summary: `ask for the live turn on ${this.target}` },
      [
        {
          lockId: this.lockId,
          lock: { model: this.run.state.model, target: this.target },
          request: { requestId, workflowId, runId, mode },
        },
      ],
    );
    let shown = '';
    for (;;) {
      await condition(
        () =>
          !!this.control.abort || (this.inbox.answer !== undefined && describeAnswer(this.inbox) !== shown),
      );
      const abort = this.control.abort;
      if (abort) throw new Stop('aborted', `aborted by ${abort.operator} while queued: ${abort.reason}`);
      const answer = this.inbox.answer as TurnInbox['answer'];
      if (!answer) continue;
      if (answer.answer === 'granted') {
        this.run.audit('live-turn', `granted the live turn on ${this.target}`);
        return;
      }
      if (answer.answer === 'denied') {
        throw new Stop(
          'rejected',
          `another promotion (${answer.holder ?? 'unknown'}) holds the live turn for ${this.run.state.model} on ${this.target}; the spec says target.whenBusy: refuse`,
        );
      }
      shown = describeAnswer(this.inbox);
      this.run.waitFor(shown);
      this.run.audit('queued', `waiting for ${shown}`);
    }
  }

  /** Gives the turn back (or leaves the queue). Never cancelled; a lock that is gone needs nothing. */
  async release(): Promise<void> {
    if (!this.requested) return;
    this.requested = false;
    const requestId = this.inbox.expect?.requestId ?? '';
    await CancellationScope.nonCancellable(async () => {
      try {
        await getExternalWorkflowHandle(this.lockId).signal(lockReleaseSignal, {
          requestId,
          workflowId: workflowInfo().workflowId,
        });
      } catch (e) {
        log.warn('rollout lock gone at release', { lockId: this.lockId, error: String(e) });
      }
    });
  }
}

function describeAnswer(inbox: TurnInbox): string {
  const a = inbox.answer;
  if (!a || a.answer !== 'queued') return a?.answer ?? '';
  const ahead = a.ahead ?? 1;
  // Read after "waiting for" (status) or "Waiting for:" (the UI's current details).
  return `${a.holder ?? 'another promotion'} to finish its live rollout (${ahead} ahead in the queue)`;
}
