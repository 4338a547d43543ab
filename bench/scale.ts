/**
 * Scale of the engine (issue 11, section 2), on its own Temporal dev server and MLflow server:
 *
 * - load: N promotions with offline gates (format, performance against the champion, fairness,
 *   latency) on small holdout sets, all started at once, on one worker process and on three, at the
 *   worker settings compared; per point the workers' peak RSS (VmHWM), promotions per minute, p50/p95
 *   end to end, and Temporal's schedule-to-start latencies from every history;
 * - overhead: zero-bake live promotions (canary weights without bakes) one at a time on a quiet
 *   worker: the time between one activity's end and the next one's start, against the activities'
 *   own time;
 * - history growth: live promotions with bakes of different lengths and step counts, under traffic:
 *   events per canary step and per analysis tick, extrapolated to a 24-hour canary at 1 s analysis.
 *
 * Knobs (environment): SCALE_PROMOTIONS (500), SCALE_POINTS (comma-separated point names; all),
 * SCALE_LIVE (0 skips the live parts), SCALE_LIVE_FROM (an earlier run's scale.json: its live parts), SCALE_GROWTH (0 skips the history-growth runs), SCALE_ZERO_BAKE_RUNS
 * (5), SCALE_HOLDOUT_ROWS (400), SCALE_RESAMPLES (200), SCALE_CHECKPOINT (0: do not save the section after
 * each part).
 */
import { Client, Connection } from '@temporalio/client';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKER_TUNING_DEFAULTS, WORKER_TUNING_ENV } from '../src/config/worker-tuning';
import { machineInfo } from './lib/machine';
import { runRecord, saveResult, type BenchResult } from './lib/report';
import { startTemporalServer } from '../src/devstack/temporal-server';
import type { GatewayHandle } from '../src/serving/server';
import { startFleet } from './lib/scale-fleet';
import { setTreePriority } from './lib/scale-cpu';
import { FLOOR_ACTIVITY_MS, runFloor } from './lib/scale-floor';
import { runLivePromotion, SCALE_GATEWAY_TOKEN, startScaleGateway, type LiveRun } from './lib/scale-live';
import { runLoadPoint, sampleLoad, type LoadPoint, type LoadResult } from './lib/scale-load';
import { percentile, type HistoryAnalysis } from './lib/scale-history';
import {
  historyTables,
  loadTable,
  overheadComparisonTable,
  overheadTables,
  type OverheadSample,
} from './lib/scale-report';
import {
  pool,
  registerVersion,
  scaleSqlitePragmas,
  startScaleStack,
  type ScaleStack,
  writeHoldouts,
  writeWorkflowBundle,
} from './lib/scale-setup';

const env = process.env;
const PROMOTIONS = Number(env.SCALE_PROMOTIONS ?? 500);
const HOLDOUT_ROWS = Number(env.SCALE_HOLDOUT_ROWS ?? 400);
const RESAMPLES = Number(env.SCALE_RESAMPLES ?? 200);
const HOLDOUTS = 4;
const ZERO_BAKE_RUNS = Number(env.SCALE_ZERO_BAKE_RUNS ?? 5);
/** No-op workflows (after one warm-up) of this many activities: Temporal's own cost per step. */
const FLOOR_RUNS = 5;
const FLOOR_STEPS = 10;
/** Nice value for the overhead part (SCALE_OVERHEAD_NICE; 'off' runs it at normal priority). */
const OVERHEAD_NICE = env.SCALE_OVERHEAD_NICE === 'off' ? undefined : Number(env.SCALE_OVERHEAD_NICE ?? -10);
const LIVE_RPS = 40;

const GIB = 1024 ** 3;
const A = WORKER_TUNING_ENV.maxConcurrentActivityTaskExecutions;
const defaults = (): Record<string, string> => ({
  [A]: String(WORKER_TUNING_DEFAULTS.maxConcurrentActivityTaskExecutions),
  [WORKER_TUNING_ENV.maxConcurrentWorkflowTaskExecutions]: String(
    WORKER_TUNING_DEFAULTS.maxConcurrentWorkflowTaskExecutions,
  ),
});

