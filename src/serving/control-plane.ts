import type { Logger } from 'pino';
import { isProgradeError } from '../errors';
import type { TensorSpec } from '../onnx/tensor-spec';
import { decidePut, specOf, type AppliedRouting, type ChangeAuthor, type RoutingPut } from './desired-state';
import { HttpError, publicMessageOf } from './http-util';
import { referencedVersions, type RoutingSpec } from './routing';
import type { RoutingState } from './routing-state';
import type { AuditEntry, CommitResult, StateStore } from './state-store';
import type { StatsStore } from './stats-store';
import type { VersionHost, VersionStatus } from './version-host';
import type { ModelSignature } from './worker/messages';

/**
 * The control plane: desired-state routing changes, one model at a time. A change loads and warms
 * up what the new state needs, commits (audits, then persists), switches routing in one step, and
 * unloads what is left over.
 */

export interface ControlPlaneDeps {
  readonly store: StateStore;
  readonly servingHost: VersionHost;
  readonly shadowHost: VersionHost;
  readonly logger: Logger;
}

export interface ApplyResult {
  readonly applied: boolean;
  readonly state: AppliedRouting;
}

export type RoutingViewOf = AppliedRouting & { versions: Record<string, VersionStatus & { role: string }> };

function sameTensors(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class ControlPlane {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: ControlPlaneDeps,
    private readonly routing: RoutingState,
    private readonly stats: StatsStore,
  ) {}

  /** Runs `fn` after every earlier admin change of the same model has finished. */
  exclusive<T>(model: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(model) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(model, tail);
    void tail.then(() => {
      if (this.locks.get(model) === tail) this.locks.delete(model);
    });
    return next;
  }

  /** Loads every version `spec` references; one request must fit stable, canary and shadow alike. */
  async loadAll(model: string, spec: RoutingSpec): Promise<void> {
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
   * Desired-state PUT: loads and warms up what the new state needs, commits the change (audit
   * record first, then the state file: StateStore.commit), then switches routing in one step (a
   * map write between two requests) and unloads what is left over. The switch comes after the
   * commit, so no request is ever routed by a generation that a crash could lose.
   */
  applyRouting(model: string, put: RoutingPut, author: ChangeAuthor = {}): Promise<ApplyResult> {
    return this.exclusive(model, async () => {
      this.routing.requireRestored();
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
        // The environment failing (registry down, disk full) is not a verdict on the version: 503, so
        // the worker retries; a 422 would end the promotion, or a rollback, for good (chaos F3/F4).
        const transient = isTransientLoadFailure(e);
        throw new HttpError(
          transient ? 503 : 422,
          isProgradeError(e) ? e.code : 'SERVING_MODEL_LOAD_FAILED',
          `routing generation ${put.generation} of '${model}' not applied: ${publicMessageOf(e)}`,
          { model, generation: put.generation },
        );
      }
      const applied: AppliedRouting = {
        generation: put.generation,
        spec,
        appliedAt: new Date().toISOString(),
        ...(author.actor !== undefined ? { actor: author.actor } : {}),
        ...(author.note !== undefined ? { note: author.note } : {}),
      };
      const committed = await this.commit(model, applied, current);
      this.routing.set(model, applied);
      this.stats.of(model, applied.generation);
      this.deps.logger.info({ model, generation: applied.generation, spec, ...author }, 'routing applied');
      if (committed.checkpointError !== undefined)
        this.deps.logger.error(
          { model, generation: applied.generation, err: committed.checkpointError },
          'routing change audited but the state file was not rewritten; boot rolls it forward from the audit log',
        );
      await this.unloadUnreferenced(model, spec);
      return { applied: true, state: applied };
    });
  }

  /** A change whose audit record cannot be written is not applied: 503, and the client retries. */
  private async commit(
    model: string,
    applied: AppliedRouting,
    current: AppliedRouting | undefined,
  ): Promise<CommitResult> {
    try {
      return await this.deps.store.commit(model, applied);
    } catch (e) {
      this.deps.logger.error({ model, generation: applied.generation, err: e }, 'routing change not audited');
      await this.unloadUnreferenced(model, current?.spec);
      throw new HttpError(
        503,
        'SERVING_AUDIT_WRITE_FAILED',
        `routing generation ${applied.generation} of '${model}' not applied: its audit record could not be written`,
        { model, generation: applied.generation },
      );
    }
  }

  routingView(model: string): RoutingViewOf | undefined {
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

  audit(model?: string): Promise<AuditEntry[]> {
    return this.deps.store.readAudit(model);
  }

  /** Lets every change under way finish. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
  }
}

/** errno codes of a machine in trouble (disk full, out of files, I/O error), not of a bad version. */
const TRANSIENT_ERRNO = /\b(ENOSPC|EDQUOT|EIO|EMFILE|ENFILE|EAGAIN|ENOMEM)\b/;

/** A load that failed because a service or the disk did, anywhere along the error's cause chain. */
export function isTransientLoadFailure(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (isProgradeError(cur) && cur.retry === 'retryable') return true;
    const errno = (cur as { code?: unknown }).code;
    if (typeof errno === 'string' && TRANSIENT_ERRNO.test(errno)) return true;
    if (cur instanceof Error && TRANSIENT_ERRNO.test(cur.message)) return true;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return false;
}
