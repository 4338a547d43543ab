import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setDefaultSignalHandler,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  LockReleaseSchema,
  LockRequestSchema,
  RolloutLockInputSchema,
  lockAnswerSignal,
  lockReleaseSignal,
  lockRequestSignal,
  lockStateQuery,
  type LockAnswer,
  type LockRequest,
  type LockState,
  type RolloutLockInput,
} from '../promotion/lock-protocol';
import { parseArgs } from './payloads';
import type { Activities } from './run';

/**
 * rollout-lock/<model>/<target hash>: one live rollout per model and serving target at a time.
 *
 * Why a lock workflow: the gateway's generation check turns two writers into a 409 for one of them,
 * which is a failure, not an order. The lock makes the order explicit and durable: a promotion asks
 * for its turn with signal-with-start (an activity, so the lock exists whoever comes first), the lock
 * keeps a FIFO queue and grants by signalling the requester, and the holder releases by signal when its
 * outcome is recorded, on every path (promoted, rejected, rolled back, aborted, failed, cancelled:
 * the release runs non-cancellable). A holder that dies without releasing (terminated, timed out,
 * reset) must not block the queue forever, so while a turn is held the lock runs one heartbeating
 * activity that polls the holder's status and ends when the holder's run is closed.
 *
 * Why not a Temporal-side mutex via workflow-id uniqueness (e.g. a child `live/<model>` that a second
 * rollout fails to start): that refuses, but cannot queue without polling, and says nothing about who
 * is ahead. Here a waiting promotion shows "waiting for <workflow id> to finish its live rollout".
 *
 * The lock is small and ends itself after it has been idle for IDLE; a request that races the end is
 * safe, since signal-with-start either reaches the open run (its completion is then refused by the
 * server and replayed with the signal) or starts a new one. History stays bounded by continue-as-new.
 */
const IDLE = '30 seconds';
const MAX_EVENTS_BEFORE_CONTINUE = 2_000;

const { awaitWorkflowClosed } = proxyActivities<Activities>({
  // The holder's rollout may last days; an attempt that reaches this is simply started again.
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

export async function rolloutLock(raw: RolloutLockInput): Promise<void> {
  const lockId = workflowInfo().workflowId;
  // Anyone can start a workflow of this type by this id; a lock started with garbage still works.
  const parsed = parseArgs(RolloutLockInputSchema, [raw]);
  const input = parsed.ok ? parsed.value : { model: '(unknown)', target: '(unknown)' };
  if (!parsed.ok) log.warn('rollout lock started with an invalid input', { problem: parsed.problem });
  let holder: LockRequest | undefined = input.holder;
  const queue: LockRequest[] = [...(input.queue ?? [])];
  /** Answers owed to requesters (queued and denied notices), sent by the main loop. */
  const owed: { to: Requester; answer: LockAnswer }[] = [];
  let ignored = 0;

  const known = (id: string) => holder?.requestId === id || queue.some((q) => q.requestId === id);
  const ignore = (what: string, problem: string) => {
    ignored++;
    log.warn('ignored lock signal', { what, problem });
  };
  const queued = (req: LockRequest, ahead: number): { to: Requester; answer: LockAnswer } => ({
    to: req,
    answer: {
      lockId,
      requestId: req.requestId,
      answer: 'queued',
      ahead,
      ...(holder ? { holder: holder.workflowId } : {}),
    },
  });

  setHandler(lockStateQuery, (): LockState => ({
    model: input.model,
    target: input.target,
    holder,
    queue: [...queue],
    ignored,
  }));
  setHandler(lockRequestSignal, (...args: unknown[]) => {
    const parsed = parseArgs(LockRequestSchema, args);
    if (!parsed.ok) return ignore('lockRequest', parsed.problem);
    const req = parsed.value;
    if (known(req.requestId)) return; // a retried request activity
    const busy = holder ?? queue[0];
    if (req.mode === 'try' && busy) {
      owed.push({
        to: req,
        answer: { lockId, requestId: req.requestId, answer: 'denied', holder: busy.workflowId },
      });
      return;
    }
    queue.push(req);
    if (holder) owed.push(queued(req, queue.length));
  });
  setDefaultSignalHandler((name: string) => ignore(name, 'no such signal'));
  setHandler(lockReleaseSignal, (...args: unknown[]) => {
    const parsed = parseArgs(LockReleaseSchema, args);
    if (!parsed.ok) return ignore('lockRelease', parsed.problem);
    const { requestId } = parsed.value;
    if (holder?.requestId === requestId) holder = undefined;
    const at = queue.findIndex((q) => q.requestId === requestId);
    if (at >= 0) queue.splice(at, 1);
  });

  const showDetails = () =>
    setCurrentDetails(
      [
        `One live rollout at a time for **${input.model}** on ${input.target}`,
        `Holder: ${holder ? holder.workflowId : 'none'}`,
        `Waiting: ${queue.length > 0 ? queue.map((q) => q.workflowId).join(', ') : 'nobody'}`,
      ].join('\n\n'),
    );

  let watch: { requestId: string; scope: CancellationScope; closed: boolean } | undefined;
  const stopWatching = () => {
    watch?.scope.cancel();
    watch = undefined;
  };
  const startWatching = (current: LockRequest) => {
    const w = { requestId: current.requestId, scope: new CancellationScope(), closed: false };
    watch = w;
    w.scope
      .run(() => awaitWorkflowClosed({ workflowId: current.workflowId, runId: current.runId }))
      .then(
        (status) => {
          w.closed = true;
          log.warn('holder closed without releasing', { workflowId: current.workflowId, status });
        },
        (e: unknown) => {
          if (isCancellation(e)) return;
          w.closed = true;
          log.warn('cannot watch the holder; releasing its turn', { error: String(e) });
        },
      );
  };

  for (;;) {
    for (let next = owed.shift(); next; next = owed.shift()) await tell(next.to, next.answer);
    if (!holder) {
      stopWatching();
      const next = queue.shift();
      if (next) {
        holder = next;
        if (await tell(next, { lockId, requestId: next.requestId, answer: 'granted' })) {
          queue.forEach((q, i) => owed.push(queued(q, i + 1)));
        } else {
          holder = undefined;
        }
        continue;
      }
      showDetails();
      const work = () => queue.length > 0 || owed.length > 0 || holder !== undefined;
      if ((await condition(() => work() || tooLong(), IDLE)) && work()) continue;
      // Idle (or flooded with garbage): end; the next request starts a fresh run.
      await condition(allHandlersFinished);
      if (!work()) return;
      continue;
    }
    if (watch?.requestId !== holder.requestId) {
      stopWatching();
      startWatching(holder);
    }
    showDetails();
    const held = holder.requestId;
    await condition(
      () => holder?.requestId !== held || owed.length > 0 || watch?.closed === true || tooLong(),
    );
    if (watch?.closed && holder?.requestId === held) holder = undefined;
    if (holder && owed.length === 0 && tooLong()) {
      stopWatching();
      await condition(allHandlersFinished);
      await continueAsNew<typeof rolloutLock>({ ...input, holder, queue: [...queue] });
    }
  }
}

const tooLong = () => workflowInfo().historyLength > MAX_EVENTS_BEFORE_CONTINUE;

interface Requester {
  readonly workflowId: string;
  readonly runId?: string;
}

/** A requester that no longer runs cannot be signalled; it is simply dropped. */
async function tell(to: Requester, answer: LockAnswer): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(to.workflowId, to.runId).signal(lockAnswerSignal, answer);
    return true;
  } catch (e) {
    log.info('requester gone', { workflowId: to.workflowId, error: String(e) });
    return false;
  }
}
