import type { Logger } from 'pino';
import { isProgradeError } from '../errors';
import { HttpError, publicMessageOf } from './http-util';
import type { GatewayMetrics } from './metrics';
import { hasNonFinite, scoresOf } from './output-scores';
import type { PredictionLog } from './prediction-log';
import type { ModelRateLimiter } from './rate-limit';
import type { CheckedRequest } from './request-tensors';
import { route, shouldShadow, type RoutingSpec, type Variant } from './routing';
import type { RoutingState } from './routing-state';
import type { StatsStore } from './stats-store';
import { toNumbers, type Tensor } from './tensors';
import type { ReadyVersion, VersionHost } from './version-host';
import type { WindowStats } from './window-stats';
import type { ModelSignature } from './worker/messages';

/**
 * The data plane: one inference request from routing decision to answer, and its fire-and-forget
 * shadow copy. It reads routing, never changes it, and records what it served in the stats store.
 */

export interface DataPlaneDeps {
  /** Versions that take traffic (stable, canary, retained). */
  readonly servingHost: VersionHost;
  /** Shadow versions, on their own worker threads so mirrored work never queues ahead of callers. */
  readonly shadowHost: VersionHost;
  readonly metrics: GatewayMetrics;
  readonly limiter: ModelRateLimiter;
  /** Retry-After of a 429 from the rate limiter. */
  readonly retryAfterSec?: number | undefined;
  readonly logger: Logger;
  /** Shadow copies waiting or running; beyond this, new copies are dropped (and counted). */
  readonly maxShadowBacklog: number;
  readonly predictionLog?: PredictionLog | undefined;
  readonly random?: (() => number) | undefined;
}

export interface InferCall {
  readonly model: string;
  /** Set when the URL names a version; it must be the stable or the canary version. */
  readonly version?: string | undefined;
  readonly routingKey?: string | undefined;
  readonly force?: Variant | undefined;
  /** The request's id, for log lines and the prediction log. */
  readonly requestId?: string | undefined;
  /** Parses the body against the signature of the version the request was routed to. */
  readonly parse: (signature: ModelSignature) => CheckedRequest;
}

export interface InferResult {
  readonly variant: Variant;
  readonly version: string;
  readonly signature: ModelSignature;
  readonly outputs: readonly Tensor[];
}

/** Which variant answered, so the HTTP layer can label even failed responses. */
export class VariantError extends HttpError {
  constructor(
    inner: HttpError,
    readonly variant: Variant,
    readonly version: string,
  ) {
    super(inner.status, inner.code, inner.message, inner.details, inner.reply);
  }
}

export class DataPlane {
  private shadowBacklog = 0;
  private readonly random: () => number;

  constructor(
    private readonly deps: DataPlaneDeps,
    private readonly routing: RoutingState,
    private readonly stats: StatsStore,
  ) {
    this.random = deps.random ?? Math.random;
  }

  isReady(): boolean {
    return this.routing.restored && this.routing.models().every((m) => this.isModelReady(m));
  }

  isModelReady(model: string): boolean {
    const applied = this.routing.get(model);
    if (!this.routing.restored || !applied) return false;
    const { stable, canary } = applied.spec;
    return (
      this.deps.servingHost.ready(model, stable.version) !== undefined &&
      (!canary || this.deps.servingHost.ready(model, canary.version) !== undefined)
    );
  }

  private readyVersion(model: string, version: string): ReadyVersion {
    const ready = this.deps.servingHost.ready(model, version);
    if (ready) return ready;
    const status = this.deps.servingHost.status(model, version);
    const why =
      status?.status === 'failed' ? `failed to load: ${status.error ?? 'unknown error'}` : 'is still loading';
    throw new HttpError(503, 'SERVING_VERSION_NOT_READY', `model '${model}' version ${version} ${why}`, {
      model,
      version,
    });
  }

  /** The variant and version that answer this call: the one the URL names, else the routing's pick. */
  private choose(call: InferCall, spec: RoutingSpec): { variant: Variant; version: string } {
    const { model } = call;
    if (call.version !== undefined) {
      if (call.version === spec.stable.version) return { variant: 'stable', version: call.version };
      if (call.version === spec.canary?.version) return { variant: 'canary', version: call.version };
      throw new HttpError(
        404,
        'SERVING_VERSION_NOT_SERVED',
        `model '${model}' version ${call.version} takes no traffic (stable ${spec.stable.version}${spec.canary ? `, canary ${spec.canary.version}` : ''})`,
        { model, version: call.version },
      );
    }
    const decision = route(spec, {
      model,
      routingKey: call.routingKey,
      force: call.force,
      random: this.random(),
    });
    if (decision.kind === 'no-canary')
      throw new HttpError(
        409,
        'SERVING_NO_CANARY',
        `canary forced by header but model '${model}' has no canary`,
        { model },
      );
    return { variant: decision.variant, version: decision.version };
  }

