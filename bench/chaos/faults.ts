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

export interface FaultSettings {
  readonly mlflowOutageMs: number;
  readonly mlflowFreezeMs: number;
  /** Longer than the canary's 1 s analysis interval. */
  readonly gatewayFreezeMs: number;
  readonly diskFullMs: number;
  readonly workerDownMs: number;
  readonly gatewayDownMs: number;
  readonly temporalDownMs: number;
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
  private readonly busy = new Set<string>();
  private readonly background: Promise<void>[] = [];

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
      const at = Date.now();
      const work = run.act().then(
        (note) =>
          this.record(
            { kind, target: run.target, durationMs: Date.now() - at, ...(note ? { note } : {}) },
            at,
          ),
        (e: unknown) =>
          this.record(
            {
              kind,
              target: run.target,
              durationMs: Date.now() - at,
              note: `fault action failed: ${String(e)}`,
            },
            at,
          ),
      );
      // Long outages run in the background (their component stays busy); other faults may overlap them.
      release = false;
      const done = work.finally(() => this.busy.delete(component));
      if (run.background) this.background.push(done);
      else await done;
      return true;
    } finally {
      if (release) this.busy.delete(component);
    }
  }

  /** Waits for the faults still running in the background. */
  async drain(): Promise<void> {
    await Promise.all(this.background);
  }

  private async prepare(
    kind: FaultKind,
  ): Promise<{ target: string; act: () => Promise<string | void>; background?: boolean } | string> {
    const s = this.settings;
    const promos = this.promos();
    switch (kind) {
      case 'worker-kill-phase-boundary': {
        // The phase of some promotion changed since the last look (≤ 1.5 s): its workflow task just ran.
        const hit = await this.moment(() => {
          const recent = promos.filter(
            (p) => p.final === undefined && Date.now() - (this.watch.changedAt.get(p.workflowId) ?? 0) < 1500,
          );
          return this.pick(recent);
        });
        if (!hit) return 'no phase boundary seen';
        const w = (await this.lastWorkflowTaskWorker(hit)) ?? this.pick(this.aliveWorkers());
        if (!w) return 'no worker alive';
        return this.killWorker(w, `${hit.model} entering ${this.watch.phases.get(hit.workflowId) ?? '?'}`);
      }
      case 'worker-kill-mid-activity':
      case 'worker-kill-mid-rollback': {
        const phases =
          kind === 'worker-kill-mid-rollback'
            ? ['rolling-back']
            : ['fetching', 'format', 'performance', 'shadow', 'canary', 'recording'];
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
          background: true,
        };
      case 'mlflow-stop':
        return {
          target: 'mlflow server (kill -9)',
          act: () => this.stack.stopMlflow(s.mlflowOutageMs),
          background: true,
        };
      case 'mlflow-freeze':
        return {
          target: 'mlflow server (SIGSTOP)',
          act: () => this.stack.freezeMlflow(s.mlflowFreezeMs),
          background: true,
        };
      case 'gateway-kill-mid-shadow':
      case 'gateway-kill-mid-canary':
      case 'gateway-kill-mid-rollback':
      case 'gateway-freeze': {
        const phases =
          kind === 'gateway-kill-mid-shadow'
            ? ['shadow']
            : kind === 'gateway-kill-mid-canary'
              ? ['canary']
              : kind === 'gateway-kill-mid-rollback'
                ? ['rolling-back']
                : ['shadow', 'canary'];
        const hit = await this.moment(() =>
          this.pick(this.watch.inPhase(promos, phases).filter((p) => p.gateway !== undefined)),
        );
        if (hit?.gateway === undefined) return `no promotion in ${phases.join('/')}`;
        const g = hit.gateway;
        const target = `gateway-${g} (${hit.model} in ${this.watch.phases.get(hit.workflowId) ?? '?'})`;
        if (kind === 'gateway-freeze')
          return { target, act: () => this.stack.freezeGateway(g, s.gatewayFreezeMs) };
        return {
          target,
          act: async () => {
            const r = await this.stack.restartGateway(g, s.gatewayDownMs);
            return r.readyAfterMs === undefined
              ? 'not ready 90 s after restart'
              : `ready ${r.readyAfterMs} ms after restart`;
          },
          background: true,
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
          background: true,
        };
      }
    }
  }

  private aliveWorkers(): WorkerProc[] {
    return this.stack.workers.filter((w) => w.proc !== undefined);
  }

  private killWorker(w: WorkerProc, what: string): { target: string; act: () => Promise<void> } {
    return {
      target: `worker-${w.index} (${what})`,
      act: () => this.stack.killWorker(w.index, this.settings.workerDownMs),
    };
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

function componentOf(kind: FaultKind): string {
  if (kind.startsWith('worker')) return 'worker';
  if (kind.startsWith('gateway')) return 'gateway';
  if (kind.startsWith('mlflow')) return 'mlflow';
  if (kind === 'disk-full') return 'disk';
  return 'temporal';
}
