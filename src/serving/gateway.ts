import type { Logger } from 'pino';
import { Boot } from './boot';
import { ControlPlane, type ApplyResult, type RoutingViewOf } from './control-plane';
import { DataPlane, type InferCall, type InferResult } from './data-plane';
import type { ChangeAuthor, RoutingPut } from './desired-state';
import type { GatewayMetrics } from './metrics';
import type { ModelLookup } from './model-lookup';
import type { ModelSource } from './model-source';
import type { PredictionLog } from './prediction-log';
import type { ModelRateLimiter } from './rate-limit';
import { RoutingState } from './routing-state';
import type { AuditEntry, StateStore } from './state-store';
import { StatsStore, type StatsQuery } from './stats-store';
import type { VersionHost } from './version-host';
import type { WindowSnapshot, WindowStatsOptions } from './window-stats';
import type { ModelSignature } from './worker/messages';

export { scoresOf } from './output-scores';
export { VariantError, type InferCall, type InferResult } from './data-plane';
export type { ApplyResult } from './control-plane';

export interface GatewayCoreDeps {
  readonly source: ModelSource;
  /** Whether a model without routing exists (404 vs 503), cached and time-bounded. */
  readonly lookup: ModelLookup;
  readonly store: StateStore;
  /** Versions that take traffic (stable, canary, retained). */
  readonly servingHost: VersionHost;
  /** Shadow versions, on their own worker threads so mirrored work never queues ahead of callers. */
  readonly shadowHost: VersionHost;
  readonly metrics: GatewayMetrics;
  readonly limiter: ModelRateLimiter;
  /** Retry-After of a 429 from the rate limiter. */
  readonly retryAfterSec?: number;
  readonly logger: Logger;
  readonly stats: WindowStatsOptions;
  /** Shadow copies waiting or running; beyond this, new copies are dropped (and counted). */
  readonly maxShadowBacklog: number;
  readonly predictionLog?: PredictionLog | undefined;
  readonly random?: () => number;
  /** Pause between attempts to reload a model that failed to restore at boot. */
  readonly restoreRetryMs?: number;
  /** This replica's identity (--replica-id), shown by /v2/health. */
  readonly replica?: () => string | undefined;
}

/**
 * The gateway's behaviour, independent of HTTP, as one object for the HTTP layer: it wires the
 * routing state every plane shares to the data plane (inference, shadow), the control plane
 * (routing changes), the stats store and boot (restore). It holds no logic of its own.
 */
export class Gateway {
  private readonly data: DataPlane;
  private readonly control: ControlPlane;
  private readonly stats: StatsStore;
  private readonly routing: RoutingState;
  private readonly boot: Boot;

  constructor(private readonly deps: GatewayCoreDeps) {
    this.routing = new RoutingState(deps.lookup);
    this.stats = new StatsStore(deps.stats);
    this.data = new DataPlane(deps, this.routing, this.stats);
    this.control = new ControlPlane(deps, this.routing, this.stats);
    this.boot = new Boot(deps, this.routing, this.stats, this.control);
  }

  /** Reloads the persisted routing; until it finishes the gateway is not ready. */
  restore(): Promise<void> {
    return this.boot.restore();
  }

  /** This replica's identity, when the gateway was given one (the server always gives one). */
  get replica(): string | undefined {
    return this.deps.replica?.();
  }

  isReady(): boolean {
    return this.data.isReady();
  }

  isModelReady(model: string): boolean {
    return this.data.isModelReady(model);
  }

  models(): string[] {
    return this.routing.models();
  }

  /** The served models, sorted, without a copy (for the per-request default model of `/invocations`). */
  modelList(): readonly string[] {
    return this.routing.modelList();
  }

  /** Throws the answer for a model that cannot take traffic (404 unknown, 503 not routed or not ready). */
  async checkServed(model: string): Promise<void> {
    await this.routing.require(model);
  }

  infer(call: InferCall): Promise<InferResult> {
    return this.data.infer(call);
  }

  metadata(
    model: string,
    version?: string,
  ): Promise<{ versions: string[]; version: string; signature: ModelSignature }> {
    return this.data.metadata(model, version);
  }

  applyRouting(model: string, put: RoutingPut, author: ChangeAuthor = {}): Promise<ApplyResult> {
    return this.control.applyRouting(model, put, author);
  }

  // Both answer 503 SERVING_NOT_READY until boot has restored the saved routing: the gateway listens
  // before its models are reloaded, and a watch reading "no routing" from a gateway that is only
  // restarting would end a healthy canary (GATEWAY_MODEL_NOT_FOUND is terminal, a 503 is retried).
  routingView(model: string): RoutingViewOf | undefined {
    this.routing.requireRestored();
    return this.control.routingView(model);
  }

  statsView(model: string, query: StatsQuery): WindowSnapshot & { generation: number } {
    this.routing.requireRestored();
    return this.stats.view(model, this.routing.get(model)?.generation, query);
  }

  audit(model?: string): Promise<AuditEntry[]> {
    return this.control.audit(model);
  }

  async close(): Promise<void> {
    this.boot.close();
    await this.control.drain();
  }
}
