import type { Logger } from 'pino';
import { isProgradeError } from '../errors';
import { pickScoreOutput, scoresFromValues, valuesPerRow } from '../onnx/score-output';
import type { TensorSpec } from '../onnx/tensor-spec';
import { decidePut, specOf, type AppliedRouting, type RoutingPut } from './desired-state';
import { HttpError, publicMessageOf } from './http-util';
import type { GatewayMetrics } from './metrics';
import type { ModelLookup } from './model-lookup';
import type { ModelSource } from './model-source';
import type { PredictionLog } from './prediction-log';
import type { ModelRateLimiter } from './rate-limit';
import type { CheckedRequest } from './request-tensors';
import { referencedVersions, route, shouldShadow, type RoutingSpec, type Variant } from './routing';
import type { AuditEntry, StateStore } from './state-store';
import { isFloating, toNumbers, type Tensor } from './tensors';
import type { ReadyVersion, VersionHost, VersionStatus } from './version-host';
import { WindowStats, type WindowSnapshot, type WindowStatsOptions } from './window-stats';
import type { ModelSignature } from './worker/messages';

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
}

export interface InferCall {
  readonly model: string;
  /** Set when the URL names a version; it must be the stable or the canary version. */
  readonly version?: string | undefined;
  readonly routingKey?: string | undefined;
  readonly force?: Variant | undefined;
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

export interface ApplyResult {
  readonly applied: boolean;
  readonly state: AppliedRouting;
}

/** Stats of the generations a model went through, newest last; old ones are dropped. */
const KEPT_GENERATIONS = 5;

/**
 * The score of each row, by the one rule the offline gates use too (src/onnx/score-output.ts):
 * `scoreOutput` when given, else the first floating output; the row's value of [N] / [N,1], column
 * 1 — P(class 1) — of a classifier's [N,2]. An output with no score by that rule gives none.
 */
export function scoresOf(outputs: readonly Tensor[], scoreOutput?: string): number[] {
  const name = pickScoreOutput(outputs, scoreOutput);
  const scoreTensor = outputs.find((o) => o.name === name);
  if (!scoreTensor || !isFloating(scoreTensor.dtype)) return [];
  const rows = scoreTensor.dims[0] ?? 0;
  const scores = scoresFromValues(
    scoreTensor.data as Float32Array | Float64Array,
    rows,
    valuesPerRow(scoreTensor.dims),
  );
  return scores ? Array.from(scores) : [];
}

function hasNonFinite(outputs: readonly Tensor[]): boolean {
  return outputs.some(
    (o) => isFloating(o.dtype) && !(o.data as Float32Array | Float64Array).every(Number.isFinite),
  );
}

function sameTensors(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The gateway's behaviour, independent of HTTP: routing per model, desired-state changes with
 * generations, inference through the version hosts, shadow mirroring and per-generation stats.
 */
export class Gateway {
  private readonly routing = new Map<string, AppliedRouting>();
  private readonly stats = new Map<string, { generation: number; stats: WindowStats }[]>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private restored = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private shadowBacklog = 0;
  private readonly random: () => number;

  constructor(private readonly deps: GatewayCoreDeps) {
    this.random = deps.random ?? Math.random;
  }

  /** Reloads the persisted routing; until it finishes the gateway is not ready. */
  async restore(): Promise<void> {
    const saved = await this.deps.store.readRouting();
    await Promise.all(
      Object.entries(saved).map(async ([model, applied]) => {
        try {
          await this.loadAll(model, applied.spec);
        } catch (e) {
          // Keep the routing: the model answers 503 while its versions are retried (a registry
          // that is briefly down at boot must not need an operator).
          this.deps.logger.error(
            { model, generation: applied.generation, err: e },
            'restoring a model failed; it stays unready and is retried',
          );
          this.retryRestore(model, applied.generation);
        }
        this.routing.set(model, applied);
        this.statsFor(model, applied.generation);
      }),
    );
    this.restored = true;
    this.deps.logger.info({ models: Object.keys(saved) }, 'routing restored');
  }

  private retryRestore(model: string, generation: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.exclusive(model, async () => {
        const applied = this.routing.get(model);
        // A newer PUT has taken over (and loaded what it needs), or the gateway is closing.
        if (this.closed || !applied || applied.generation !== generation) return;
        try {
          await this.loadAll(model, applied.spec);
          this.deps.logger.info({ model, generation }, 'model restored after retry');
        } catch (e) {
          this.deps.logger.warn({ model, generation, err: e }, 'restoring a model failed again');
          this.retryRestore(model, generation);
        }
      });
    }, this.deps.restoreRetryMs ?? 5_000);
    timer.unref();
    this.timers.add(timer);
  }

  isReady(): boolean {
    return this.restored && [...this.routing.keys()].every((m) => this.isModelReady(m));
  }

  isModelReady(model: string): boolean {
    const applied = this.routing.get(model);
    if (!this.restored || !applied) return false;
    const { stable, canary } = applied.spec;
    return (
      this.deps.servingHost.ready(model, stable.version) !== undefined &&
      (!canary || this.deps.servingHost.ready(model, canary.version) !== undefined)
    );
  }

