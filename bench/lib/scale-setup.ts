/**
 * The scale benchmark's world: its own Temporal dev server and MLflow server in a scratch folder, the
 * workflow code bundled once for every worker process, small holdout sets, sample models registered
 * the way `prograde register` does it, and the specs the promotions run with.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMlflowServer, type MlflowServer } from '../../src/devstack/mlflow-server';
import { FAST_SQLITE, startTemporalServer, type TemporalServer } from '../../src/devstack/temporal-server';
import { repoRoot } from '../../src/devstack/tools';
import { MlflowClient } from '../../src/mlflow/client';
import { registerOnnxModel } from '../../src/mlflow/register';
import { sampleDataset, writeDatasetCsv } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import type { PromotionInput } from '../../src/promotion/state';
import { PromotionSpec, type PromotionSpecInput } from '../../src/spec/schema';
import { sampleSpec } from '../../test/support/specs';
import { PAYLOAD_CONVERTER_PATH } from '../../src/worker';

export interface ScaleStack {
  readonly temporalAddress: string;
  readonly mlflowUrl: string;
  readonly mlflow: MlflowClient;
  readonly temporalPid: number;
  readonly mlflowPid: number;
  stop(): Promise<void>;
}

/**
 * The dev server's SQLite settings the benchmark runs with: write-ahead log, synced at checkpoints
 * rather than on every commit (a process killed keeps every commit; a power cut may lose the last
 * ones). SQLite's default syncs on every commit, three per workflow step: `SCALE_TEMPORAL_SQLITE=default`.
 */
export { FAST_SQLITE };

export function scaleSqlitePragmas(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  return env.SCALE_TEMPORAL_SQLITE === 'default' ? [] : FAST_SQLITE;
}

export async function startScaleStack(
  dir: string,
  sqlitePragmas: readonly string[] = scaleSqlitePragmas(),
): Promise<ScaleStack> {
  mkdirSync(join(dir, 'temporal'), { recursive: true });
  mkdirSync(join(dir, 'mlflow'), { recursive: true });
  // Loaded 2-core machines start both in up to half a minute; the defaults are for a quiet one.
  const timeoutMs = 240_000;
  let temporal: TemporalServer | undefined;
  let mlflowServer: MlflowServer | undefined;
  try {
    [temporal, mlflowServer] = await Promise.all([
      startTemporalServer({ dataDir: join(dir, 'temporal'), headless: true, timeoutMs, sqlitePragmas }),
      startMlflowServer({ dataDir: join(dir, 'mlflow'), timeoutMs }),
    ]);
  } catch (e) {
    await Promise.all([temporal?.process.stop(), mlflowServer?.process.stop()]);
    throw e;
  }
  const t = temporal;
  const m = mlflowServer;
  return {
    temporalAddress: t.address,
    mlflowUrl: m.url,
    mlflow: new MlflowClient({ baseUrl: m.url, timeoutMs: 120_000 }),
    temporalPid: t.process.pid,
    mlflowPid: m.process.pid,
    stop: async () => {
      await Promise.all([t.process.stop(), m.process.stop()]);
    },
  };
}

/** The workflow code, bundled once and shared by every worker process (as a deployment ships it). */
export async function writeWorkflowBundle(dir: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(repoRoot, 'src', 'workflows', 'index.ts'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (m: string) => console.error(m),
    },
  });
  const path = join(dir, 'workflow-bundle.js');
  writeFileSync(path, code);
  return path;
}

/** `count` holdout sets of `rows` rows each, different seeds: small datasets, as the issue asks. */
export async function writeHoldouts(dir: string, count: number, rows: number): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `holdout-${i}.csv`);
    await writeDatasetCsv(sampleDataset({ rows, seed: 900 + i }), path);
    paths.push(path);
  }
  return paths;
}

/** Runs `work` over `items` with at most `limit` at once, in order of the items. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * Registers one version of `model` (a `good` sample model with its own seed, so every version has
 * its own bytes and sha256 and no gate result is shared through the worker's cache).
 */
export async function registerVersion(
  mlflow: MlflowClient,
  model: string,
  seed: number,
  alias?: string,
): Promise<string> {
  const registered = await registerOnnxModel(mlflow, {
    name: model,
    onnxBytes: sampleModel('good', { seed }),
    ...(alias ? { alias } : {}),
  });
  return registered.version;
}

/**
 * Offline gates only (no target): the tests' sample spec with looser gates, because the benchmark
 * measures the engine, not whether these models or a loaded machine meet their goals.
 */
export function offlineSpec(model: string, resamples: number): PromotionSpecInput {
  const base = sampleSpec(model);
  return sampleSpec(model, {
    evaluation: { ...base.evaluation, bootstrapResamples: resamples },
    gates: {
      performance: [
        { metric: 'auc', min: 0.7 },
        { metric: 'auc', maxDropVsChampion: 0.05 },
      ],
      fairness: { minGroupSize: 30, checks: [{ metric: 'demographic_parity_ratio', min: 0.7 }] },
      latency: { batchSize: 1, warmup: 5, iterations: 30, p99: '10s', maxRatioVsChampion: 1000 },
    },
    operators: ['bench'],
    approval: { required: false, approvers: ['bench'] },
  });
}

export interface LiveSpecOptions {
  /** Canary weights; each followed by a bake of `bake` unless it is undefined (a zero-bake canary). */
  readonly weights: readonly number[];
  readonly bake?: string;
  readonly interval?: string;
}

/** A live rollout on the gateway at `gatewayUrl`: no shadow, the canary steps given, no retention. */
export function liveSpec(model: string, gatewayUrl: string, o: LiveSpecOptions): PromotionSpecInput {
  const base = offlineSpec(model, 100);
  return {
    ...base,
    gates: { performance: [{ metric: 'auc', min: 0.7 }] },
    canary: {
      steps: o.weights.flatMap((w) =>
        o.bake === undefined ? [{ setWeight: w }] : [{ setWeight: w }, { bake: o.bake }],
      ),
      analysis: {
        interval: o.interval ?? '1s',
        minSamples: 20,
        latency: { alpha: 1e-4 },
        prediction: { ksAlpha: 1e-4 },
        onInconclusive: { extendBy: '3s', maxExtensions: 2, then: 'fail' },
      },
    },
    rollback: { automatic: true, keepPreviousFor: '0s' },
    target: { type: 'gateway', url: gatewayUrl, tokenEnv: 'PROGRADE_GATEWAY_TOKEN' },
  };
}

export function promotionInput(
  specInput: PromotionSpecInput,
  version: string,
  datasetPath: string,
  specDir: string,
): PromotionInput {
  const spec = PromotionSpec.parse(specInput);
  const specFile = join(specDir, `${spec.model}.promotion.yaml`);
  return {
    spec,
    specFile,
    specSha256: 'bench',
    candidateVersion: version,
    dataset: { kind: 'file', path: datasetPath },
    requestedBy: 'bench/scale',
  };
}
