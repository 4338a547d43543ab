import { Context, heartbeat } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Evaluator } from '../evaluation/evaluator';
import type { MlflowClient } from '../mlflow/client';
import type {
  FairnessGateInput,
  FetchedModelSummary,
  FormatGateInput,
  GateVerdict,
  LatencyGateInput,
  ModelKey,
  PerformanceGateInput,
  RecordOutcomeInput,
  RecordOutcomeOutput,
  ResolveInput,
  ResolveOutput,
  ResolveTrustInput,
  ResolveTrustOutput,
  WatchShadowInput,
} from '../promotion/contracts';
import { withFailureTranslation } from './failures';
import { applyRouting, readRouting, watchCanary, watchShadow } from './live';
import { awaitWorkflowClosed, requestRolloutLock } from './lock';
import { recordOutcome, resolveVersions } from '../records/outcome';
import {
  recordEvidenceRun,
  type RecordEvidenceInput,
  type RecordEvidenceOutput,
} from '../records/run-evidence';
import { resolveTrust } from './trust';

export interface ActivityDeps {
  readonly mlflow: MlflowClient;
  readonly evaluator: Evaluator;
  readonly logger: Logger;
}

/** Keeps long evaluations visibly alive so a dead worker is noticed within the heartbeat timeout. */
async function heartbeating<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), 5_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * Every activity prograde runs. Each is thin: it takes a business key, calls a domain module and
 * returns plain data. The worker is the one place that builds them (with real clients).
 */
export function createActivities(deps: ActivityDeps) {
  const { evaluator } = deps;
  return withFailureTranslation({
    resolveVersions: (input: ResolveInput): Promise<ResolveOutput> => resolveVersions(deps.mlflow, input),
    fetchModel: (key: ModelKey): Promise<FetchedModelSummary> => heartbeating(evaluator.fetchSummary(key)),
    formatGate: (input: FormatGateInput): Promise<GateVerdict> => heartbeating(evaluator.formatGate(input)),
    performanceGate: (input: PerformanceGateInput): Promise<GateVerdict> =>
      heartbeating(evaluator.performanceGate(input)),
    fairnessGate: (input: FairnessGateInput): Promise<GateVerdict> =>
      heartbeating(evaluator.fairnessGate(input)),
    latencyGate: (input: LatencyGateInput): Promise<GateVerdict> =>
      heartbeating(evaluator.latencyGate(input)),
    // Both heartbeat: their MLflow calls may wait in the client's queue (src/mlflow/http.ts) behind a
    // busy server, and a workflow that sets a heartbeat timeout then tells a slow attempt from a dead one.
    recordOutcome: (input: RecordOutcomeInput): Promise<RecordOutcomeOutput> =>
      heartbeating(recordOutcome(deps.mlflow, input)),
    recordEvidenceRun: (input: RecordEvidenceInput): Promise<RecordEvidenceOutput> =>
      heartbeating(
        recordEvidenceRun(deps.mlflow, input, Date.now(), {
          firstAttempt: Context.current().info.attempt === 1,
        }),
      ),
    resolveTrust: (input: ResolveTrustInput): Promise<ResolveTrustOutput> => resolveTrust(input),
    readRouting,
    applyRouting,
    watchShadow: (input: WatchShadowInput): Promise<GateVerdict> => watchShadow(input, evaluator),
    watchCanary,
    requestRolloutLock,
    awaitWorkflowClosed,
  });
}
