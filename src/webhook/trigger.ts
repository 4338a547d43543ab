import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { startPromotion } from '../client/promotions';
import { isProgradeError, type ErrorCode } from '../errors';
import type { MlflowClient } from '../mlflow/client';
import { workflowIdFor, type PromotionInput } from '../promotion/state';
import { findCandidate } from '../records/candidate';
import type { RegisteredSpec } from './spec-registry';

export interface TriggerDeps {
  readonly specs: ReadonlyMap<string, RegisteredSpec>;
  readonly mlflow: MlflowClient;
  readonly client: Client;
  readonly taskQueue: string;
}

/** What a delivery did, as the HTTP answer says it (status and body). */
export interface TriggerResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * An alias was set on `model` v`version`: when it is the spec's candidate alias, start
 * promote/<model>/<version> with the spec registered for the model, through the same
 * `startPromotion` as `prograde promote` (the workflow id is the idempotency key; an open run is
 * attached to, not doubled). A promotion of this version that already ran to its end is not started
 * again from a webhook: that is a decision for a person (`prograde promote --version`).
 */
export async function onAliasSet(
  deps: TriggerDeps,
  ev: { readonly model: string; readonly alias: string; readonly version: string },
  requestedBy: string,
): Promise<TriggerResult> {
  const registered = deps.specs.get(ev.model);
  if (!registered) {
    return {
      status: 404,
      body: {
        error: 'WEBHOOK_UNKNOWN_MODEL' satisfies ErrorCode,
        message: `no promotion spec is registered for model '${ev.model}' (the webhook's --specs folder has: ${[...deps.specs.keys()].join(', ')})`,
      },
    };
  }
  const spec = registered.loaded.spec;
  if (ev.alias !== spec.aliases.candidate) {
    return ignored(`alias @${ev.alias} is not the spec's candidate alias @${spec.aliases.candidate}`);
  }
  const workflowId = workflowIdFor(spec.model, ev.version);
  let candidate;
  try {
    candidate = await findCandidate(deps.mlflow, {
      model: spec.model,
      aliases: spec.aliases,
      version: ev.version,
    });
  } catch (e) {
    // A version deleted since the delivery was sent: the caller's input, not our failure.
    if (isProgradeError(e) && e.exitClass === 'invalid-input') {
      return { status: 422, body: { error: e.code, message: e.message } };
    }
    throw e;
  }
  if (candidate.alreadyPromoted) return ignored(`v${ev.version} is already promoted`, workflowId);
  const closed = await closedStatus(deps.client, workflowId);
  if (closed)
    return ignored(`${workflowId} already ran (${closed}); start a re-run with prograde promote`, workflowId);
  const input: PromotionInput = {
    spec,
    specFile: registered.loaded.file,
    specSha256: registered.loaded.sha256,
    candidateVersion: ev.version,
    dataset: registered.dataset,
    requestedBy,
  };
  const started = await startPromotion(deps.client, input, deps.taskQueue);
  return {
    status: started.started ? 201 : 200,
    body: { workflowId, runId: started.runId, started: started.started },
  };
}

function ignored(reason: string, workflowId?: string): TriggerResult {
  return { status: 200, body: { ignored: true, reason, ...(workflowId ? { workflowId } : {}) } };
}

/** The status name of a finished run of this id, undefined when none exists or one is open. */
async function closedStatus(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING' ? undefined : d.status.name;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return undefined;
    throw e;
  }
}
