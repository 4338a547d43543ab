import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MlflowClient } from '../../src/mlflow/client';
import { writeDatasetCsv } from '../../src/samples/datasets';
import { usualRows } from '../../src/samples/segments';
import {
  FaultInjector,
  PhaseWatch,
  rng,
  type FaultKind,
  type FaultRecord,
  type FaultSettings,
} from './faults';
import { checkInvariants, type InvariantReport } from './invariants';
import { launch, settle, type Promo, type PromoKind } from './load';
import { ChaosStack } from './stack';

/**
 * One chaos run: start the stack, keep `concurrency` promotions in flight while faults are injected,
 * stop starting new ones, wait for every promotion to end, then count the invariant violations.
 */

export interface ChaosOptions {
  readonly name: 'full' | 'short';
  readonly seed: number;
  /** Promotions kept in flight during the fault window. */
  readonly concurrency: number;
  /** Faults to inject (the window ends when they are in, or at `faultWindowMs`). */
  readonly faults: number;
  /** Fewer faults than this struck: the run proves too little and is not green. */
  readonly minFaults: number;
  readonly faultWindowMs: number;
  /** Longest wait for every promotion to end after the window. */
  readonly drainMs: number;
  readonly workers: number;
  readonly gateways: number;
  readonly trafficRps: number;
  readonly tmpfsMiB: number;
  readonly faultSettings: FaultSettings;
  /** Every chosen-moment kind is tried at least this often before random picks fill the plan. */
  readonly eachKindAtLeast: number;
  readonly keepData?: boolean;
  readonly log: (line: string) => void;
}

export interface ChaosResult {
  readonly options: Omit<ChaosOptions, 'log'>;
  readonly startedAt: string;
  readonly durationSec: number;
  readonly setupSec: number;
  readonly faultWindowSec: number;
  readonly drainSec: number;
  readonly promotions: number;
  readonly maxConcurrent: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly byKind: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly faults: readonly FaultRecord[];
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly notInjected: readonly { kind: FaultKind; reason: string }[];
  /** Stalks armed whose moment never came (nothing struck for them). */
  readonly missedMoments: readonly { kind: FaultKind; target: string; why: string }[];
  readonly tmpfsUnavailable: string | undefined;
  readonly invariants: InvariantReport;
  readonly traffic: { sent: number; ok: number; network: number; canaryErrors: number; otherErrors: number };
  readonly endToEndSec: { p50: number; max: number };
  /** 1-minute load average sampled every 10 s over the run (other work on the box shows here). */
  readonly loadAverage: { mean: number; max: number };
  readonly dataDir: string;
  /** Workers that exited 3 at start because a fault had Temporal down (restarted, as a supervisor would). */
  readonly workerRefusedStarts: number;
  /** One line per promotion: how it ended and why, and what its callers saw. */
  readonly promotionLog: readonly {
    id: number;
    kind: PromoKind;
    model: string;
    outcome: string;
    reason: string;
    seconds: number;
    traffic?: Omit<NonNullable<Promo['traffic']>, 'samples'>;
  }[];
}

const KINDS: readonly PromoKind[] = [
  'offline-good',
  'live-good',
  'offline-bad',
  'live-good',
  'live-bad',
  'offline-good',
];

function tally<T extends string>(xs: readonly T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * The fault plan: every kind the machine can run, `atLeast` rounds of each shuffled on its own (so
 * the first round names every kind once before any repeats), then random picks.
 */
function plan(
  kinds: readonly FaultKind[],
  total: number,
  atLeast: number,
  random: () => number,
): FaultKind[] {
  const shuffled = (xs: FaultKind[]): FaultKind[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [xs[i], xs[j]] = [xs[j] as FaultKind, xs[i] as FaultKind];
    }
    return xs;
  };
  const out: FaultKind[] = [];
  for (let i = 0; i < atLeast; i++) out.push(...shuffled([...kinds]));
  while (out.length < total) out.push(kinds[Math.floor(random() * kinds.length)] ?? 'worker-kill-random');
  return out;
}