  async infer(call: InferCall): Promise<InferResult> {
    const { model } = call;
    // Served models are found without the async `require` (one promise less per request).
    const applied = this.routing.appliedNow(model) ?? (await this.routing.require(model));
    const spec = applied.spec;
    const { variant, version } = this.choose(call, spec);
    if (!this.deps.limiter.tryTake(model)) {
      this.deps.metrics.reject(model, 429);
      throw new HttpError(
        429,
        'SERVING_RATE_LIMITED',
        `rate limit of model '${model}' exceeded; retry later`,
        { model },
        { retryAfterSec: this.deps.retryAfterSec ?? 1 },
      );
    }
    const ready = this.readyVersion(model, version);
    const checked = call.parse(ready.signature);
    const stats = this.stats.of(model, applied.generation);
    const labels = { model, variant, version, generation: applied.generation };
    const started = performance.now();
    let outputs: readonly Tensor[];
    try {
      // At once on the event loop when it can (no promise, no extra turn), else queued or on a thread.
      outputs =
        ready.inferNow(checked.inputs, checked.rows) ?? (await ready.infer(checked.inputs, checked.rows));
    } catch (e) {
      const latencyMs = performance.now() - started;
      stats.record(variant, version, { latencyMs, error: true });
      this.deps.metrics.observe(labels, latencyMs, true);
      this.deps.logger.warn({ model, version, variant, reqId: call.requestId, err: e }, 'inference failed');
      const code = isProgradeError(e) ? e.code : 'SERVING_INFERENCE_FAILED';
      // A crashed inference thread is temporary (the pool restarts it): 503 tells clients to retry.
      const status = isProgradeError(e) && e.retry === 'retryable' ? 503 : 500;
      throw new VariantError(
        new HttpError(
          status,
          code,
          `inference on model '${model}' version ${version} failed: ${publicMessageOf(e)}`,
          {
            model,
            version,
          },
        ),
        variant,
        version,
      );
    }
    const latencyMs = performance.now() - started;
    const scores = scoresOf(outputs, spec.scoreOutput);
    const nonFinite = hasNonFinite(outputs);
    stats.record(variant, version, { latencyMs, error: nonFinite, scores });
    this.deps.metrics.observe(labels, latencyMs, nonFinite, scores);
    this.mirror(model, spec, checked, scores, stats, applied.generation);
    this.deps.predictionLog?.maybeLog(() => ({
      at: new Date().toISOString(),
      ...(call.requestId !== undefined ? { requestId: call.requestId } : {}),
      model,
      version,
      variant,
      inputs: Object.fromEntries(checked.inputs.map((t) => [t.name, toNumbers(t.data)])),
      outputs: Object.fromEntries(outputs.map((t) => [t.name, toNumbers(t.data)])),
    }));
    if (nonFinite) {
      // A NaN score is a broken prediction, not a result: the caller gets a 502 (the upstream model
      // misbehaved) and the variant's error count rises, so canary analysis sees it.
      throw new VariantError(
        new HttpError(502, 'SERVING_NON_FINITE_OUTPUT', 'model returned non-finite output', {
          model,
          version,
        }),
        variant,
        version,
      );
    }
    return { variant, version, signature: ready.signature, outputs };
  }

  /** Fire-and-forget copy to the shadow: nothing here is awaited by the caller, and no error escapes. */
  private mirror(
    model: string,
    spec: RoutingSpec,
    checked: CheckedRequest,
    primaryScores: readonly number[],
    stats: WindowStats,
    generation: number,
  ): void {
    const shadow = spec.shadow;
    if (!shadow || !shouldShadow(spec, this.random())) return;
    const target = this.deps.shadowHost.ready(model, shadow.version);
    if (!target) return;
    if (this.shadowBacklog >= this.deps.maxShadowBacklog) {
      this.deps.metrics.dropShadow(model);
      return;
    }
    this.shadowBacklog += 1;
    const labels = { model, variant: 'shadow', version: shadow.version, generation };
    const started = performance.now();
    target
      .infer(checked.inputs, checked.rows)
      .then((outputs) => {
        const latencyMs = performance.now() - started;
        const scores = scoresOf(outputs, spec.scoreOutput);
        const nonFinite = hasNonFinite(outputs);
        stats.record('shadow', shadow.version, { latencyMs, error: nonFinite, scores });
        stats.recordPairs(primaryScores, scores);
        this.deps.metrics.observe(labels, latencyMs, nonFinite, scores);
      })
      .catch((e: unknown) => {
        const latencyMs = performance.now() - started;
        stats.record('shadow', shadow.version, { latencyMs, error: true });
        this.deps.metrics.observe(labels, latencyMs, true);
        this.deps.logger.debug({ model, version: shadow.version, err: e }, 'shadow inference failed');
      })
      .finally(() => {
        this.shadowBacklog -= 1;
      });
  }

  /** Metadata of the stable version (or a named served version) for the v2 model endpoint. */
  async metadata(
    model: string,
    version?: string,
  ): Promise<{ versions: string[]; version: string; signature: ModelSignature }> {
    const applied = await this.routing.require(model);
    const served = [
      applied.spec.stable.version,
      ...(applied.spec.canary ? [applied.spec.canary.version] : []),
    ];
    const chosen = version ?? applied.spec.stable.version;
    if (!served.includes(chosen))
      throw new HttpError(
        404,
        'SERVING_VERSION_NOT_SERVED',
        `model '${model}' version ${chosen} takes no traffic`,
        { model, version: chosen },
      );
    return { versions: served, version: chosen, signature: this.readyVersion(model, chosen).signature };
  }
}