/**
 * The points, in this order; each promotes the same candidates from the same champions. `3w-best`
 * runs three workers with the settings of the better one-worker point measured before it (see `better`).
 */
const POINTS: readonly LoadPoint[] = [
  { name: '1w-activities-100', workers: 1, tuningEnv: { [A]: '100' } },
  { name: '1w-activities-20', workers: 1, tuningEnv: { [A]: '20' } },
  // The sticky cache at 200 instead of Temporal's default (every open promotion cached), to see whether
  // cached workflows are what holds one worker's RSS near 1 GiB at 500 promotions.
  {
    name: '1w-cache-200',
    workers: 1,
    tuningEnv: { [A]: '100', [WORKER_TUNING_ENV.maxCachedWorkflows]: '200' },
  },
  { name: '3w-best', workers: 3, tuningEnv: {} },
  { name: '1w-activities-8', workers: 1, tuningEnv: { [A]: '8' } },
  { name: '3w-default', workers: 3, tuningEnv: defaults() },
];
const DEFAULT_POINTS = ['1w-activities-100', '3w-best'];

/**
 * Of two one-worker points, the one to recommend: within the memory goal, more promotions per minute;
 * when those are within 10 % of each other, the one whose workflow tasks wait less (p95), since a
 * workflow task that waits delays every step, status query and operator control of every promotion.
 */
export function better(a: LoadResult, b: LoadResult): LoadResult {
  const fits = (l: LoadResult): boolean => Math.max(...l.usage.map((u) => u.peakRssBytes)) <= GIB;
  if (fits(a) !== fits(b)) return fits(a) ? a : b;
  const ratio = a.promotionsPerMinute / b.promotionsPerMinute;
  if (ratio > 1.1) return a;
  if (ratio < 1 / 1.1) return b;
  return a.workflowTaskScheduleToStartMs.p95 <= b.workflowTaskScheduleToStartMs.p95 ? a : b;
}