/** The replay workers' INFO lines would bury the run's own log. */
function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Installed already in this process (a test file that ran before): keep it.
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  quietTemporalRuntime();
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), `prograde-chaos-${o.name}-`));
  mkdirSync(join(dir, 'logs'));
  o.log(`chaos ${o.name}: seed ${o.seed}, data in ${dir}`);
  const datasetPath = join(dir, 'holdout.csv');
  // The usual population: the `nan` candidate passes offline and fails only on live traffic.
  await writeDatasetCsv(usualRows(1500, 11), datasetPath);
  const stack = await ChaosStack.start({
    dir,
    gateways: o.gateways,
    workers: o.workers,
    tmpfsMiB: o.tmpfsMiB,
    log: o.log,
  });
  const promos: Promo[] = [];
  const loads: number[] = [];
  const sampleLoad = (): number => loads.push(os.loadavg()[0] ?? 0);
  sampleLoad();
  const loadTimer = setInterval(sampleLoad, 10_000).unref();
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection, namespace: 'default' });
    const mlflow = new MlflowClient({ baseUrl: stack.mlflowUrl, timeoutMs: 15_000 });
    const setupSec = (Date.now() - t0) / 1000;
    o.log(
      `stack up in ${setupSec.toFixed(0)} s (temporal ${stack.temporalAddress}, mlflow ${stack.mlflowUrl}, ${o.gateways} gateways, ${o.workers} workers)`,
    );
    if (stack.tmpfsUnavailable) o.log(`full-disk fault unavailable: ${stack.tmpfsUnavailable}`);

    const random = rng(o.seed);
    const ctx = { stack, client, mlflow, dir, datasetPath, trafficRps: o.trafficRps, log: o.log };
    const settles: Promise<void>[] = [];
    let launching = true;
    let nextId = 0;
    let maxConcurrent = 0;
    const inFlight = (): number => promos.filter((p) => p.endedAt === undefined).length;
    const watchEnd = (p: Promo): void => {
      settles.push(
        settle(p, Date.now() + o.faultWindowMs + o.drainMs).finally(async () => {
          await sleep(2000);
          await p.stopTraffic?.();
          o.log(
            `promotion ${p.id} ${p.kind} ${p.model}: ${p.final?.outcome ?? `LOST (${p.lost ?? '?'})`} after ${(((p.endedAt ?? Date.now()) - p.startedAt) / 1000).toFixed(0)} s`,
          );
        }),
      );
    };
    // Keeps `concurrency` promotions in flight while the fault window is open.
    const launcher = (async () => {
      const pending = new Set<Promise<void>>();
      while (launching) {
        while (launching && inFlight() + pending.size < o.concurrency) {
          const id = nextId++;
          const kind = KINDS[id % KINDS.length] ?? 'offline-good';
          const seed = Math.floor(random() * 1e6);
          const started = launch(ctx, id, kind, seed).then(
            (p) => {
              promos.push(p);
              watchEnd(p);
            },
            (e: unknown) => o.log(`could not launch promotion ${id}: ${String(e)}`),
          );
          const tracked = started.finally(() => pending.delete(tracked));
          pending.add(tracked);
        }
        maxConcurrent = Math.max(maxConcurrent, inFlight());
        await sleep(500);
      }
      await Promise.all(pending);
    })();

    // Faults start once the first promotions are in flight.
    while (inFlight() < Math.min(o.concurrency, 4) && Date.now() - t0 < setupSec * 1000 + 120_000)
      await sleep(500);
    const windowStart = Date.now();
    const watch = new PhaseWatch(client, stack.taskQueue);
    const injector = new FaultInjector(stack, watch, () => promos, o.faultSettings, random, t0, o.log);
    const todo = plan(injector.available(), o.faults + 10, o.eachKindAtLeast, random);
    // Faults that need no moment: when every owed kind waits for one, one of these keeps the pace.
    const anytime = injector
      .available()
      .filter((k) =>
        ['worker-kill-random', 'temporal-restart', 'mlflow-stop', 'mlflow-freeze', 'disk-full'].includes(k),
      );
    const windowEnd = windowStart + o.faultWindowMs;
    let lastFaultAt = 0;
    // Each tick: one look at the phases, then the first owed kind whose moment is now. The spacing is
    // what is left of the window over the faults still owed (a stalled stretch is made up later), so
    // the window ends with the faults in, not with time. Stalks (a phase boundary, a rollback) arm
    // without waiting for the spacing: they strike when their moment comes.
    while (injector.records.length < o.faults && Date.now() < windowEnd) {
      await watch.refresh();
      const owed = o.faults - injector.records.length - injector.stalking;
      const gap = Math.max(2000, (windowEnd - Date.now() - 30_000) / Math.max(1, owed));
      const due = owed > 0 && Date.now() - lastFaultAt >= gap;
      let injected = false;
      for (let i = 0; i < todo.length && !injected; i++) {
        const kind = todo[i] ?? 'worker-kill-random';
        const stalk = kind.endsWith('mid-rollback') || kind === 'worker-kill-phase-boundary';
        if (!due && !stalk) continue;
        if (await injector.inject(kind)) {
          todo.splice(i, 1);
          if (!stalk) {
            injected = true;
            lastFaultAt = Date.now();
          }
        }
      }
      if (due && !injected && Date.now() - lastFaultAt >= 2 * gap) {
        // No owed kind had its moment for a while (a chosen moment gets one more spacing to come first):
        // keep the pace with a fault that needs none, and owe the others still.
        const kind = anytime[Math.floor(random() * anytime.length)];
        if (kind && (await injector.inject(kind))) {
          injected = true;
          lastFaultAt = Date.now();
        }
      }
      if (todo.length === 0) todo.push(...plan(injector.available(), 12, 1, random));
      // A stalk leaves the plan when it arms; one whose moment never came (the promotion ended first,
      // its gateway was down) is owed again until its kind has struck `eachKindAtLeast` times: a
      // rollback lasts seconds, and one armed stalk a round left gateway-kill-mid-rollback unstruck.
      for (const kind of injector.available()) {
        if (!(kind.endsWith('mid-rollback') || kind === 'worker-kill-phase-boundary')) continue;
        const struck = injector.records.filter((r) => r.kind === kind).length;
        if (struck < o.eachKindAtLeast && !todo.includes(kind)) todo.push(kind);
      }
      // A listing of running workflows costs the dev server a second or more under this load.
      if (!injected) await sleep(1000);
    }
    o.log(
      `fault window closing: ${injector.records.length} faults struck, ${injector.stalking} stalks still waiting for their moment`,
    );
    await injector.drain();
    const faultWindowSec = (Date.now() - windowStart) / 1000;
    launching = false;
    await launcher;
    o.log(
      `fault window over after ${faultWindowSec.toFixed(0)} s: ${injector.records.length} faults; draining ${inFlight()} promotions`,
    );
    const drainStart = Date.now();
    await Promise.all(settles);
    const drainSec = (Date.now() - drainStart) / 1000;

    const invariants = await checkInvariants(stack, client, mlflow, promos, o.log);
    const durations = promos
      .filter((p) => p.endedAt !== undefined)
      .map((p) => ((p.endedAt ?? 0) - p.startedAt) / 1000)
      .sort((a, b) => a - b);
    const byKind: Record<string, Record<string, number>> = {};
    for (const p of promos) {
      const k = (byKind[p.kind] ??= {});
      const outcome = p.final?.outcome ?? 'lost';
      k[outcome] = (k[outcome] ?? 0) + 1;
    }
    const t = { sent: 0, ok: 0, network: 0, canaryErrors: 0, otherErrors: 0 };
    for (const p of promos) {
      if (!p.traffic) continue;
      t.sent += p.traffic.sent;
      t.ok += p.traffic.ok;
      t.network += p.traffic.network;
      t.canaryErrors += p.traffic.canaryErrors;
      t.otherErrors += p.traffic.otherErrors;
    }
    const { log: _log, ...options } = o;
    return {
      options,
      startedAt: new Date(t0).toISOString(),
      durationSec: (Date.now() - t0) / 1000,
      setupSec,
      faultWindowSec,
      drainSec,
      promotions: promos.length,
      maxConcurrent,
      outcomes: tally(promos.map((p) => p.final?.outcome ?? 'lost')),
      byKind,
      faults: injector.records,
      faultsByKind: tally(injector.records.map((r) => r.kind)),
      notInjected: [...injector.notYet].map(([kind, reason]) => ({ kind, reason })),
      missedMoments: injector.missed,
      tmpfsUnavailable: stack.tmpfsUnavailable,
      invariants,
      traffic: t,
      loadAverage: {
        mean: Math.round((loads.reduce((a, b) => a + b, 0) / loads.length) * 100) / 100,
        max: Math.round(Math.max(...loads) * 100) / 100,
      },
      endToEndSec: {
        p50: durations[Math.floor(durations.length / 2)] ?? 0,
        max: durations.at(-1) ?? 0,
      },
      dataDir: dir,
      workerRefusedStarts: stack.refusedStarts.length,
      promotionLog: promos.map((p) => {
        const { samples: _samples, ...traffic } = p.traffic ?? { samples: [] };
        return {
          id: p.id,
          kind: p.kind,
          model: p.model,
          outcome: p.final?.outcome ?? 'lost',
          reason: (p.final?.reason ?? p.lost ?? '').slice(0, 300),
          seconds: Math.round(((p.endedAt ?? Date.now()) - p.startedAt) / 1000),
          ...(p.traffic ? { traffic: traffic as Omit<NonNullable<Promo['traffic']>, 'samples'> } : {}),
        };
      }),
    };
  } finally {
    clearInterval(loadTimer);
    for (const p of promos) await p.stopTraffic?.();
    await connection?.close().catch(() => undefined);
    await stack.close();
    if (!o.keepData) rmSync(dir, { recursive: true, force: true });
  }
}
