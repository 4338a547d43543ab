import type { Logger } from 'pino';
import { overloaded } from './http-util';
import type { ModelSource } from './model-source';

export interface ModelLookupOptions {
  /** Longest wait for one answer; the caller then gets 503 (the lookup itself runs on and is cached). */
  readonly timeoutMs: number;
  /** Lookups in flight at once, timed-out ones included; past it, 503 without asking. */
  readonly maxInFlight: number;
  /** How long an answer ("no such model" or "exists") is remembered. */
  readonly cacheMs: number;
  /** Names remembered at most; the oldest are forgotten first. */
  readonly maxEntries: number;
  readonly retryAfterSec: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * Asks the model source whether a model without routing exists (404 vs 503), for the data plane.
 * Every request naming an unknown model would otherwise be one registry call: answers are cached
 * (negative ones too), concurrent asks for one name share a call, calls in flight are capped, and a
 * caller waits at most `timeoutMs`. A registry that is down or frozen costs callers a 503 with
 * Retry-After, never a hang or a 500, and its URL never reaches them.
 */
export class ModelLookup {
  private readonly answers = new Map<string, { exists: boolean; until: number }>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly now: () => number;

  constructor(
    private readonly source: ModelSource,
    private readonly options: ModelLookupOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Upstream calls not yet settled (timed-out ones included). */
  get pending(): number {
    return this.inFlight.size;
  }

  async exists(model: string): Promise<boolean> {
    const cached = this.answers.get(model);
    if (cached && cached.until > this.now()) return cached.exists;
    if (cached) this.answers.delete(model);
    let call = this.inFlight.get(model);
    if (!call) {
      if (this.inFlight.size >= this.options.maxInFlight)
        throw overloaded(
          'SERVING_REGISTRY_BUSY',
          'too many model registry lookups are in flight; retry later',
          this.options.retryAfterSec,
        );
      call = this.ask(model);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            overloaded(
              'SERVING_REGISTRY_TIMEOUT',
              `the model registry did not answer within ${this.options.timeoutMs} ms; retry later`,
              this.options.retryAfterSec,
            ),
          ),
        this.options.timeoutMs,
      );
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private ask(model: string): Promise<boolean> {
    const call = this.source
      .hasModel(model)
      .then(
        (exists) => {
          this.remember(model, exists);
          return exists;
        },
        (e: unknown) => {
          this.options.logger.warn({ model, err: e }, 'model registry lookup failed');
          throw overloaded(
            'SERVING_REGISTRY_UNAVAILABLE',
            'the model registry could not be reached; retry later',
            this.options.retryAfterSec,
          );
        },
      )
      .finally(() => this.inFlight.delete(model));
    // A caller that timed out no longer listens; the settled call must not become an unhandled rejection.
    call.catch(() => undefined);
    this.inFlight.set(model, call);
    return call;
  }

  private remember(model: string, exists: boolean): void {
    this.answers.delete(model);
    this.answers.set(model, { exists, until: this.now() + this.options.cacheMs });
    while (this.answers.size > this.options.maxEntries) {
      const oldest = this.answers.keys().next().value;
      if (oldest === undefined) break;
      this.answers.delete(oldest);
    }
  }

  /** Routing now exists for `model` (or was removed): forget what the registry said. */
  forget(model: string): void {
    this.answers.delete(model);
  }
}
