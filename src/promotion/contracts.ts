import type { TrustedPerson } from '../identity';
import type { GateVerdict } from './verdict';
import type { MlflowSignature } from '../mlflow/signature';
import type { CanaryAnalysis, Contract, Evaluation, Shadow, Target, Task } from '../spec/schema';
import type { ReplicaDns } from '../routing/replicas';
import type { RoutingSpec } from '../routing/schema';
import type { FairnessGate, LatencyGate, PerformanceCheck } from '../spec/gates-schema';
import type { DatasetRef, PromotionState } from './state';

/**
 * Inputs and outputs of every activity: plain JSON data, each carrying the business key it acts on
 * (model + version, plus content hashes) so that running it twice is safe and cacheable.
 */

export interface RegistryVersion {
  readonly version: string;
  readonly status: string;
  readonly source: string;
  readonly runId?: string;
  readonly modelId?: string;
  readonly aliases: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
}

export interface ResolveInput {
  readonly model: string;
  readonly candidateVersion: string;
  readonly championAlias: string;
}
export interface ResolveOutput {
  readonly candidate: RegistryVersion;
  readonly champion: RegistryVersion | null;
}

export interface ModelKey {
  readonly model: string;
  readonly version: string;
  /** Expected sha256 of the ONNX file; a mismatch after re-download is a terminal error. */
  readonly sha256?: string;
}

export interface FetchedModelSummary {
  readonly version: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly fileCount: number;
  /** The version's MLflow signature as logged (tensor or column based), or null when it has none. */
  readonly signature: MlflowSignature | null;
}

interface EvaluationContext {
  readonly model: string;
  readonly task: Task;
  readonly contract: Contract;
  readonly dataset: DatasetRef;
  readonly evaluation: Evaluation;
}

export interface FormatGateInput extends EvaluationContext {
  readonly candidate: ModelKey;
  readonly signature: FetchedModelSummary['signature'];
}

export interface PerformanceGateInput extends EvaluationContext {
  readonly candidate: ModelKey;
  readonly champion: ModelKey | null;
  readonly checks: readonly PerformanceCheck[];
}

export interface FairnessGateInput extends EvaluationContext {
  readonly candidate: ModelKey;
  /** For checks relative to the champion; absent in histories recorded before they existed. */
  readonly champion?: ModelKey | null;
  readonly gate: FairnessGate;
}

export interface LatencyGateInput extends EvaluationContext {
  readonly candidate: ModelKey;
  readonly champion: ModelKey | null;
  readonly gate: LatencyGate;
}

export interface RecordOutcomeInput {
  readonly state: PromotionState;
  readonly championAlias: string;
  readonly workflowRunId: string;
}
export interface RecordOutcomeOutput {
  readonly reportUri: string;
  /** Tag and alias writes this call made (0 when a retry found them done); report uploads are not counted. */
  readonly writes: number;
  /**
   * Which attempt on the version this was (1 for the first, tagged `prograde.attempt.<n>`); absent
   * when nothing was written to the version (it does not exist, or another run already promoted it).
   */
  readonly attempt?: number;
}

export type { GateVerdict };

/** The serving target as the spec names it; the admin token is read from `tokenEnv` on the worker. */
export interface TargetRef {
  /** The one gateway; for a replicated target, its name only (the lock key), see `replicas`/`dns`. */
  readonly url: string;
  readonly tokenEnv?: string;
  /** Every gateway replica (docs/replicas.md); absent for one gateway at `url`. */
  readonly replicas?: readonly string[];
  /** Replicas found through DNS by the worker at every call. */
  readonly dns?: ReplicaDns;
  /** Replicas that must acknowledge a step; default all. */
  readonly quorum?: number;
}

/**
 * The replica fields of a spec's target, for the TargetRef the workflow passes to activities: nothing
 * for a one-gateway target, so the activity inputs of such rollouts stay as they were recorded.
 */
