import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { PhaseAttr } from '../../src/promotion/search-attributes';
import type { Promo } from './load';
import type { ChaosStack, WorkerProc } from './stack';

/**
 * The faults of a chaos run. "Chosen moment" faults wait (bounded) for the moment they name: a
 * promotion crossing a phase boundary, an activity running, a shadow, canary or rollback in progress
 * on a gateway. Which promotion and which fault come next is drawn from a seeded generator.
 */

export const FAULT_KINDS = [
  'worker-kill-phase-boundary',
  'worker-kill-mid-activity',
  'worker-kill-mid-rollback',
  'temporal-restart',
  'mlflow-stop',
  'mlflow-freeze',
  'gateway-kill-mid-shadow',
  'gateway-kill-mid-canary',
  'gateway-kill-mid-rollback',
  'gateway-freeze',
  'disk-full',
  'worker-kill-random',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRecord {
  readonly kind: FaultKind;
  /** Seconds since the run started. */
  readonly atSec: number;
  /** What was hit, e.g. `worker-1 running watchCanary of chaos-live-good-3`. */
  readonly target: string;
  readonly durationMs: number;
  readonly note?: string;
}

/** A stalked moment that never came (the promotion ended first, or took another path): nothing injected. */
class MomentMissed extends Error {}

export interface FaultSettings {
  readonly mlflowOutageMs: number;
  readonly mlflowFreezeMs: number;
  /** Longer than the canary's 1 s analysis interval. */
  readonly gatewayFreezeMs: number;
  readonly diskFullMs: number;
  readonly workerDownMs: number;
  readonly gatewayDownMs: number;
  readonly temporalDownMs: number;
  /**
   * After an MLflow or Temporal fault, how long that service stays up before the next fault of its kind:
   * back-to-back outages starve the run of new promotions (registering a model needs MLflow), and with
   * them of the live moments the chosen faults wait for (a full run once had 6 promotions in flight of 24).
   */
  readonly serviceCoolDownMs: number;
}

/** Mulberry32: small, seeded, good enough to pick faults reproducibly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PendingActivityState = temporal.api.enums.v1.PendingActivityState;

/** Phases of the running promotions, read from their ProgradePhase search attribute (no worker query). */
export class PhaseWatch {
  readonly phases = new Map<string, string>();
  /** workflowId → time its phase last changed. */
  readonly changedAt = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  async refresh(): Promise<void> {
    const seen = new Set<string>();
    try {
      for await (const w of this.client.workflow.list({
        query: `TaskQueue = '${this.taskQueue}' AND ExecutionStatus = 'Running' AND WorkflowType = 'promoteModel'`,
      })) {
        const phase = w.typedSearchAttributes.get(PhaseAttr) ?? 'starting';
        seen.add(w.workflowId);
        if (this.phases.get(w.workflowId) !== phase) {
          this.phases.set(w.workflowId, phase);
          this.changedAt.set(w.workflowId, Date.now());
        }
      }
    } catch {
      return; // Temporal is down for a fault; keep the last view.
    }
    for (const id of [...this.phases.keys()]) if (!seen.has(id)) this.phases.delete(id);
  }

  inPhase(promos: readonly Promo[], phases: readonly string[]): Promo[] {
    return promos.filter(
      (p) => p.final === undefined && phases.includes(this.phases.get(p.workflowId) ?? ''),
    );
  }
}

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  /** Kinds whose moment has not come since they were last injected, with the reason. */
  readonly notYet = new Map<FaultKind, string>();
  /** Stalks whose moment never came (nothing was injected for them). */
  readonly missed: { kind: FaultKind; target: string; why: string }[] = [];
  private readonly busy = new Set<string>();
  /**
   * Gateways a fault holds killed, restarting or frozen right now. A gateway fault keeps the one
   * `gateway` component busy (one at a time, as planned); the mid-rollback kill only needs its own
   * gateway up, so a rollback on gateway 0 is struck while gateway 1 restarts for another fault.
   */
  private readonly gatewaysDown = new Set<number>();
  private readonly background: Promise<void>[] = [];
  /** Stalks armed and waiting for their moment. */
  stalking = 0;

  constructor(
    private readonly stack: ChaosStack,
    private readonly watch: PhaseWatch,
    private readonly promos: () => readonly Promo[],
    private readonly settings: FaultSettings,
    private readonly random: () => number,
    private readonly t0: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Kinds this machine can run (the full disk needs a tmpfs). */
  available(): FaultKind[] {
    return FAULT_KINDS.filter((k) => k !== 'disk-full' || this.stack.tmpfsUnavailable === undefined);
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.random() * xs.length)];
  }

  private record(r: Omit<FaultRecord, 'atSec'>, at: number): void {
    const rec = { ...r, atSec: Math.round((at - this.t0) / 100) / 10 };
    this.records.push(rec);
    this.log(
      `fault ${this.records.length}: ${r.kind} → ${r.target} (${r.durationMs} ms)${r.note ? `; ${r.note}` : ''}`,
    );
  }

  /**
   * Whether the fault's moment is now. The scheduler asks every kind it still owes at every tick
   * (after one refresh of the phases), so a short moment such as a rollback is caught when it comes.
   */
  private async moment<T>(find: () => Promise<T | undefined> | T | undefined): Promise<T | undefined> {
    return find();
  }

  /** Injects one fault of `kind`; false when its moment or its component was not available. */
  async inject(kind: FaultKind): Promise<boolean> {
    const component = componentOf(kind);
    if (this.busy.has(component)) return false;
    this.busy.add(component);
    let release = true;
    try {
      const run = await this.prepare(kind);
      if (typeof run === 'string') {
        this.notYet.set(kind, run);
        return false;
      }
      this.notYet.delete(kind);
      const armedAt = Date.now();
      // A stalk (`run.stalk`) waits for its moment first; the fault counts from when it struck.
      let at = armedAt;
      const struck = (): void => {
        at = Date.now();
      };
      this.stalking += run.stalk ? 1 : 0;
      const work = run
        .act(struck)
        .then(
          (note) =>
            this.record(
              { kind, target: run.target, durationMs: Date.now() - at, ...(note ? { note } : {}) },
              at,
            ),
          (e: unknown) => {
            if (e instanceof MomentMissed) {
              this.missed.push({ kind, target: run.target, why: e.message });
              this.notYet.set(kind, e.message);
              return;
            }
            this.record(
              {
                kind,
                target: run.target,
                durationMs: Date.now() - at,
                note: `fault action failed: ${String(e)}`,
              },
              at,
            );
          },
        )
        .finally(() => {
          this.stalking -= run.stalk ? 1 : 0;
        });
      // Every fault runs in the background (its component stays busy), so the scheduler keeps looking
      // for the next moment meanwhile; faults on different components may overlap.
      release = false;
      const coolDown =
        component === 'mlflow' || component === 'temporal' ? this.settings.serviceCoolDownMs : 0;
      this.background.push(work);
      void work.finally(() => {
        const free = (): boolean => this.busy.delete(component);
        if (coolDown > 0) setTimeout(free, coolDown).unref();
        else free();
      });
      return true;
    } finally {
      if (release) this.busy.delete(component);
    }
  }

  /** Waits for the faults still running in the background. */
  async drain(): Promise<void> {
    await Promise.all(this.background);
  }

  private async prepare(kind: FaultKind): Promise<Armed | string> {
    const s = this.settings;
    const promos = this.promos();
    switch (kind) {
      case 'worker-kill-phase-boundary': {
        // Stalk one promotion until its phase changes (its workflow task just ran), then kill the worker
        // that ran it: the listing every tick is seconds old under load, too late for this moment.
        const hit = this.pick(
          promos.filter((p) => p.final === undefined && this.watch.phases.has(p.workflowId)),
        );
        if (!hit) return 'no running promotion to watch';
        const from = this.watch.phases.get(hit.workflowId) ?? '?';
        return {
          target: `${hit.model} leaving ${from}`,
          stalk: true,
          act: async (struck) => {
            const seen = await this.stalk(hit, (phase) => phase !== undefined && phase !== from, 90_000);
            const w = (await this.lastWorkflowTaskWorker(hit)) ?? this.pick(this.aliveWorkers());
            if (!w?.proc) throw new MomentMissed(`no worker alive when ${hit.model} entered ${seen.phase}`);
            struck();
            await this.stack.killWorker(w.index, this.settings.workerDownMs);
            return `worker-${w.index} killed as ${hit.model} entered ${seen.phase}`;
          },
        };
      }
      case 'worker-kill-mid-rollback':
      case 'gateway-kill-mid-rollback': {
        // Stalk a live promotion (a bad candidate first: it will be rolled back) until it enters the
        // rollback saga, then kill the worker running its routing change, or its gateway.
        const live = this.watch.inPhase(promos, ['shadow', 'canary']).filter((p) => p.gateway !== undefined);
        const bad = live.filter((p) => p.kind === 'live-bad');
        const hit = this.pick(bad.length > 0 ? bad : live);
        if (hit?.gateway === undefined) return 'no live promotion in shadow/canary to watch';
        const g = hit.gateway;
        return {
          target: `${hit.model} on gateway-${g}`,
          stalk: true,
          act: async (struck) => {
            const seen = await this.stalk(hit, (phase) => phase === 'rolling-back', 150_000);
            const doing = seen.activity ? `${seen.activity.activity} pending` : 'no activity pending';
            if (kind === 'worker-kill-mid-rollback') {
              const w = seen.activity?.worker ?? (await this.lastWorkflowTaskWorker(hit));
              if (!w?.proc) throw new MomentMissed(`no worker alive when ${hit.model} rolled back`);
              struck();
              await this.stack.killWorker(w.index, this.settings.workerDownMs);
              return `worker-${w.index} killed mid-rollback (${doing})`;
            }
            if (this.gatewaysDown.has(g))
              throw new MomentMissed(`gateway-${g} was down for another fault when ${hit.model} rolled back`);
            struck();
            const r = await this.holdingGateway(g, () =>
              this.stack.restartGateway(g, this.settings.gatewayDownMs),
            );
            return `gateway-${g} killed mid-rollback (${doing}); ${r.readyAfterMs === undefined ? 'not ready 90 s after restart' : `ready ${r.readyAfterMs} ms after restart`}`;
          },
        };
      }
      case 'worker-kill-mid-activity': {
        const phases = ['fetching', 'format', 'performance', 'shadow', 'canary', 'recording'];
        const hit = await this.moment(async () => {
          const candidates = this.watch.inPhase(promos, phases);
          for (const p of [this.pick(candidates), this.pick(candidates)]) {
            if (!p) continue;
            const running = await this.runningActivity(p);
            if (running) return { p, ...running };
          }
          return undefined;
        });
        if (!hit) return `no running activity in ${phases.join('/')}`;
        return this.killWorker(hit.worker, `${hit.activity} of ${hit.p.model}`);
      }
      case 'worker-kill-random': {
        const w = this.pick(this.aliveWorkers());
        if (!w) return 'no worker alive';
        return this.killWorker(w, 'a random moment');
      }
      case 'temporal-restart':
        return {
          target: 'temporal dev server',
          act: () => this.stack.restartTemporal(s.temporalDownMs),
        };
      case 'mlflow-stop':
        return {
          target: 'mlflow server (kill -9)',
          act: () => this.stack.stopMlflow(s.mlflowOutageMs),
        };
      case 'mlflow-freeze':
        return {
          target: 'mlflow server (SIGSTOP)',
          act: () => this.stack.freezeMlflow(s.mlflowFreezeMs),
        };
      case 'gateway-kill-mid-shadow':
      case 'gateway-kill-mid-canary':
      case 'gateway-freeze': {
        const phases =
          kind === 'gateway-kill-mid-shadow'
            ? ['shadow']
            : kind === 'gateway-kill-mid-canary'
              ? ['canary']
              : ['shadow', 'canary'];
        const hit = await this.moment(() =>
          this.pick(
            this.watch
              .inPhase(promos, phases)
              .filter((p) => p.gateway !== undefined && !this.gatewaysDown.has(p.gateway)),
          ),
        );
        if (hit?.gateway === undefined) return `no promotion in ${phases.join('/')}`;
        const g = hit.gateway;
        const target = `gateway-${g} (${hit.model} in ${this.watch.phases.get(hit.workflowId) ?? '?'})`;
        if (kind === 'gateway-freeze')
          return {
            target,
            act: () => this.holdingGateway(g, () => this.stack.freezeGateway(g, s.gatewayFreezeMs)),
          };
        return {
          target,
          act: async () => {
            const r = await this.holdingGateway(g, () => this.stack.restartGateway(g, s.gatewayDownMs));
            return r.readyAfterMs === undefined
              ? 'not ready 90 s after restart'
              : `ready ${r.readyAfterMs} ms after restart`;
          },
        };
      }
      case 'disk-full': {
        if (this.stack.tmpfsUnavailable !== undefined) return this.stack.tmpfsUnavailable;
        const live = this.watch
          .inPhase(promos, ['shadow', 'canary', 'rolling-back'])
          .filter((p) => p.gateway === 0);
        return {
          target: `gateway-0 state dir (tmpfs; ${live.length} promotions live on it)`,
          act: async () => {
            const r = await this.stack.fillDisk(s.diskFullMs);
            return `free ${r.freeBefore} B before, ${r.freeDuring} B while full`;
          },
        };
      }
    }
  }

  /** Runs a fault on gateway `g`, marking it down meanwhile (see `gatewaysDown`). */
  private async holdingGateway<T>(g: number, fault: () => Promise<T>): Promise<T> {
    this.gatewaysDown.add(g);
    try {
      return await fault();
    } finally {
      this.gatewaysDown.delete(g);
    }
  }

  private aliveWorkers(): WorkerProc[] {
    return this.stack.workers.filter((w) => w.proc !== undefined);
  }

  private killWorker(w: WorkerProc, what: string): Armed {
    return {
      target: `worker-${w.index} (${what})`,
      act: () => this.stack.killWorker(w.index, this.settings.workerDownMs),
    };
  }

  /**
   * Polls one promotion (describe: a single workflow, cheap, unlike the listing) until its phase
   * passes `moment`; answers the phase and the activity a worker of ours was running then.
   */
  private async stalk(
    p: Promo,
    moment: (phase: string | undefined) => boolean,
    timeoutMs: number,
  ): Promise<{ phase: string; activity?: { worker: WorkerProc; activity: string } }> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const d = await p.handle.describe();
        if (d.status.name !== 'RUNNING') throw new MomentMissed(`${p.model} ended first`);
        const phase = d.typedSearchAttributes.get(PhaseAttr);
        if (moment(phase)) {
          for (const a of d.raw.pendingActivities ?? []) {
            if (a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) continue;
            const worker = this.stack.workerByIdentity(a.lastWorkerIdentity);
            if (worker)
              return { phase: phase ?? '?', activity: { worker, activity: a.activityType?.name ?? '?' } };
          }
          return { phase: phase ?? '?' };
        }
      } catch (e) {
        if (e instanceof MomentMissed) throw e;
        // Temporal down for a fault: look again.
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new MomentMissed(`${p.model}: the moment did not come within ${timeoutMs / 1000} s`);
  }

  /** The worker that ran the promotion's last workflow task (it holds the workflow in its cache). */
  private async lastWorkflowTaskWorker(p: Promo): Promise<WorkerProc | undefined> {
    try {
      const events = (await p.handle.fetchHistory()).events ?? [];
      for (let i = events.length - 1; i >= 0; i--) {
        const identity = events[i]?.workflowTaskStartedEventAttributes?.identity;
        if (identity) return this.stack.workerByIdentity(identity);
      }
    } catch {
      // Temporal down: fall back to any worker.
    }
    return undefined;
  }

  /** An activity of `p` that a worker of ours is running right now. */
  private async runningActivity(p: Promo): Promise<{ worker: WorkerProc; activity: string } | undefined> {
    try {
      const d = await p.handle.describe();
      for (const a of d.raw.pendingActivities ?? []) {
        if (a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) continue;
        const worker = this.stack.workerByIdentity(a.lastWorkerIdentity);
        if (worker) return { worker, activity: a.activityType?.name ?? '?' };
      }
    } catch {
      // Temporal down.
    }
    return undefined;
  }
}

/** A fault ready to strike: `act` runs it (a stalk first waits for its moment, then calls `struck`). */
interface Armed {
  readonly target: string;
  readonly act: (struck: () => void) => Promise<string | void>;
  /** Waits for a moment before striking (not counted until it strikes). */
  readonly stalk?: boolean;
}

function componentOf(kind: FaultKind): string {
  // A stalk waits apart; at its moment it checks the component it strikes itself.
  if (kind.endsWith('mid-rollback') || kind === 'worker-kill-phase-boundary') return `stalk:${kind}`;
  if (kind.startsWith('worker')) return 'worker';
  if (kind.startsWith('gateway')) return 'gateway';
  if (kind.startsWith('mlflow')) return 'mlflow';
  if (kind === 'disk-full') return 'disk';
  return 'temporal';
}
