import type { GateVerdict } from '../gates/verdict';
import type { TensorSpec } from '../onnx/tensor-spec';
import type { Contract, Evaluation, Task } from '../spec/schema';
import type { FairnessGate, LatencyGate, PerformanceCheck } from '../spec/gates-schema';
import type { DatasetRef, PromotionState } from '../workflows/state';

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
  readonly signature: {
    readonly inputs: readonly TensorSpec[];
    readonly outputs: readonly TensorSpec[];
  } | null;
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
  /** Registry writes this call actually made (0 when a retry found everything already done). */
  readonly writes: number;
}

export type { GateVerdict };
