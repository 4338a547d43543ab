import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  FairnessGateInput,
  FetchedModelSummary,
  FormatGateInput,
  HoldoutReference,
  HoldoutScores,
  LatencyGateInput,
  ModelKey,
  PerformanceGateInput,
} from '../promotion/contracts';
import type { Dataset } from '../dataset/dataset';
import { ProgradeError } from '../errors';
import { StatisticUndefinedError } from '../stats/errors';
import { judgeFairness } from '../gates/fairness';
import { checkFormat } from '../gates/format';
import { measureLatency, measurePair } from '../gates/latency';
import { judgeLatency } from '../gates/latency-judge';
import { judgePerformance } from '../gates/performance';
import type { GateVerdict } from '../promotion/verdict';
import type { ModelCache, FetchedModel } from '../mlflow/cache';
import { proxiedArtifactPath } from '../mlflow/artifact-path';
import type { MlflowClient } from '../mlflow/client';
import { signatureFromPayload } from '../mlflow/signature';
import { resolveArtifactPath } from '../mlflow/uri';
import { openSession, type ScoringSession } from '../onnx/session';
import type { Contract, Evaluation, Task } from '../spec/schema';
import type { DatasetRef } from '../promotion/state';
import { type ResultCache, cacheKey } from './result-cache';
import { sketchScores } from './score-sketch';
import { loadHoldout } from './holdout';

export interface EvaluatorDeps {
  readonly mlflow: MlflowClient;
  readonly models: ModelCache;
  readonly results: ResultCache;
  /** Where URI datasets are downloaded to. */
  readonly downloadsDir: string;
}

interface LoadedDataset {
  readonly dataset: Dataset;
  readonly sha256: string;
}

/** Bumped when a change alters what a gate computes, so stale cached verdicts are never reused. */
// 2: the paired bootstrap draws Poisson(1) weights (src/stats/resample.ts), so intervals for a seed changed.
const EVALUATION_CACHE_VERSION = 2;

/**
 * The domain behind the evaluation activities: fetch a model version, load the holdout set, score it
 * once per (model sha256, dataset sha256) and judge. Each verdict is cached by everything that can
 * change it, so a retried activity after a worker crash returns the first attempt's answer.
 */
export class Evaluator {
  constructor(private readonly deps: EvaluatorDeps) {}

  async fetch(key: ModelKey): Promise<FetchedModel> {
    const fetched = await this.deps.models.fetchVersion(key.model, key.version);
    if (key.sha256 !== undefined && fetched.sha256 !== key.sha256) {
      throw new ProgradeError(
        'MODEL_CHANGED',
        `${key.model} v${key.version} changed in MLflow during the promotion: sha256 ${fetched.sha256} ≠ ${key.sha256} seen earlier`,
        'terminal',
        { ...key, found: fetched.sha256 },
      );
    }
    return fetched;
  }

  async fetchSummary(key: ModelKey): Promise<FetchedModelSummary> {
    const m = await this.fetch(key);
    const onnx = m.files.find((f) => join(m.dir, f.path) === m.onnxPath);
    return {
      version: m.version,
      sha256: m.sha256,
      sizeBytes: onnx?.size ?? readFileSync(m.onnxPath).byteLength,
      fileCount: m.files.length,
      signature: m.mlmodel.signature ?? null,
    };
  }

  async dataset(ref: DatasetRef, evaluation: Evaluation, task?: Task): Promise<LoadedDataset> {
    const path = ref.kind === 'file' ? ref.path : await this.downloadDataset(ref.uri);
    // One read: the sha256 that keys results and evidence is of exactly the rows parsed.
    return loadHoldout(path, evaluation, task);
  }

  /** A dataset named by URI is downloaded once per URI; its sha256 is then what keys every result. */
  private async downloadDataset(uri: string): Promise<string> {
    const target = join(this.deps.downloadsDir, `${cacheKey(uri)}.csv`);
    if (existsSync(target)) return target;
    mkdirSync(this.deps.downloadsDir, { recursive: true });
    const artifact = uri.startsWith('mlflow-artifacts:')
      ? proxiedArtifactPath(uri)
      : await resolveArtifactPath(this.deps.mlflow, uri);
    await this.deps.mlflow.downloadArtifactToFile(artifact, target);
    return target;
  }

  // Gates fetch each model once and pass the FetchedModel on: a fetch re-hashes the cached files
  // to verify them, which for a large model is not free.
  private async withSession<T>(
    model: FetchedModel,
    contract: Contract,
    use: (s: ScoringSession) => Promise<T>,
  ): Promise<T> {
    const session = await openSession(
      model.onnxPath,
      contract.scoreOutput === undefined ? {} : { scoreOutput: contract.scoreOutput },
    );
    try {
      return await use(session);
    } finally {
      await session.release();
    }
  }

  /** Scores for every row, cached on disk by (model sha256, dataset sha256, columns, score output). */
  async scores(model: FetchedModel, contract: Contract, loaded: LoadedDataset): Promise<Float32Array> {
    const parts = {
      v: EVALUATION_CACHE_VERSION,
      kind: 'scores',
      model: model.sha256,
      dataset: loaded.sha256,
      features: loaded.dataset.featureNames,
      rows: loaded.dataset.rows,
      scoreOutput: contract.scoreOutput ?? null,
    };
    return this.deps.results.float32(parts, () =>
      this.withSession(model, contract, (s) =>
        s.score(loaded.dataset.features, loaded.dataset.rows, loaded.dataset.featureNames.length),
      ),
    );
  }