  models(): string[] {
    return [...this.routing.keys()].sort();
  }

  /** Throws the answer for a model that cannot take traffic (404 unknown, 503 not routed or not ready). */
  async checkServed(model: string): Promise<void> {
    await this.requireRouting(model);
  }

  private async requireRouting(model: string): Promise<AppliedRouting> {
    if (!this.restored)
      throw new HttpError(503, 'SERVING_NOT_READY', 'the gateway is still restoring its models');
    const applied = this.routing.get(model);
    if (applied) return applied;
    if (await this.deps.lookup.exists(model))
      throw new HttpError(503, 'SERVING_NO_ROUTING', `model '${model}' has no routing yet`, { model });
    throw new HttpError(404, 'SERVING_MODEL_NOT_FOUND', `unknown model '${model}'`, { model });
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

  async infer(call: InferCall): Promise<InferResult> {
    const { model } = call;
    const applied = await this.requireRouting(model);
    const spec = applied.spec;
    let variant: Variant;
    let version: string;
    if (call.version !== undefined) {
      if (call.version === spec.stable.version) variant = 'stable';
      else if (call.version === spec.canary?.version) variant = 'canary';
      else
        throw new HttpError(
          404,
          'SERVING_VERSION_NOT_SERVED',
          `model '${model}' version ${call.version} takes no traffic (stable ${spec.stable.version}${spec.canary ? `, canary ${spec.canary.version}` : ''})`,
          { model, version: call.version },
        );
      version = call.version;
    } else {
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
      ({ variant, version } = decision);
    }
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
    const stats = this.statsFor(model, applied.generation);
    const labels = { model, variant, version };
    const started = performance.now();
    let outputs: readonly Tensor[];
    try {
      outputs = await ready.infer(checked.inputs, checked.rows);
    } catch (e) {
      const latencyMs = performance.now() - started;
      stats.record(variant, version, { latencyMs, error: true });
      this.deps.metrics.observe(labels, latencyMs, true);
      this.deps.logger.warn({ model, version, variant, err: e }, 'inference failed');
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
    const scores = scoresOf(outputs);
    const nonFinite = hasNonFinite(outputs);
    stats.record(variant, version, { latencyMs, error: nonFinite, scores });
    this.deps.metrics.observe(labels, latencyMs, nonFinite);
    this.mirror(model, spec, checked, scores, stats);
    this.deps.predictionLog?.maybeLog(() => ({
      at: new Date().toISOString(),
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
    const labels = { model, variant: 'shadow', version: shadow.version };
    const started = performance.now();
    target
      .infer(checked.inputs, checked.rows)
      .then((outputs) => {
        const latencyMs = performance.now() - started;
        const scores = scoresOf(outputs);
        const nonFinite = hasNonFinite(outputs);
        stats.record('shadow', shadow.version, { latencyMs, error: nonFinite, scores });
        stats.recordPairs(primaryScores, scores);
        this.deps.metrics.observe(labels, latencyMs, nonFinite);
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

  /** Runs `fn` after every earlier admin change of the same model has finished. */
  private exclusive<T>(model: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(model) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(model, tail);
    void tail.then(() => {
      if (this.locks.get(model) === tail) this.locks.delete(model);
    });
    return next;
  }

  private async loadAll(model: string, spec: RoutingSpec): Promise<void> {
    const { serving, shadow } = referencedVersions(spec);
    const loads = [
      ...[...serving].map((v) => this.deps.servingHost.ensure(model, v)),
      ...[...shadow].map((v) => this.deps.shadowHost.ensure(model, v)),
    ];
    const results = await Promise.allSettled(loads);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const stable = this.deps.servingHost.ready(model, spec.stable.version);
    const others: [string, ModelSignature | undefined][] = [];
    if (spec.canary)
      others.push([
        `canary version ${spec.canary.version}`,
        this.deps.servingHost.ready(model, spec.canary.version)?.signature,
      ]);
    if (spec.shadow)
      others.push([
        `shadow version ${spec.shadow.version}`,
        this.deps.shadowHost.ready(model, spec.shadow.version)?.signature,
      ]);
    for (const [what, signature] of others) {
      if (stable && signature && !sameTensors(stable.signature.inputs, signature.inputs)) {
        throw new HttpError(
          422,
          'SERVING_SIGNATURE_MISMATCH',
          `${what} of '${model}' takes ${JSON.stringify(signature.inputs)} but stable version ${spec.stable.version} takes ${JSON.stringify(stable.signature.inputs)}; one request must fit both`,
          { model },
        );
      }
    }
  }

  /** Unloads what `keep` no longer references (nor an in-flight load for it). */
  private async unloadUnreferenced(model: string, keep: RoutingSpec | undefined): Promise<void> {
    const refs = keep ? referencedVersions(keep) : { serving: new Set<string>(), shadow: new Set<string>() };
    const drops = [
      ...this.deps.servingHost
        .versionsOf(model)
        .filter((v) => !refs.serving.has(v))
        .map((v) => this.deps.servingHost.unload(model, v)),
      ...this.deps.shadowHost
        .versionsOf(model)
        .filter((v) => !refs.shadow.has(v))
        .map((v) => this.deps.shadowHost.unload(model, v)),
    ];
    await Promise.all(drops);
  }

  /**
   * Desired-state PUT: loads and warms up what the new state needs, then switches routing in one
   * step (a map write between two requests), persists, audits, and unloads what is left over.
   */
  applyRouting(model: string, put: RoutingPut, actor: string | undefined): Promise<ApplyResult> {
    return this.exclusive(model, async () => {
      if (!this.restored)
        throw new HttpError(503, 'SERVING_NOT_READY', 'the gateway is still restoring its models');
      const current = this.routing.get(model);
      const decision = decidePut(current, put);
      if (decision.kind === 'unchanged' && current) return { applied: false, state: current };
      if (decision.kind === 'conflict')
        throw new HttpError(409, 'SERVING_ROUTING_CONFLICT', decision.reason, { model, current });
      const spec = specOf(put);
      try {
        await this.loadAll(model, spec);
      } catch (e) {
        await this.unloadUnreferenced(model, current?.spec);
        if (e instanceof HttpError) throw e;
        throw new HttpError(
          422,
          isProgradeError(e) ? e.code : 'SERVING_MODEL_LOAD_FAILED',
          `routing generation ${put.generation} of '${model}' not applied: ${publicMessageOf(e)}`,
          { model, generation: put.generation },
        );
      }
      const applied: AppliedRouting = {
        generation: put.generation,
        spec,
        appliedAt: new Date().toISOString(),
        ...(actor !== undefined ? { actor } : {}),
      };
      const all = Object.fromEntries(this.routing);
      all[model] = applied;
      await this.deps.store.writeRouting(all);
      this.routing.set(model, applied);
      this.statsFor(model, applied.generation);
      await this.deps.store.appendAudit({
        at: applied.appliedAt,
        model,
        generation: applied.generation,
        state: spec,
        ...(actor !== undefined ? { actor } : {}),
      });
      this.deps.logger.info({ model, generation: applied.generation, spec, actor }, 'routing applied');
      await this.unloadUnreferenced(model, spec);
      return { applied: true, state: applied };
    });
  }

  routingView(
    model: string,
  ): (AppliedRouting & { versions: Record<string, VersionStatus & { role: string }> }) | undefined {
    const applied = this.routing.get(model);
    if (!applied) return undefined;
    const { serving, shadow } = referencedVersions(applied.spec);
    const versions: Record<string, VersionStatus & { role: string }> = {};
    const roleOf = (v: string): string =>
      v === applied.spec.stable.version
        ? 'stable'
        : v === applied.spec.canary?.version
          ? 'canary'
          : 'retained';
    for (const v of serving)
      versions[v] = { role: roleOf(v), ...(this.deps.servingHost.status(model, v) ?? { status: 'loading' }) };
    for (const v of shadow) {
      const s = this.deps.shadowHost.status(model, v) ?? { status: 'loading' as const };
      versions[serving.has(v) ? `${v}/shadow` : v] = { role: 'shadow', ...s };
    }
    return { ...applied, versions };
  }

  private statsFor(model: string, generation: number): WindowStats {
    let list = this.stats.get(model);
    if (!list) {
      list = [];
      this.stats.set(model, list);
    }
    const found = list.find((s) => s.generation === generation);
    if (found) return found.stats;
    const stats = new WindowStats(this.deps.stats);
    list.push({ generation, stats });
    list.sort((a, b) => a.generation - b.generation);
    while (list.length > KEPT_GENERATIONS) list.shift();
    return stats;
  }

  statsView(
    model: string,
    query: { sinceMs: number; generation?: number | undefined; threshold: number },
  ): WindowSnapshot & { generation: number } {
    const applied = this.routing.get(model);
    if (!applied)
      throw new HttpError(404, 'SERVING_MODEL_NOT_FOUND', `model '${model}' has no routing`, { model });
    const generation = query.generation ?? applied.generation;
    const kept = this.stats.get(model)?.find((s) => s.generation === generation);
    if (!kept) {
      throw new HttpError(
        409,
        'SERVING_GENERATION_UNKNOWN',
        `no stats for generation ${generation} of '${model}' (applied generation is ${applied.generation})`,
        {
          model,
          generation,
          currentGeneration: applied.generation,
        },
      );
    }
    return { generation, ...kept.stats.query(query.sinceMs, query.threshold) };
  }

  audit(model?: string): Promise<AuditEntry[]> {
    return this.deps.store.readAudit(model);
  }

  /** Metadata of the stable version (or a named served version) for the v2 model endpoint. */
  async metadata(
    model: string,
    version?: string,
  ): Promise<{ versions: string[]; version: string; signature: ModelSignature }> {
    const applied = await this.requireRouting(model);
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

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.allSettled([...this.locks.values()]);
  }
}
