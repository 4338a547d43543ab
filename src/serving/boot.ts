import type { Logger } from 'pino';
import type { ControlPlane } from './control-plane';
import type { RoutingState } from './routing-state';
import type { Recovery, StateStore } from './state-store';
import type { StatsStore } from './stats-store';

/**
 * Boot and restore: the state store reconciles the audit log and the state file (rolling audited
 * changes forward: StateStore.recover), then the routing is reloaded before the gateway reports
 * ready. A model
 * whose versions fail to load keeps its routing (it answers 503) and is retried in the background,
 * so a registry that is briefly down at boot never needs an operator.
 */

export interface BootDeps {
  readonly store: StateStore;
  readonly logger: Logger;
  /** Pause between attempts to reload a model that failed to restore at boot. */
  readonly restoreRetryMs?: number | undefined;
}

export class Boot {
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly deps: BootDeps,
    private readonly routing: RoutingState,
    private readonly stats: StatsStore,
    private readonly control: ControlPlane,
  ) {}

  /** Reloads the persisted routing; until it finishes the gateway is not ready. */
  async restore(): Promise<void> {
    const recovery = await this.deps.store.recover();
    this.logRecovery(recovery);
    const saved = recovery.models;
    await Promise.all(
      Object.entries(saved).map(async ([model, applied]) => {
        try {
          await this.control.loadAll(model, applied.spec);
        } catch (e) {
          this.deps.logger.error(
            { model, generation: applied.generation, err: e },
            'restoring a model failed; it stays unready and is retried',
          );
          this.retryRestore(model, applied.generation);
        }
        this.routing.set(model, applied);
        this.stats.of(model, applied.generation);
      }),
    );
    this.routing.markRestored();
    this.deps.logger.info({ models: Object.keys(saved) }, 'routing restored');
  }

  /** What a crash (or an older gateway) left and boot repaired: each is one line for the operator. */
  private logRecovery(r: Recovery): void {
    const log = this.deps.logger;
    if (r.audit.tornBytes > 0)
      log.warn(
        { tornBytes: r.audit.tornBytes },
        'the audit log ended in a record torn by a crash mid-append; it was never committed and is cut off',
      );
    if (r.audit.salvagedLines.length > 0)
      log.warn({ lines: r.audit.salvagedLines }, 'audit records recovered from behind torn bytes');
    if (r.audit.invalidLines.length > 0)
      log.error({ lines: r.audit.invalidLines }, 'audit log lines that are not records were skipped');
    for (const f of r.rolledForward)
      log.warn(
        f,
        'audited routing generation rolled forward into the state file (a crash came between them)',
      );
    for (const b of r.backfilled)
      log.warn(b, 'routing generation had no audit record (older gateway); audited now, marked backfilled');
    if (r.staleTempFiles > 0)
      log.info({ files: r.staleTempFiles }, 'removed temporary state files left by a crash');
  }

  private retryRestore(model: string, generation: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.control.exclusive(model, async () => {
        const applied = this.routing.get(model);
        // A newer PUT has taken over (and loaded what it needs), or the gateway is closing.
        if (this.closed || !applied || applied.generation !== generation) return;
        try {
          await this.control.loadAll(model, applied.spec);
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

  /** Stops retries; a retry already running finishes under the control plane's lock. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
  }
}