export function replicasOf(target: Pick<Target, 'replicas' | 'dns' | 'quorum'>): {
  replicas?: readonly string[];
  dns?: ReplicaDns;
  quorum?: number;
} {
  return {
    ...(target.replicas !== undefined ? { replicas: target.replicas } : {}),
    ...(target.dns !== undefined ? { dns: target.dns } : {}),
    ...(target.quorum !== undefined ? { quorum: target.quorum } : {}),
  };
}

export interface ReadRoutingInput {
  readonly model: string;
  readonly target: TargetRef;
}
export interface ReadRoutingOutput {
  /** 0 when the gateway has no routing for the model yet. */
  readonly generation: number;
  readonly routing: RoutingSpec | null;
}

export interface ApplyRoutingInput {
  readonly model: string;
  readonly target: TargetRef;
  /** Chosen by the workflow, so a retried call repeats the same desired state and changes nothing. */
  readonly generation: number;
  /** Sent to the gateway unchanged, as the body of its routing PUT with `generation`. */
  readonly desired: RoutingSpec;
  readonly actor: string;
}
export interface ApplyRoutingOutput {
  /** false when this exact state was already applied (a retry). */
  readonly applied: boolean;
  readonly generation: number;
}

/**
 * A model's scores on the offline holdout, summarised for the live skew check (src/live/skew.ts): the
 * deciles of the scores as bin edges (ties merged) and the holdout's share in each bin. A few dozen
 * numbers, so it can travel in activity results; the scores themselves stay in the result cache.
 */
export interface ScoreSketch {
  readonly rows: number;
  /** Interior edges; bins = edges.length + 1, right-closed, open-ended (src/stats/drift.ts). */
  readonly edges: readonly number[];
  readonly shares: readonly number[];
}

/** Both models' holdout score sketches, from the same holdout rows. */
export interface HoldoutScores {
  readonly datasetSha256: string;
  readonly candidate: ScoreSketch;
  readonly champion: ScoreSketch;
}

/**
 * Where the watch activities find both models' holdout scores: the keys the offline gates scored
 * them under (sha256-checked models, the holdout, its columns), never the scores, so workflow history
 * stays small. The activity reads the result cache, or scores again on a worker that lacks it.
 */
export interface HoldoutReference extends EvaluationContext {
  readonly candidate: ModelKey;
  readonly champion: ModelKey;
}

export interface WatchShadowInput {
  readonly model: string;
  readonly target: TargetRef;
  readonly generation: number;
  readonly shadow: Shadow;
  readonly startedAtMs: number;
  /** Absent in promotions started before the skew check: the shadow is then judged without it. */
  readonly reference?: HoldoutReference;
}

export interface WatchCanaryInput {
  readonly model: string;
  readonly target: TargetRef;
  readonly generation: number;
  readonly analysis: CanaryAnalysis;
  /** Looks the whole canary may take; each check's alpha is divided by it (see live/alpha-spending.ts). */
  readonly looks: number;
  readonly startedAtMs: number;
  readonly durationMs: number;
  /**
   * End as soon as the verdict passes: `analysis` steps and extensions, and bakes in sequential mode
   * (after `minDurationMs`). Bonferroni bakes run their whole time.
   */
  readonly stopWhenConclusive: boolean;
  /** A pass ends the watch only once this long has passed since startedAtMs (a bake's minimum). */
  readonly minDurationMs?: number;
}
export interface WatchCanaryOutput {
  readonly verdict: GateVerdict;
  readonly ticks: number;
  readonly endedEarly: boolean;
  readonly elapsedMs: number;
}

/** The people a spec names, to be matched with the keys the worker's trust file pins for the model. */
export interface ResolveTrustInput {
  readonly model: string;
  /** Approvers, and the people a manual canary pause waits for. */
  readonly approvers: readonly string[];
  readonly operators: readonly string[];
}
export interface ResolveTrustOutput {
  readonly people: readonly TrustedPerson[];
  /** Which file they came from, for the record. */
  readonly trustFile?: string;
}