export async function runScaleBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  // In the order given: a run cut short keeps the points that came first.
  const points = (env.SCALE_POINTS ? env.SCALE_POINTS.split(',') : DEFAULT_POINTS).flatMap((name) =>
    POINTS.filter((p) => p.name === name),
  );
  const dir = mkdtempSync(join(tmpdir(), 'prograde-scale-'));
  log(`  scratch folder ${dir}; starting Temporal and MLflow…`);
  const stack = await startScaleStack(join(dir, 'stack'));
  log(
    `  Temporal pid ${stack.temporalPid} at ${stack.temporalAddress}, MLflow pid ${stack.mlflowPid} at ${stack.mlflowUrl}`,
  );
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: 'default' });
  // Forked workers inherit it: the worker reads the gateway's admin token from its environment.
  process.env.PROGRADE_GATEWAY_TOKEN = SCALE_GATEWAY_TOKEN;
  try {
    const [bundlePath, holdouts] = await Promise.all([
      writeWorkflowBundle(dir),
      writeHoldouts(dir, HOLDOUTS, HOLDOUT_ROWS),
    ]);
    const live =
      env.SCALE_LIVE === '0'
        ? undefined
        : env.SCALE_LIVE_FROM
          ? liveFrom(env.SCALE_LIVE_FROM)
          : await liveParts(dir, stack, client, bundlePath, holdouts[0] as string, log);

    const loads: LoadResult[] = [];
    // Saved after every part, so a run cut short (a deadline, a crash) still leaves what it measured.
    const checkpoint = async (): Promise<void> => {
      if (env.SCALE_CHECKPOINT === '0') return;
      const partial = report(command, started, machine, points, loads, live);
      const missing = points.slice(loads.length).map((p) => p.name);
      await saveResult(
        missing.length === 0
          ? partial
          : {
              ...partial,
              notes: [...partial.notes, `Partial run: not yet measured: ${missing.join(', ')}.`],
            },
      );
    };
    if (live) await checkpoint();
    if (points.length > 0) {
      const models = Array.from({ length: PROMOTIONS }, (_, i) => `scale-${String(i).padStart(4, '0')}`);
      log(`  registering ${PROMOTIONS} champions and ${PROMOTIONS} candidates…`);
      const t0 = Date.now();
      const champions = await pool(models, 6, (model, i) =>
        registerVersion(stack.mlflow, model, 1 + i, 'champion'),
      );
      const candidates = await pool(models, 6, (model, i) =>
        registerVersion(stack.mlflow, model, 100_000 + i),
      );
      log(`  registered in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      for (const planned of points) {
        const point = planned.name === '3w-best' ? { ...planned, tuningEnv: bestSoFar(loads) } : planned;
        const result = await runLoadPoint(
          {
            stack,
            client,
            bundlePath,
            dir,
            holdouts,
            models,
            champions,
            candidates,
            resamples: RESAMPLES,
            log,
          },
          point,
          60 * 60_000,
        );
        log(
          `  [${point.name}] ${result.promotionsPerMinute.toFixed(0)}/min, e2e p50 ${(result.endToEndMs.p50 / 1000).toFixed(1)} s, peak RSS ${result.usage.map((u) => (u.peakRssBytes / GIB).toFixed(2)).join(' / ')} GiB, load ${result.loadAverage.mean}`,
        );
        loads.push(result);
        await checkpoint();
      }
    }
    return report(command, started, machine, points, loads, live);
  } finally {
    await connection.close().catch(() => undefined);
    await stack.stop();
    if (!env.PROGRADE_KEEP_BENCH_DATA) rmSync(dir, { recursive: true, force: true });
  }
}

/** The PROGRADE_WORKER_* settings of the better one-worker point so far (the defaults when none ran). */
function bestSoFar(loads: readonly LoadResult[]): Record<string, string> {
  const single = loads.filter((l) => l.workers === 1);
  if (single.length === 0) return defaults();
  const best = single.reduce((a, b) => better(a, b));
  return { ...best.tuningEnv };
}

/** Overhead on one server: prograde's zero-bake promotions and Temporal's no-op floor beside them. */
export interface OverheadOnServer {
  /** The dev server's SQLite pragmas ([] is SQLite's default: a disk sync on every commit). */
  readonly sqlitePragmas: readonly string[];
  readonly zeroBake: readonly LiveRun[];
  readonly floor: readonly HistoryAnalysis[];
  /** The nice value the servers, the worker and the benchmark ran this part at (0: as everything else). */
  readonly nice: number;
}

interface LiveResults {
  /** On the benchmark's own server (the one the load points use). */
  readonly zeroBake: readonly LiveRun[];
  readonly floor?: readonly HistoryAnalysis[];
  readonly nice?: number;
  /** The same on a second dev server with SQLite's default settings, for comparison. */
  readonly defaultSqlite?: OverheadOnServer | undefined;
  readonly growth: readonly LiveRun[];
  readonly loadAverage: ReturnType<ReturnType<typeof sampleLoad>['stop']>;
  /** Set when these come from an earlier run (SCALE_LIVE_FROM): when that run started. */
  readonly measuredBy?: string;
}

/** Zero-bake promotions one at a time on a fresh worker of `client`'s server, then the no-op floor. */
async function overheadOn(
  dir: string,
  stack: ScaleStack,
  client: Client,
  gateway: GatewayHandle,
  bundlePath: string,
  holdout: string,
  label: string,
  log: (line: string) => void,
): Promise<{ zeroBake: LiveRun[]; floor: HistoryAnalysis[]; nice: number }> {
  const taskQueue = `scale-live-${label}`;
  const fleet = await startFleet({
    count: 1,
    dir: join(dir, `live-${label}`),
    base: {
      temporalAddress: stack.temporalAddress,
      taskQueue,
      mlflowUrl: stack.mlflowUrl,
      bundlePath,
      tuningEnv: defaults(),
    },
  });
  // Other work on the machine (load 15–25 on 2 cores) would decide these milliseconds; the servers, the
  // worker and this process run at a raised priority for this part only, and get it back after.
  const roots = [process.pid, stack.temporalPid, stack.mlflowPid, ...fleet.pids];
  const threads = OVERHEAD_NICE === undefined ? 0 : setTreePriority(roots, OVERHEAD_NICE);
  const nice = threads > 0 ? (OVERHEAD_NICE ?? 0) : 0;
  log(`  overhead ${label}: nice ${nice} (${threads} threads)`);
  try {
    const ctx = { stack, client, gateway, taskQueue, holdout, dir };
    const zeroBake: LiveRun[] = [];
    for (let i = 0; i < ZERO_BAKE_RUNS; i++) {
      const run = await runLivePromotion(
        ctx,
        `zero-${label}-${i}`,
        { weights: [20, 50, 80] },
        0,
        5_000 + 10 * i,
      );
      log(
        `  zero-bake ${label} ${i}: ${run.outcome}, ${run.analysis.gaps.length} step boundaries, ${run.analysis.events} events`,
      );
      zeroBake.push(run);
    }
    const floor = await runFloor(stack.temporalAddress, FLOOR_RUNS, FLOOR_STEPS);
    log(`  no-op floor ${label}: ${floor.length} runs of ${FLOOR_STEPS} activities`);
    return { zeroBake, floor, nice };
  } finally {
    if (threads > 0) setTreePriority(roots, 0);
    await fleet.stop();
  }
}

async function liveParts(
  dir: string,
  stack: ScaleStack,
  client: Client,
  bundlePath: string,
  holdout: string,
  log: (line: string) => void,
): Promise<LiveResults> {
  const gateway = await startScaleGateway(stack, join(dir, 'gateway'));
  const load = sampleLoad();
  try {
    const main = await overheadOn(dir, stack, client, gateway, bundlePath, holdout, 'main', log);
    const defaultSqlite =
      env.SCALE_COMPARE_SQLITE === '0' || scaleSqlitePragmas().length === 0
        ? undefined
        : await overheadOnDefaultSqlite(dir, stack, gateway, bundlePath, holdout, log);
    const growth: LiveRun[] = [];
    const shapes =
      env.SCALE_GROWTH === '0'
        ? []
        : [
            { label: '1x3s', weights: [50], bake: '3s' },
            { label: '1x9s', weights: [50], bake: '9s' },
            { label: '1x27s', weights: [50], bake: '27s' },
            { label: '3x3s', weights: [20, 50, 80], bake: '3s' },
          ];
    if (shapes.length > 0) {
      const taskQueue = 'scale-live-growth';
      const fleet = await startFleet({
        count: 1,
        dir: join(dir, 'live-growth'),
        base: {
          temporalAddress: stack.temporalAddress,
          taskQueue,
          mlflowUrl: stack.mlflowUrl,
          bundlePath,
          tuningEnv: defaults(),
        },
      });
      try {
        const ctx = { stack, client, gateway, taskQueue, holdout, dir };
        for (const [i, s] of shapes.entries()) {
          const run = await runLivePromotion(
            ctx,
            s.label,
            { weights: s.weights, bake: s.bake },
            LIVE_RPS,
            7_000 + 10 * i,
          );
          log(
            `  growth ${s.label}: ${run.outcome}, ${run.ticks} ticks, ${run.watches} watches, ${run.analysis.events} events`,
          );
          growth.push(run);
        }
      } finally {
        await fleet.stop();
      }
    }
    return {
      zeroBake: main.zeroBake,
      floor: main.floor,
      nice: main.nice,
      defaultSqlite,
      growth,
      loadAverage: load.stop(),
    };
  } finally {
    load.stop();
    await gateway.close();
  }
}

/**
 * The live parts as an earlier run of this benchmark measured them (its bench/results/scale.json), for
 * a run that repeats only the load points: the section then says which run measured them.
 */
function liveFrom(path: string): LiveResults {
  const saved = JSON.parse(readFileSync(path, 'utf8')) as {
    startedAt?: string;
    raw?: { live?: LiveResults };
  };
  if (!saved.raw?.live) throw new Error(`${path} holds no live parts of a scale run`);
  // A run that itself reused an earlier run's parts names that run, not itself.
  return { ...saved.raw.live, measuredBy: saved.raw.live.measuredBy ?? saved.startedAt ?? path };
}

/** The overhead part again on a second dev server with SQLite's defaults (same MLflow and gateway). */
async function overheadOnDefaultSqlite(
  dir: string,
  stack: ScaleStack,
  gateway: GatewayHandle,
  bundlePath: string,
  holdout: string,
  log: (line: string) => void,
): Promise<OverheadOnServer> {
  const dataDir = join(dir, 'temporal-default-sqlite');
  mkdirSync(dataDir, { recursive: true });
  const server = await startTemporalServer({
    dataDir,
    headless: true,
    timeoutMs: 240_000,
    sqlitePragmas: [],
  });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const other: ScaleStack = { ...stack, temporalAddress: server.address, temporalPid: server.process.pid };
    const measured = await overheadOn(
      dir,
      other,
      client,
      gateway,
      bundlePath,
      holdout,
      'default-sqlite',
      log,
    );
    return { sqlitePragmas: [], ...measured };
  } finally {
    await connection.close().catch(() => undefined);
    await server.process.stop();
  }
}

const pragmaLabel = (pragmas: readonly string[]): string =>
  pragmas.length === 0 ? "SQLite's default (sync on every commit)" : pragmas.join(', ');

function overheadSamples(live: LiveResults): OverheadSample[] {
  const main = pragmaLabel(scaleSqlitePragmas());
  const samples: OverheadSample[] = [
    {
      server: main,
      workflow: 'prograde zero-bake promotion',
      analyses: live.zeroBake.map((r) => r.analysis),
    },
  ];
  if (live.floor)
    samples.push({
      server: main,
      workflow: `no-op: ${FLOOR_STEPS} activities of ${FLOOR_ACTIVITY_MS} ms`,
      analyses: live.floor,
    });
  const other = live.defaultSqlite;
  if (other) {
    const label = pragmaLabel(other.sqlitePragmas);
    samples.push(
      {
        server: label,
        workflow: 'prograde zero-bake promotion',
        analyses: other.zeroBake.map((r) => r.analysis),
      },
      {
        server: label,
        workflow: `no-op: ${FLOOR_STEPS} activities of ${FLOOR_ACTIVITY_MS} ms`,
        analyses: other.floor,
      },
    );
  }
  return samples;
}

/** What the comparison table says: prograde's gap against Temporal's no-op floor, per server setting. */
function overheadComparison(live: LiveResults): string[] {
  const gapP50 = (analyses: readonly HistoryAnalysis[]): number =>
    percentile(
      analyses.flatMap((a) => a.gaps.map((g) => g.totalMs)),
      0.5,
    );
  const lines: string[] = [];
  const main = gapP50(live.zeroBake.map((r) => r.analysis));
  const floor = live.floor ? gapP50(live.floor) : NaN;
  if (live.floor)
    lines.push(
      `On the same server a workflow of ${FLOOR_STEPS} no-op activities (${FLOOR_ACTIVITY_MS} ms each) spent ${floor.toFixed(0)} ms between activities (median), prograde's promotions ${main.toFixed(0)} ms: ${main - floor <= 5 ? "what is left between activities is Temporal's own round trip (server commits, matching, the SDK); prograde's workflow code adds no measurable time to it" : `prograde's workflow code adds about ${(main - floor).toFixed(0)} ms to Temporal's own round trip`}.`,
    );
  const other = live.defaultSqlite;
  if (other) {
    const slow = gapP50(other.zeroBake.map((r) => r.analysis));
    lines.push(
      `With SQLite's default settings (the dev server syncs the disk on every commit; a step is three commits: the activity's completion, the workflow task's start, and its completion that schedules the next activity) the same promotions spent ${slow.toFixed(0)} ms between activities (median) and the no-op workflow ${gapP50(other.floor).toFixed(0)} ms: the disk sync, not prograde or the worker settings, was the overhead, which is why the benchmark's server runs ${pragmaLabel(scaleSqlitePragmas())}. A production Temporal (PostgreSQL, MySQL, Cassandra) has its own commit latency; the no-op row is the way to measure it.`,
    );
  }
  return lines;
}

const MIB = 1024 ** 2;

/** What each worker saw of itself: memory at its RSS peak, and MLflow calls per promotion. */
function diagnosticsLine(l: LoadResult): string[] {
  const d = (l.diagnostics ?? []).filter((x): x is NonNullable<typeof x> => x !== null);
  if (d.length === 0) return [];
  const calls = d.reduce((n, x) => n + x.mlflowCallsTotal, 0);
  const mib = (b: number): string => (b / MIB).toFixed(0);
  const per = d.map(
    (x) =>
      `RSS ${mib(x.atPeakRss.rss)} MiB = heap ${mib(x.atPeakRss.heapUsed)} used of ${mib(x.atPeakRss.heapTotal)}, external ${mib(x.atPeakRss.external)} (array buffers ${mib(x.atPeakRss.arrayBuffers)}), the rest native (ONNX Runtime, the Temporal core); then ${x.atPeakRss.cachedWorkflows} cached workflows, ${x.atPeakRss.activities} activities, ${x.atPeakRss.evaluationsRunning} gates running and ${x.atPeakRss.evaluationsWaiting} waiting, MLflow ${x.atPeakRss.mlflowInFlight} in flight and ${x.atPeakRss.mlflowQueued} queued (most queued at once ${x.mlflowMaxQueued})`,
  );
  return [
    `${l.name}, each worker at its own RSS peak (sampled every second): ${per.join('; ')}. MLflow requests sent by the workers: ${calls} in all, ${(calls / l.promotions).toFixed(1)} per promotion.`,
  ];
}

/** The result from what was measured; exported so a saved result can be rendered again. */
export function report(
  command: string,
  started: Date,
  machine: ReturnType<typeof machineInfo>,
  points: readonly LoadPoint[],
  loads: readonly LoadResult[],
  live: LiveResults | undefined,
): BenchResult {
  const tables = [
    ...(loads.length > 0 ? [loadTable(loads)] : []),
    ...(live ? overheadTables(live.zeroBake) : []),
    ...(live ? [overheadComparisonTable(overheadSamples(live))] : []),
    ...(live ? historyTables(live.growth).tables : []),
  ];
  const interpretation: string[] = [];
  for (const l of loads) {
    const peak = Math.max(...l.usage.map((u) => u.peakRssBytes));
    interpretation.push(
      ...diagnosticsLine(l),
      `${l.name}: ${l.promotions} promotions on ${l.workers} worker process(es) in ${l.wallSec.toFixed(0)} s (${l.promotionsPerMinute.toFixed(0)}/min); end to end p50 ${(l.endToEndMs.p50 / 1000).toFixed(1)} s, p95 ${(l.endToEndMs.p95 / 1000).toFixed(1)} s; peak worker RSS ${(peak / GIB).toFixed(2)} GiB (goal ≤ 1 GiB: ${peak <= GIB ? 'met' : 'NOT met'}); activity schedule-to-start p95 ${(l.activityScheduleToStartMs.p95 / 1000).toFixed(1)} s; load average ${l.loadAverage.mean} (max ${l.loadAverage.max}).`,
    );
  }
  if (live) {
    const all = live.zeroBake.flatMap((r) => r.analysis.gaps);
    const p50 = (values: number[]): number => percentile(values.filter(Number.isFinite), 0.5);
    const median = p50(all.map((g) => g.totalMs));
    const perPromotion = live.zeroBake.map((r) => ({
      gaps: r.analysis.gaps.reduce((a, g) => a + g.totalMs, 0),
      own: r.analysis.activityRunMs.reduce((a, x) => a + x.ms, 0),
    }));
    interpretation.push(
      `Engine overhead per step (zero-bake live promotions, one at a time, dev server SQLite ${pragmaLabel(scaleSqlitePragmas())}): median ${median.toFixed(0)} ms between one activity's end and the next one's start over ${all.length} step boundaries (goal ≤ 20 ms: ${median <= 20 ? 'met' : 'NOT met'} at load average ${live.loadAverage.mean} on 2 cores${live.nice ? `, servers, worker and benchmark at nice ${live.nice} for this part` : ''}). Nearly all of it is the workflow task that decides the next step: queued ${p50(all.map((g) => g.queueMs)).toFixed(0)} ms and run ${p50(all.map((g) => g.runMs)).toFixed(0)} ms (worker and round trip to the server) at the median; activity dispatch is ${p50(all.map((g) => g.dispatchMs)).toFixed(0)} ms (eager). A promotion spent ${p50(perPromotion.map((x) => x.gaps)).toFixed(0)} ms between activities against ${p50(perPromotion.map((x) => x.own)).toFixed(0)} ms in them (medians).`,
      ...overheadComparison(live),
      ...historyTables(live.growth).interpretation,
    );
  }
  return {
    ...runRecord('scale', started, command, machine),
    settings: {
      promotions: PROMOTIONS,
      holdoutRows: HOLDOUT_ROWS,
      holdouts: HOLDOUTS,
      bootstrapResamples: RESAMPLES,
      offlineGates:
        'format; performance: auc ≥ 0.7 and ≤ 0.05 below the champion; fairness: parity ratio ≥ 0.7; latency: 30 iterations',
      points: points.map((p) => {
        const ran = loads.find((l) => l.name === p.name);
        return { name: p.name, workers: p.workers, env: ran?.tuningEnv ?? p.tuningEnv };
      }),
      choice:
        'the better one-worker point: within 1 GiB, more promotions per minute; within 10 % of each other, the lower workflow-task schedule-to-start p95. 3w-best runs its settings on three workers.',
      productDefaults: WORKER_TUNING_DEFAULTS,
      zeroBakeRuns: ZERO_BAKE_RUNS,
      temporalSqlite: pragmaLabel(scaleSqlitePragmas()),
      overheadNice: live?.nice ?? 0,
      environment: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('SCALE_'))),
      liveTrafficRps: LIVE_RPS,
    },
    tables,
    interpretation,
    notes: [
      ...(live?.measuredBy
        ? [
            `The overhead and history-growth parts were measured by the run of this benchmark started ${live.measuredBy} (same code, its load average ${live.loadAverage.mean}); this run repeated only the load points (SCALE_LIVE_FROM).`,
          ]
        : []),
      `Temporal dev server (SQLite, ${pragmaLabel(scaleSqlitePragmas())}) and MLflow (one gunicorn worker) run on the same 2 cores as the workers and the benchmark, so every figure includes their share of the CPU.`,
      'Schedule-to-start and gaps are read from event timestamps in each history: ActivityTaskScheduled → ActivityTaskStarted, WorkflowTaskScheduled → WorkflowTaskStarted; a gap is the time from the latest activity close to the next activity start (or the close), skipping boundaries where a timer, a signal, an update or a child workflow sits between them.',
    ],
    raw: { loads, live },
  };
}
