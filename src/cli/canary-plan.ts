import { DefaultPayloadConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { adminFor } from '../config/gateway';
import { replicasOf } from '../promotion/contracts';
import { canaryPlanLines } from '../live/canary-plan';
import type { PromotionInput } from '../promotion/state';
import type { PromotionSpec } from '../spec/schema';

/**
 * The sample-size plan of a spec's canary as `prograde promote` and `prograde status` print it: the
 * model's recent traffic from the spec's gateway (its admin token from the environment, as the worker
 * reads it). Advice only: without a target or a token it says why in one line.
 */
export async function canaryPlanFor(spec: PromotionSpec): Promise<string[]> {
  const target = spec.target;
  if (!spec.canary) return [];
  if (!target) return ['canary plan: not available (the spec names no target)'];
  return canaryPlanLines(spec, () =>
    adminFor({
      url: target.url,
      ...(target.tokenEnv !== undefined ? { tokenEnv: target.tokenEnv } : {}),
      ...replicasOf(target),
    }),
  );
}

/**
 * The spec a promotion was started with, from the first event of its history (the workflow's input);
 * undefined when it cannot be read. Clients encode with the SDK's default converter, so it decodes here.
 */
export async function startedSpec(handle: WorkflowHandle): Promise<PromotionSpec | undefined> {
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) return undefined;
  const input = new DefaultPayloadConverter().fromPayload<Partial<PromotionInput> | null>(payload);
  const spec = input?.spec;
  return spec && typeof spec.model === 'string' ? spec : undefined;
}
