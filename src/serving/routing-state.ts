import type { AppliedRouting } from './desired-state';
import { HttpError } from './http-util';
import type { ModelLookup } from './model-lookup';

/**
 * The routing every plane reads: what is applied per model, and whether boot has restored it yet.
 * Writes come only from the control plane and from boot; the data plane only reads.
 */
export class RoutingState {
  private readonly applied = new Map<string, AppliedRouting>();
  private restoredFlag = false;

  constructor(private readonly lookup: ModelLookup) {}

  get restored(): boolean {
    return this.restoredFlag;
  }

  markRestored(): void {
    this.restoredFlag = true;
  }

  get(model: string): AppliedRouting | undefined {
    return this.applied.get(model);
  }

  set(model: string, routing: AppliedRouting): void {
    if (!this.applied.has(model)) this.sortedModels = undefined;
    this.applied.set(model, routing);
  }

  /** Sorted names, kept until a model is added: `/invocations` without a model name reads it per request. */
  private sortedModels: readonly string[] | undefined;

  models(): string[] {
    return [...this.modelList()];
  }

  /** The same list, shared and read-only: no copy per request. */
  modelList(): readonly string[] {
    this.sortedModels ??= [...this.applied.keys()].sort();
    return this.sortedModels;
  }

  /** The applied routing when the model can take traffic now; undefined: `require` says why not. */
  appliedNow(model: string): AppliedRouting | undefined {
    return this.restoredFlag ? this.applied.get(model) : undefined;
  }

  /** Throws the answer for a model that cannot take traffic (404 unknown, 503 not routed or not ready). */
  async require(model: string): Promise<AppliedRouting> {
    this.requireRestored();
    const applied = this.applied.get(model);
    if (applied) return applied;
    if (await this.lookup.exists(model))
      throw new HttpError(503, 'SERVING_NO_ROUTING', `model '${model}' has no routing yet`, { model });
    throw new HttpError(404, 'SERVING_MODEL_NOT_FOUND', `unknown model '${model}'`, { model });
  }

  requireRestored(): void {
    if (!this.restoredFlag)
      throw new HttpError(503, 'SERVING_NOT_READY', 'the gateway is still restoring its models');
  }
}
