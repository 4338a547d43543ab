import { availableParallelism } from 'node:os';
import { InvalidInputError } from '../errors';

/**
 * The worker settings that decide how many promotions one worker process carries at once, read from
 * the environment. Activity slots are the one that matters (bench/RESULTS.md, section scale): at 8 or 20
 * instead of 100, one worker finished about half as many promotions a minute and saved only ~0.1 GiB,
 * because the activities mostly wait on MLflow. Workflow task slots and the sticky cache keep
 * Temporal's defaults, which the benchmark did not vary: the cache's default, (heap MiB − 200) × 0.6
 * workflows (≈ 2,300 on Node's 4 GiB heap), holds all 500 promotions of the benchmark, so no step
 * replays its history. The time between steps is set by the Temporal server's commits, not by these.
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
