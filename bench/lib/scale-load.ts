/**
 * One load point of the scale benchmark: fresh candidate versions for every model, `workers` worker
 * processes on one task queue, every promotion started at once, then the workers' memory and the
 * promotions' histories.
 */
import type { Client } from '@temporalio/client';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { startPromotion } from '../../src/client/promotions';
import type { PromotionState } from '../../src/promotion/state';
import { treeCpuMs } from './scale-cpu';
import { startFleet, type WorkerUsage } from './scale-fleet';
import { analyzeHistory, percentile, type HistoryAnalysis } from './scale-history';
import { offlineSpec, pool, promotionInput, type ScaleStack } from './scale-setup';
import type { WorkerDiagnostics } from './scale-worker';

export interface LoadContext {
  readonly stack: ScaleStack;
  readonly client: Client;
  readonly bundlePath: string;
  readonly dir: string;
  readonly holdouts: readonly string[];
  /** Models with a champion version and a candidate version each (same index). */
  readonly models: readonly string[];
  readonly champions: readonly string[];
  readonly candidates: readonly string[];
  readonly resamples: number;
  readonly log: (line: string) => void;
}

export interface LoadPoint {
  readonly name: string;
  readonly workers: number;
  /** PROGRADE_WORKER_* variables for every worker of the point. */
  readonly tuningEnv: Readonly<Record<string, string>>;
}

export interface LoadResult {
  readonly name: string;
  readonly workers: number;
  readonly promotions: number;
  /** The PROGRADE_WORKER_* variables the workers got, and the tuning they resolved to. */
  readonly tuningEnv: Readonly<Record<string, string>>;
  readonly tuning: Readonly<Record<string, unknown>>;
  readonly outcomes: Readonly<Record<string, number>>;
  /** Seconds spent moving @champion back before the point. */
  readonly resetSec: number;
  /** From the first start request to the last promotion's close. */
  readonly wallSec: number;
  readonly promotionsPerMinute: number;
  readonly endToEndMs: Quantiles;
  readonly activityScheduleToStartMs: Quantiles;
  readonly workflowTaskScheduleToStartMs: Quantiles;
  readonly workflowTaskRunMs: Quantiles;
  readonly eventsPerPromotion: Quantiles;
  /** Workflow tasks that timed out or failed (each one retried by the server), over every history. */
  readonly workflowTaskTimeouts: number;
  readonly workflowTaskFailures: number;
  readonly usage: readonly WorkerUsage[];
  /** Each worker's own view (memory at its RSS peak, cached workflows, MLflow calls); absent in older runs. */
  readonly diagnostics?: readonly (WorkerDiagnostics | null)[];
  /** CPU the servers used during the point (their whole process trees), seconds. */
  readonly serverCpuSec: { readonly temporal: number; readonly mlflow: number };
  /** 1-minute load average of the machine: at the start, at the end, and the mean and max of samples. */
  readonly loadAverage: LoadAverage;
}

