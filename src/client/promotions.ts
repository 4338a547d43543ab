import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowUpdateFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ProgradeError, messageOf } from '../errors';
import {
  abortUpdate,
  approveUpdate,
  pauseUpdate,
  promoteFullUpdate,
  rejectUpdate,
  resumeUpdate,
  statusQuery,
} from '../workflows/messages';
import { ModelAttr, VersionAttr, PhaseAttr } from '../promotion/search-attributes';
import {
  workflowIdFor,
  type DecisionRequest,
  type OperatorAction,
  type OperatorRequest,
  type PromotionInput,
  type PromotionState,
} from '../promotion/state';
import type { promoteModel } from '../workflows/promote';
import type { SignedStatement } from '../identity';

export type PromotionHandle = WorkflowHandle<typeof promoteModel>;

export interface StartedPromotion {
  readonly handle: PromotionHandle;
  readonly workflowId: string;
  readonly runId: string;
  /** false when a run for this version was already open and we attached to it. */
  readonly started: boolean;
}

/**
 * Starts promote/<model>/<version>, or attaches to the run already open for it: the workflow id is
 * the idempotency key, so CI retrying a job never starts a second promotion of the same version.
 */
export async function startPromotion(
  client: Client,
  input: PromotionInput,
  taskQueue: string,
): Promise<StartedPromotion> {
  const workflowId = workflowIdFor(input.spec.model, input.candidateVersion);
  const wasOpen = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch(() => false);
  const handle = await client.workflow.start('promoteModel', {
    taskQueue,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [
      { key: ModelAttr, value: input.spec.model },
      { key: VersionAttr, value: input.candidateVersion },
      { key: PhaseAttr, value: 'starting' },
    ],
    staticSummary:
      `Promote ${input.spec.model} v${input.candidateVersion} (requested by ${input.requestedBy})` +
      (input.spec.identity === 'unverified' ? ' — identity: unverified' : ''),
    staticDetails: [
      `Spec: \`${input.specFile}\` (sha256 \`${input.specSha256.slice(0, 12)}\`)`,
      `Champion alias: @${input.spec.aliases.champion}`,
      `Gates: performance ×${input.spec.gates.performance.length}` +
        (input.spec.gates.fairness ? ', fairness' : '') +
        (input.spec.gates.latency ? ', latency' : ''),
      `Approval: ${input.spec.approval.required ? input.spec.approval.approvers.join(', ') : 'not required'}`,
      `Operators: ${(input.spec.operators ?? []).join(', ') || 'none (operator actions are denied)'}`,
      input.spec.identity === 'unverified'
        ? 'Identity: **unverified** (the spec says so: typed names, nothing proves who decided)'
        : 'Identity: verified (decisions signed with SSH keys the worker trust file pins)',
    ].join('\n\n'),
  });
  return {
    handle: client.workflow.getHandle<typeof promoteModel>(workflowId),
    workflowId,
    runId: handle.firstExecutionRunId,
    started: !wasOpen,
  };
}

export function promotionHandle(client: Client, model: string, version: string): PromotionHandle {
  return client.workflow.getHandle<typeof promoteModel>(workflowIdFor(model, version));
}

export async function promotionStatus(handle: PromotionHandle): Promise<PromotionState> {
  try {
    return await handle.query(statusQuery);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) {
      throw new ProgradeError('PROMOTION_NOT_FOUND', `no promotion ${handle.workflowId} exists`, 'terminal', {
        workflowId: handle.workflowId,
      });
    }
    throw e;
  }
}

/**
 * Sends an approve/reject Update: a signed statement (identity: verified), or a typed name (identity:
 * unverified). The workflow's validator refuses bad signatures, keys it does not trust, callers who
 * are not listed approvers, decisions when nothing waits, and second decisions; its reason comes back
 * verbatim.
 */
export async function decide(
  handle: PromotionHandle,
  decision: 'approve' | 'reject',
  request: DecisionRequest | SignedStatement,
): Promise<PromotionState> {
  return sendUpdate(handle, decision, () =>
    handle.executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [wire(request)] }),
  );
}

const OPERATOR_UPDATES = {
  pause: pauseUpdate,
  resume: resumeUpdate,
  abort: abortUpdate,
  promoteFull: promoteFullUpdate,
} as const;

/** pause / resume / abort / promote --full: validated by the workflow, recorded with who and why. */
export function operate(
  handle: PromotionHandle,
  action: OperatorAction,
  request: OperatorRequest | SignedStatement,
): Promise<PromotionState> {
  return sendUpdate(handle, action, () =>
    handle.executeUpdate(OPERATOR_UPDATES[action], { args: [wire(request)] }),
  );
}

/** Exactly the fields the workflow accepts (it refuses unknown ones), whatever else the caller holds. */
function wire<T extends object>(request: T | SignedStatement): T | SignedStatement {
  return 'statement' in request ? { statement: request.statement, signature: request.signature } : request;
}

async function sendUpdate(
  handle: PromotionHandle,
  what: string,
  send: () => Promise<PromotionState>,
): Promise<PromotionState> {
  try {
    return await send();
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) {
      const cause = e.cause instanceof Error ? e.cause.message : messageOf(e);
      throw new ProgradeError('DECISION_REFUSED', `${what} refused: ${cause}`, 'terminal', {
        workflowId: handle.workflowId,
      });
    }
    if (e instanceof WorkflowNotFoundError) {
      throw new ProgradeError('PROMOTION_NOT_FOUND', `no open promotion ${handle.workflowId}`, 'terminal');
    }
    throw e;
  }
}

/** Polls the status query until the workflow ends, calling `onChange` whenever the state changes. */
export async function followPromotion(
  handle: PromotionHandle,
  onChange: (state: PromotionState) => void,
  pollMs = 1000,
): Promise<PromotionState> {
  let last = '';
  for (;;) {
    const desc = await handle.describe();
    const state = desc.status.name === 'RUNNING' ? await promotionStatus(handle) : await finalState(handle);
    const key = JSON.stringify([
      state.phase,
      state.outcome,
      state.gates.length,
      state.audit.length,
      state.waitingFor,
    ]);
    if (key !== last) {
      last = key;
      onChange(state);
    }
    // A promoted run keeps the old champion loaded for a while ('retaining'); the decision is final.
    if (
      desc.status.name !== 'RUNNING' ||
      (state.outcome !== undefined && (state.phase === 'retaining' || state.phase === 'done'))
    ) {
      return state;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function finalState(handle: PromotionHandle): Promise<PromotionState> {
  try {
    return await handle.result();
  } catch (e) {
    // A terminated or timed-out run has no result; the query still answers from its last state.
    const state = await promotionStatus(handle).catch(() => undefined);
    if (state) return { ...state, outcome: state.outcome ?? 'failed', reason: state.reason ?? messageOf(e) };
    throw new ProgradeError(
      'PROMOTION_FAILED',
      `${handle.workflowId} ended without a result: ${messageOf(e)}`,
      'terminal',
    );
  }
}

/** The run a statement for this promotion must name: the open run of its workflow id. */
export async function currentRunId(handle: PromotionHandle): Promise<string> {
  try {
    return (await handle.describe()).runId;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) {
      throw new ProgradeError('PROMOTION_NOT_FOUND', `no promotion ${handle.workflowId} exists`, 'terminal');
    }
    throw e;
  }
}

/** A link to the run in the Temporal Web UI. */
export function uiLink(uiBase: string, namespace: string, workflowId: string): string {
  return `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
