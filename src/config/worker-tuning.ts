import { availableParallelism } from 'node:os';
import { InvalidInputError } from '../errors';

/**
 * The worker settings that decide how many promotions one worker process carries at once, read from
 * the environment, with the measured reason for each default (bench/RESULTS.md, section scale):
 *
 * - Activity slots 100 (PROGRADE_WORKER_ACTIVITY_SLOTS): most activities wait on MLflow, not on the
 *   CPU. At 8 or 20 instead of 100 one worker finished about half as many promotions a minute and saved
 *   only ~0.1 GiB (N = 100).
 * - Evaluation slots, one per core and at least 2 (PROGRADE_WORKER_EVALUATION_SLOTS): the offline gates
 *   are the CPU work and each opens ONNX Runtime sessions. Without this bound 100 activity slots meant
 *   up to 100 gates (and their sessions) at once on 2 cores, for no more throughput; with it, the other
 *   gate activities wait in their slot, heartbeating, and at most 2 gates run (N = 80 on one worker:
 *   29 promotions a minute as before, 0.49 GiB). It is not what holds a 500-promotion worker near
 *   1 GiB: there, ~830 MiB of the RSS is V8 heap pages, only ~210 MiB of them the main thread's heap,
 *   so the rest is the workflow thread's isolate; it rose and fell by ~0.1 GiB within a minute, and a
 *   sticky cache of 200 instead of 500 did not lower the peak. Nor is it only garbage: with that
 *   isolate's old space capped at 384 MiB (the V8 flag set before Temporal starts the thread) the
 *   workflow thread ran out of memory (ERR_WORKER_OUT_OF_MEMORY) about 90 s after 500 promotions
 *   had started, and the worker stopped; so there is no such cap here, and the 1 GiB goal is open.
 * - Workflow task slots 40 and the sticky cache are Temporal's defaults: a decision takes
 *   milliseconds and at 500 promotions workflow tasks waited for the CPU, not for slots; the cache's
 *   default, (heap MiB − 200) × 0.6 workflows (≈ 2,300 on Node's 4 GiB heap), holds all 500
 *   promotions, so no step replays its history, and a smaller one saved no memory (above).
 *
 * MLflow requests in flight per client are bounded too (PROGRADE_MLFLOW_MAX_REQUESTS, src/mlflow/http.ts).
 * The time between steps is set by the Temporal server's commits, not by these.
 */
export interface WorkerTuning {
  /** Activities (gates, fetches, registry writes, watches) running at once in this process. */
  readonly maxConcurrentActivityTaskExecutions: number;
  /** Workflow tasks (replays and decisions) running at once in this process. */
  readonly maxConcurrentWorkflowTaskExecutions: number;
  /** Workflows kept in the sticky cache between their tasks; 0 replays every task from history. */
  readonly maxCachedWorkflows?: number;
  /**
   * Offline gates (format, performance, fairness, latency: each opens ONNX Runtime sessions and
   * scores) running at once in this process; the others wait their turn inside their activity slot,
   * heartbeating. Not a Temporal option: src/worker.ts applies it.
   */
  readonly maxConcurrentEvaluations?: number;
}

export const WORKER_TUNING_ENV = {
  maxConcurrentActivityTaskExecutions: 'PROGRADE_WORKER_ACTIVITY_SLOTS',
  maxConcurrentWorkflowTaskExecutions: 'PROGRADE_WORKER_WORKFLOW_TASK_SLOTS',
  maxCachedWorkflows: 'PROGRADE_WORKER_CACHED_WORKFLOWS',
  maxConcurrentEvaluations: 'PROGRADE_WORKER_EVALUATION_SLOTS',
} as const;

/**
 * Default offline gates at once: one per core, at least 2. They are CPU work (scoring, bootstraps,
 * latency loops) plus an ONNX Runtime session each, so more at once than cores only adds sessions
 * and their arenas to memory, not throughput; see maxConcurrentEvaluations.
 */
export function defaultEvaluationSlots(): number {
  return Math.max(2, availableParallelism());
}

export const WORKER_TUNING_DEFAULTS: WorkerTuning = {
  maxConcurrentActivityTaskExecutions: 100,
  maxConcurrentWorkflowTaskExecutions: 40,
  maxConcurrentEvaluations: defaultEvaluationSlots(),
};

/** Far above anything one process can use; a larger number is a typo, not a setting. */
const MAX_SLOTS = 100_000;

function integerFrom(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  const value = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < min || value > MAX_SLOTS) {
    throw new InvalidInputError(
      `${name}='${raw.slice(0, 40)}' must be a whole number from ${min} to ${MAX_SLOTS}`,
      {
        variable: name,
      },
    );
  }
  return value;
}

/** The tuning in `env` over the defaults; a malformed value is invalid input (exit 2), never ignored. */
export function workerTuning(env: NodeJS.ProcessEnv = process.env): WorkerTuning {
  const activities = integerFrom(env, WORKER_TUNING_ENV.maxConcurrentActivityTaskExecutions, 1);
  const workflowTasks = integerFrom(env, WORKER_TUNING_ENV.maxConcurrentWorkflowTaskExecutions, 1);
  const cached = integerFrom(env, WORKER_TUNING_ENV.maxCachedWorkflows, 0);
  const evaluations = integerFrom(env, WORKER_TUNING_ENV.maxConcurrentEvaluations, 1);
  const tuning: WorkerTuning = {
    maxConcurrentActivityTaskExecutions:
      activities ?? WORKER_TUNING_DEFAULTS.maxConcurrentActivityTaskExecutions,
    maxConcurrentWorkflowTaskExecutions:
      workflowTasks ?? WORKER_TUNING_DEFAULTS.maxConcurrentWorkflowTaskExecutions,
    ...(cached !== undefined
      ? { maxCachedWorkflows: cached }
      : WORKER_TUNING_DEFAULTS.maxCachedWorkflows !== undefined
        ? { maxCachedWorkflows: WORKER_TUNING_DEFAULTS.maxCachedWorkflows }
        : {}),
    maxConcurrentEvaluations: evaluations ?? defaultEvaluationSlots(),
  };
  // Temporal refuses a sticky cache with fewer than two workflow task slots; say so in our words.
  if (tuning.maxCachedWorkflows !== 0 && tuning.maxConcurrentWorkflowTaskExecutions < 2) {
    throw new InvalidInputError(
      `${WORKER_TUNING_ENV.maxConcurrentWorkflowTaskExecutions} must be at least 2 while workflows are cached (${WORKER_TUNING_ENV.maxCachedWorkflows} is not 0)`,
      { variable: WORKER_TUNING_ENV.maxConcurrentWorkflowTaskExecutions },
    );
  }
  return tuning;
}
