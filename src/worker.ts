import {
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
  type LogLevel,
  type LogMetadata,
} from '@temporalio/worker';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createActivities } from './activities';
import { temporalSettings, temporalUnreachable, type TemporalSettings } from './config/temporal';
import { dataDir } from './devstack/local-stack';
import { Evaluator } from './evaluation/evaluator';
import { ResultCache } from './evaluation/result-cache';
import { createLogger } from './logging';
import { ModelCache } from './mlflow/cache';
import { mlflowClient } from './config/mlflow';
import { Context } from '@temporalio/activity';
import { defaultEvaluationSlots, workerTuning, type WorkerTuning } from './config/worker-tuning';
import { RequestGate } from './mlflow/request-gate';
import { type MlflowClient } from './mlflow/client';
import { startTelemetry, workerTracing, type Telemetry } from './telemetry';

let runtimeInstalled = false;

/** Temporal's core logs go through pino too, once per process (Runtime.install may run only once). */
export function installRuntime(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const core = logger.child({ module: 'temporal' });
  const at = (level: LogLevel) => (message: string, meta?: LogMetadata) => {
    const fn = { TRACE: core.trace, DEBUG: core.debug, INFO: core.info, WARN: core.warn, ERROR: core.error }[
      level
    ];
    fn.call(core, meta ?? {}, message);
  };
  Runtime.install({
    logger: {
      log: (level, message, meta) => at(level)(message, meta),
      trace: at('TRACE'),
      debug: at('DEBUG'),
      info: at('INFO'),
      warn: at('WARN'),
      error: at('ERROR'),
    },
  });
}

export interface PromotionWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly mlflow: MlflowClient;
  /** Model files, scores and cached verdicts live here. */
  readonly workDir: string;
  readonly logger: Logger;
  /** Pre-bundled workflow code (tests bundle once, with PAYLOAD_CONVERTER_PATH); default bundles src/workflows at start. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
  readonly identity?: string;
  /** Slots and sticky cache (src/config/worker-tuning.ts); default: the measured defaults there. */
  readonly tuning?: WorkerTuning;
  /**
   * OpenTelemetry (src/telemetry): activity and workflow interceptors, and the sink workflow spans
   * leave by. A `workflowBundle` given with it must have been built with TRACING_WORKFLOW_MODULE.
   */
  readonly tracing?: Telemetry;
}

/**
 * Decoding of every payload the worker receives; workflow bundles built ahead of time must be built
 * with it too (`bundleWorkflowCode({ payloadConverterPath })`). See src/workflows/payload-converter.ts.
 */
export const PAYLOAD_CONVERTER_PATH = sourcePath('./workflows/payload-converter');

/** tsx resolves TypeScript sources through `require.resolve`; plain Node (vitest's) needs the file name. */
function sourcePath(relative: string): string {
  try {
    return require.resolve(relative);
  } catch {
    return join(__dirname, `${relative}.ts`);
  }
}

/**
 * The workflow bundle `npm pack` builds (infra/build-release.mjs) beside the compiled worker: an
 * installed worker loads it and starts in about a second instead of running webpack for several.
 * A source checkout has none and bundles at start, so an edit to a workflow is always what runs.
 */
function prebuiltBundle(traced: boolean): { codePath: string } | undefined {
  // The traced bundle also holds the OpenTelemetry workflow interceptors (src/telemetry).
  const codePath = join(__dirname, traced ? 'workflow-bundle-traced.js' : 'workflow-bundle.js');
  return existsSync(codePath) ? { codePath } : undefined;
}

/** The activities that open ONNX Runtime sessions and score: bounded by maxConcurrentEvaluations. */
const EVALUATIONS = ['formatGate', 'performanceGate', 'fairnessGate', 'latencyGate'] as const;

/** Offline gates running (and waiting) in this process, for diagnostics (the scale bench samples it). */
export const evaluationGates = new Set<RequestGate>();

/**
 * Wraps the gate activities so at most `slots` run at once; the rest wait in order, heartbeating (the
 * gates' heartbeat timeout is 20 s) and giving up their place when cancelled.
 */
function boundEvaluations<T extends Record<string, unknown>>(activities: T, slots: number): T {
  const gate = new RequestGate(slots);
  evaluationGates.add(gate);
  const out: Record<string, unknown> = { ...activities };
  for (const name of EVALUATIONS) {
    const fn = activities[name];
    if (typeof fn !== 'function') continue;
    out[name] = async (...args: unknown[]): Promise<unknown> => {
      const ctx = Context.current();
      const slot = gate.acquire();
      const timer = setInterval(() => ctx.heartbeat(), 5_000);
      let release: () => void;
      try {
        release = await Promise.race([slot, ctx.cancelled]);
      } catch (e) {
        void slot.then((r) => r());
        throw e;
      } finally {
        clearInterval(timer);
      }
      try {
        gate.count(name);
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } finally {
        release();
      }
    };
  }
  return out as T;
}

/** Builds a worker with real clients; the one place activities are constructed. */
export async function createPromotionWorker(opts: PromotionWorkerOptions): Promise<Worker> {
  mkdirSync(opts.workDir, { recursive: true });
  const evaluator = new Evaluator({
    mlflow: opts.mlflow,
    models: new ModelCache(opts.mlflow, join(opts.workDir, 'models')),
    results: new ResultCache(join(opts.workDir, 'results')),
    downloadsDir: join(opts.workDir, 'downloads'),
  });
  const { maxConcurrentEvaluations, ...temporalTuning } = opts.tuning ?? workerTuning({});
  const activities = boundEvaluations(
    createActivities({ mlflow: opts.mlflow, evaluator, logger: opts.logger }),
    maxConcurrentEvaluations ?? defaultEvaluationSlots(),
  );
  const bundle = opts.workflowBundle ?? prebuiltBundle(opts.tracing !== undefined);
  const traced = opts.tracing ? await workerTracing(opts.tracing) : undefined;
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities,
    // A bundle built ahead of time carries its converter; a worker that bundles passes it on.
    ...(bundle
      ? { workflowBundle: bundle }
      : {
          workflowsPath: require.resolve('./workflows'),
          dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
        }),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...temporalTuning,
    // A bundle carries its workflow interceptors; a worker that bundles adds the module itself.
    ...(traced
      ? {
          interceptors: bundle ? { activity: traced.interceptors.activity ?? [] } : traced.interceptors,
          sinks: traced.sinks,
        }
      : {}),
    shutdownGraceTime: '10s',
  });
}

export async function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(settings.connection);
  } catch (e) {
    throw temporalUnreachable(settings, e);
  }
}

/** `prograde worker`: runs until SIGINT/SIGTERM, then drains and exits. */
export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const logger = createLogger('prograde-worker');
  installRuntime(logger);
  const settings = temporalSettings(env);
  const tuning = workerTuning(env);
  const mlflow = mlflowClient(env);
  const tracing = await startTelemetry('prograde-worker', env);
  const connection = await connectWorker(settings);
  try {
    const worker = await createPromotionWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      mlflow,
      workDir: env.PROGRADE_WORK_DIR ?? join(dataDir(), 'worker'),
      logger,
      tuning,
      ...(tracing ? { tracing } : {}),
    });
    logger.info(
      { address: settings.connection.address, taskQueue: settings.taskQueue, tuning },
      'worker started',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await tracing?.shutdown();
  }
}