  /**
   * Both models' holdout scores as sketches for the live skew check: from the scores the gates cached,
   * or scored again (same models by sha256, same rows) on a worker that lacks them.
   */
  async holdoutScores(ref: HoldoutReference): Promise<HoldoutScores> {
    const loaded = await this.dataset(ref.dataset, ref.evaluation, ref.task);
    const candidateModel = await this.fetch(ref.candidate);
    const championModel = await this.fetch(ref.champion);
    const sketch = async (model: FetchedModel, role: string) => {
      const found = sketchScores(await this.scores(model, ref.contract, loaded));
      if (found) return found;
      throw new StatisticUndefinedError(
        'the holdout score sketch',
        `${ref.model} v${model.version} (${role}) scores no holdout row with a finite number`,
        { model: ref.model, version: model.version, role },
      );
    };
    return {
      datasetSha256: loaded.sha256,
      candidate: await sketch(candidateModel, 'candidate'),
      champion: await sketch(championModel, 'champion'),
    };
  }

  async formatGate(input: FormatGateInput): Promise<GateVerdict> {
    const model = await this.fetch(input.candidate);
    const loaded = await this.dataset(input.dataset, input.evaluation, input.task);
    const width = loaded.dataset.featureNames.length;
    const smokeRows = Math.min(32, loaded.dataset.rows);
    const signature = signatureFromPayload(input.signature);
    return checkFormat({
      path: model.onnxPath,
      task: input.task === 'regression' ? 'regression' : 'classification',
      contract: {
        inputs: input.contract.inputs,
        outputs: input.contract.outputs,
        ...(input.contract.maxModelSize === undefined
          ? {}
          : { maxModelSizeBytes: input.contract.maxModelSize }),
        ...(input.contract.scoreOutput === undefined ? {} : { scoreOutput: input.contract.scoreOutput }),
      },
      ...(signature ? { mlflowSignature: signature } : {}),
      features: loaded.dataset.featureNames,
      smoke: loaded.dataset.features.slice(0, smokeRows * width),
    });
  }

  async performanceGate(input: PerformanceGateInput): Promise<GateVerdict> {
    const loaded = await this.dataset(input.dataset, input.evaluation, input.task);
    const candidateModel = await this.fetch(input.candidate);
    const championModel = input.champion ? await this.fetch(input.champion) : undefined;
    const parts = {
      v: EVALUATION_CACHE_VERSION,
      gate: 'performance',
      candidate: candidateModel.sha256,
      champion: championModel?.sha256 ?? null,
      dataset: loaded.sha256,
      checks: input.checks,
      evaluation: input.evaluation,
      task: input.task,
    };
    return this.deps.results.json(parts, async () => {
      const candidate = await this.scores(candidateModel, input.contract, loaded);
      const champion = championModel ? await this.scores(championModel, input.contract, loaded) : undefined;
      return judgePerformance({
        checks: input.checks,
        candidate,
        ...(champion ? { champion } : {}),
        labels: loaded.dataset.labels,
        threshold: input.evaluation.threshold,
        seed: input.evaluation.seed,
        resamples: input.evaluation.bootstrapResamples,
      });
    });
  }

  async fairnessGate(input: FairnessGateInput): Promise<GateVerdict> {
    const loaded = await this.dataset(input.dataset, input.evaluation, input.task);
    const model = await this.fetch(input.candidate);
    // The champion is scored only when a check compares with it.
    const relative = input.gate.checks.some(
      (c) => c.maxDropVsChampion !== undefined || c.maxRiseVsChampion !== undefined,
    );
    const championModel = relative && input.champion ? await this.fetch(input.champion) : undefined;
    const parts = {
      v: EVALUATION_CACHE_VERSION,
      gate: 'fairness',
      candidate: model.sha256,
      champion: championModel?.sha256 ?? null,
      dataset: loaded.sha256,
      config: input.gate,
      evaluation: input.evaluation,
    };
    return this.deps.results.json(parts, async () => {
      const scores = await this.scores(model, input.contract, loaded);
      const champion = championModel ? await this.scores(championModel, input.contract, loaded) : undefined;
      return judgeFairness({
        gate: input.gate,
        scores,
        ...(champion ? { champion } : {}),
        labels: loaded.dataset.labels,
        threshold: input.evaluation.threshold,
        sensitive: loaded.dataset.sensitive,
        seed: input.evaluation.seed,
        resamples: input.evaluation.bootstrapResamples,
      });
    });
  }

  /**
   * Latency is measured, not cached: it describes this worker now. Candidate and champion are
   * measured the same way, in alternating rounds within one activity, so load affects both alike.
   */
  async latencyGate(input: LatencyGateInput): Promise<GateVerdict> {
    const loaded = await this.dataset(input.dataset, input.evaluation, input.task);
    const options = {
      batchSize: input.gate.batchSize,
      warmup: input.gate.warmup,
      iterations: input.gate.iterations,
      rows: loaded.dataset.features,
      nFeatures: loaded.dataset.featureNames.length,
    };
    const candidateModel = await this.fetch(input.candidate);
    const championModel = input.champion ? await this.fetch(input.champion) : undefined;
    const measured = championModel
      ? await this.withSession(candidateModel, input.contract, (cand) =>
          this.withSession(championModel, input.contract, (champ) => measurePair(cand, champ, options)),
        )
      : {
          candidateMs: await this.withSession(candidateModel, input.contract, (s) =>
            measureLatency(s, options),
          ),
        };
    const { candidateMs } = measured;
    const championMs = 'championMs' in measured ? measured.championMs : undefined;
    return judgeLatency({ gate: input.gate, candidateMs, ...(championMs ? { championMs } : {}) });
  }
}