export interface Quantiles {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export function quantiles(values: readonly number[]): Quantiles {
  return {
    n: values.length,
    p50: percentile(values, 0.5),
    p95: percentile(values, 0.95),
    p99: percentile(values, 0.99),
    max: values.length === 0 ? NaN : Math.max(...values),
  };
}

export interface LoadAverage {
  readonly start: number;
  readonly end: number;
  readonly mean: number;
  readonly max: number;
}

const load1 = (): number => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

/** Samples the 1-minute load average every few seconds until stopped. */
export function sampleLoad(): { stop(): LoadAverage } {
  const start = load1();
  const samples = [start];
  const timer = setInterval(() => samples.push(load1()), 5_000);
  return {
    stop: () => {
      clearInterval(timer);
      const end = load1();
      samples.push(end);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      return { start, end, mean: Math.round(mean * 100) / 100, max: Math.max(...samples) };
    },
  };
}

const POLL_MS = 2_000;

async function runningOn(client: Client, taskQueue: string): Promise<number> {
  const { count } = await client.workflow.count(`TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`);
  return count;
}

export async function runLoadPoint(
  ctx: LoadContext,
  point: LoadPoint,
  timeoutMs: number,
): Promise<LoadResult> {
  const { log, stack, client } = ctx;
  const n = ctx.models.length;
  // The same candidates every point: @champion goes back to each model's first version, so each point
  // promotes every candidate afresh (a new run of promote/<model>/<version>, a new attempt in MLflow).
  log(`  [${point.name}] moving @champion back on ${n} models…`);
  const resetStarted = Date.now();
  await pool(ctx.models, 6, (model, i) =>
    stack.mlflow.setAlias(model, 'champion', ctx.champions[i] as string),
  );
  const registerSec = (Date.now() - resetStarted) / 1000;
  const taskQueue = `scale-${point.name}`;
  log(`  [${point.name}] done in ${registerSec.toFixed(0)} s; starting ${point.workers} worker(s)…`);
  const fleet = await startFleet({
    count: point.workers,
    dir: `${ctx.dir}/${point.name}`,
    base: {
      temporalAddress: stack.temporalAddress,
      taskQueue,
      mlflowUrl: stack.mlflowUrl,
      bundlePath: ctx.bundlePath,
      tuningEnv: { ...point.tuningEnv },
    },
  });
  let usage: WorkerUsage[] = [];
  const load = sampleLoad();
  const cpuAtStart = { temporal: treeCpuMs(stack.temporalPid), mlflow: treeCpuMs(stack.mlflowPid) };
  let serverCpuSec = { temporal: NaN, mlflow: NaN };
  let loadAverage: LoadAverage | undefined;
  const started = Date.now();
  let workflowIds: string[] = [];
  try {
    log(
      `  [${point.name}] workers ${fleet.pids.join(', ')} ready (${JSON.stringify(fleet.tuning)}); starting ${n} promotions…`,
    );
    workflowIds = await pool(ctx.models, 50, async (model, i) => {
      const input = promotionInput(
        offlineSpec(model, ctx.resamples),
        ctx.candidates[i] as string,
        ctx.holdouts[i % ctx.holdouts.length] as string,
        ctx.dir,
      );
      return (await startPromotion(client, input, taskQueue)).workflowId;
    });
    log(`  [${point.name}] all started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const open = await runningOn(client, taskQueue);
      const elapsed = (Date.now() - started) / 1000;
      log(`  [${point.name}] ${elapsed.toFixed(0)} s: ${open} running`);
      if (open === 0) break;
      if (Date.now() - started > timeoutMs)
        throw new Error(`${open} promotions still running after ${timeoutMs / 1000} s`);
    }
  } finally {
    serverCpuSec = {
      temporal: (treeCpuMs(stack.temporalPid) - cpuAtStart.temporal) / 1000,
      mlflow: (treeCpuMs(stack.mlflowPid) - cpuAtStart.mlflow) / 1000,
    };
    usage = await fleet.stop();
    loadAverage = load.stop();
  }

  const analyses: HistoryAnalysis[] = [];
  const outcomes: Record<string, number> = {};
  await pool(workflowIds, 16, async (id) => {
    const handle = client.workflow.getHandle(id);
    const history = await handle.fetchHistory();
    analyses.push(analyzeHistory(history.events ?? []));
    const state = (await handle.result()) as PromotionState;
    const outcome = state.outcome ?? 'none';
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  });
  const diagnostics = Array.from({ length: point.workers }, (_, i) => {
    const file = `${ctx.dir}/${point.name}/worker-${i}/diagnostics.json`;
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as WorkerDiagnostics) : null;
  });
  const firstStart = Math.min(...analyses.map((a) => a.startedMs));
  const lastClose = Math.max(...analyses.map((a) => a.closedMs ?? NaN));
  const wallSec = (lastClose - firstStart) / 1000;
  return {
    name: point.name,
    workers: point.workers,
    promotions: n,
    tuningEnv: point.tuningEnv,
    tuning: fleet.tuning,
    outcomes,
    resetSec: registerSec,
    wallSec,
    promotionsPerMinute: (n / wallSec) * 60,
    endToEndMs: quantiles(analyses.flatMap((a) => (a.endToEndMs === undefined ? [] : [a.endToEndMs]))),
    activityScheduleToStartMs: quantiles(analyses.flatMap((a) => a.activityScheduleToStartMs)),
    workflowTaskScheduleToStartMs: quantiles(analyses.flatMap((a) => a.workflowTaskScheduleToStartMs)),
    workflowTaskRunMs: quantiles(analyses.flatMap((a) => a.workflowTaskRunMs)),
    eventsPerPromotion: quantiles(analyses.map((a) => a.events)),
    workflowTaskTimeouts: analyses.reduce((n, a) => n + (a.eventsByType['WORKFLOW_TASK_TIMED_OUT'] ?? 0), 0),
    workflowTaskFailures: analyses.reduce((n, a) => n + (a.eventsByType['WORKFLOW_TASK_FAILED'] ?? 0), 0),
    usage,
    diagnostics,
    serverCpuSec,
    loadAverage: loadAverage ?? load.stop(),
  };
}
