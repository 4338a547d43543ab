import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { promotionStatus, startPromotion } from '../../src/client/promotions';
import { readDatasetCsv } from '../../src/dataset/csv';
import type { Dataset } from '../../src/dataset/dataset';
import { repoRoot } from '../../src/devstack/tools';
import type { GateVerdict } from '../../src/promotion/verdict';
import type { GatewayHandle } from '../../src/serving/server';
import type { PromotionSpecInput } from '../../src/spec/schema';
import type { Harness } from '../support/harness';
import { adminOf, backgroundTraffic, startWorkerAndGateway, stopWorkerAndGateway } from '../support/live';
import { stack } from '../support/stack';
import { runOracle, uniqueName } from './mlflow-fixtures';

/**
 * Drift judged against the right reference, with models a training job makes: test/oracles/drift_models.py
 * trains them in the test venv with scikit-learn, converts them with skl2onnx and logs them with
 * mlflow.onnx.log_model, on card transactions whose fraud rules trees find and a linear model does not.
 *
 * - A gradient-boosting candidate replacing a regularised logistic regression is promoted with the
 *   example spec's own defaults (examples/promotion.yaml): it scores differently from the champion
 *   (that is what makes it better), and like its own holdout scores.
 * - A candidate that relies on account age, which live traffic sends in days instead of years, is
 *   rolled back in shadow by the train/serve skew check, while the champion, which ignores that
 *   feature, keeps serving every request as before.
 */

const Pair = z.object({
  model: z.string(),
  champion: z.string(),
  candidate: z.string(),
  auc: z.object({ champion: z.number(), candidate: z.number() }),
});
const Logged = z.object({
  better: Pair,
  skew: Pair.extend({
    feature: z.string(),
    uses: z.object({ championWeight: z.number(), candidateImportance: z.number() }),
  }),
});

const FEATURES = Array.from({ length: 12 }, (_, i) => `f${i}`);
const AGE_COLUMN = 2;

/** The example spec as a user copies it, with only what names this model, its data and its target changed. */
function exampleSpec(model: string, gatewayUrl: string): PromotionSpecInput {
  const example = parse(
    readFileSync(join(repoRoot, 'examples', 'promotion.yaml'), 'utf8'),
  ) as PromotionSpecInput;
  return {
    ...example,
    model,
    // skl2onnx's classifier outputs (zipmap off): the label and both class probabilities.
    contract: {
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }],
      outputs: [
        { name: 'label', dtype: 'int64', shape: [-1] },
        { name: 'probabilities', dtype: 'float32', shape: [-1, 2] },
      ],
      scoreOutput: 'probabilities',
      ...(example.contract.maxModelSize !== undefined ? { maxModelSize: example.contract.maxModelSize } : {}),
    },
    gates: {
      ...example.gates,
      // The absolute p99 describes the machine, not the model: a loaded 2-core CI machine can take
      // seconds. The candidate/champion latency ratio stays the example's.
      ...(example.gates?.latency ? { latency: { ...example.gates.latency, p99: '5s' } } : {}),
    },
    // The example keeps the old champion loaded for an hour after promotion (the run stays open
    // meanwhile); a test needs its result now.
    rollback: { ...example.rollback, keepPreviousFor: '2s' },
    target: { type: 'gateway', url: gatewayUrl, tokenEnv: 'PROGRADE_GATEWAY_TOKEN' },
  };
}

/** The live rows with account age (years) sent in days, as a caller that changed its units would. */
function inDays(live: Dataset): Dataset {
  const features = Float32Array.from(live.features);
  for (let r = 0; r < live.rows; r++) {
    const i = r * live.featureNames.length + AGE_COLUMN;
    features[i] = (features[i] as number) * 365;
  }
  return { ...live, features };
}

const checkOf = (gate: GateVerdict | undefined, name: string) => gate?.checks.find((c) => c.name === name);

describe('drift against the right reference – models trained with scikit-learn and logged with MLflow', () => {
  let h: Harness;
  let gateway: GatewayHandle;
  let logged: z.infer<typeof Logged>;
  let dir: string;
  let live: Dataset;

  beforeAll(async () => {
    ({ h, gateway } = await startWorkerAndGateway());
    dir = join(h.dir, 'drift');
    logged = Logged.parse(await runOracle('drift_models.py', [uniqueName('drift'), dir], stack.mlflowUri()));
    live = await readDatasetCsv(join(dir, 'live.csv'), {
      label: 'is_fraud',
      features: FEATURES,
      sensitive: ['gender'],
      task: 'classification',
    });
    const admin = adminOf(gateway);
    for (const pair of [logged.better, logged.skew])
      await admin.putRouting(pair.model, { generation: 1, stable: { version: pair.champion } }, 'test setup');
  }, 300_000);

  afterAll(() => stopWorkerAndGateway(h, gateway));

  it('promotes gradient boosting replacing a logistic regression with the example spec’s defaults', async () => {
    const { model, champion, candidate, auc } = logged.better;
    // Genuinely better offline, on the same holdout.
    expect(auc.candidate - auc.champion).toBeGreaterThan(0.03);
    const traffic = backgroundTraffic(gateway, model, live);
    const { handle } = await startPromotion(
      h.client,
      h.input(exampleSpec(model, gateway.url), candidate, { kind: 'file', path: join(dir, 'holdout.csv') }),
      h.taskQueue,
    );
    const progress = setInterval(() => {
      promotionStatus(handle).then(
        (s) =>
          console.log(
            `[drift] ${s.phase}: ${s.waitingFor ?? ''} ${s.gates.map((g) => `${g.gate}:${g.status}`).join(',')}`,
          ),
        () => undefined,
      );
    }, 15_000);
    const final = await handle.result().finally(() => clearInterval(progress));
    const summary = await traffic.stop();

    const lines = final.gates.flatMap((g) =>
      g.checks.map((c) => `${g.gate} ${c.name}: ${c.status}: ${c.message}`),
    );
    expect(final.outcome, `${final.reason}\n${lines.join('\n')}`).toBe('promoted');
    const shadow = final.gates.find((g) => g.gate === 'shadow');
    const skew = checkOf(shadow, 'train/serve skew');
    expect(skew?.status, skew?.message).toBe('passed');
    // Each model compared with its own holdout scores, not with the other model.
    expect(skew?.metric).toMatch(/candidate holdout scores.*champion holdout scores/);
    expect(skew?.evidence?.['psiCandidateVsOwnHoldout']).toBeLessThan(0.25);
    expect(checkOf(shadow, 'agreement')?.status).toBe('passed');
    // No check of the default spec holds it against the champion's score distribution.
    expect(checkOf(shadow, 'score psi')).toBeUndefined();
    expect(summary.errors).toBe(0);
    const routing = await adminOf(gateway).getRouting(model);
    expect(routing?.spec.stable.version).toBe(candidate);
    expect((await h.mlflow.getModelVersion(model, candidate)).aliases).toContain('champion');
    expect(champion).not.toBe(candidate);
  }, 420_000);

  it('rolls back in shadow a candidate whose feature live traffic sends rescaled, and the champion that ignores it serves on undisturbed', async () => {
    const { model, champion, candidate, feature, uses } = logged.skew;
    expect(feature).toBe(FEATURES[AGE_COLUMN]);
    expect(uses.championWeight).toBe(0);
    expect(uses.candidateImportance).toBeGreaterThan(0.1);
    const traffic = backgroundTraffic(gateway, model, inDays(live));
    const { handle } = await startPromotion(
      h.client,
      h.input(exampleSpec(model, gateway.url), candidate, { kind: 'file', path: join(dir, 'holdout.csv') }),
      h.taskQueue,
    );
    const final = await handle.result();
    const summary = await traffic.stop();

    const lines = final.gates.flatMap((g) =>
      g.checks.map((c) => `${g.gate} ${c.name}: ${c.status}: ${c.message}`),
    );
    expect(final.outcome, `${final.reason}\n${lines.join('\n')}`).toBe('rolled-back');
    // Offline it was fine: the holdout has account age in years.
    expect(final.gates.find((g) => g.gate === 'performance')?.status).toBe('passed');
    const shadow = final.gates.find((g) => g.gate === 'shadow');
    expect(shadow?.status).toBe('failed');
    expect(final.gates.some((g) => g.gate === 'canary')).toBe(false);
    const skew = checkOf(shadow, 'train/serve skew');
    expect(skew?.status, lines.join('\n')).toBe('failed');
    expect(skew?.message).toMatch(/candidate moved and the population did not/);
    // The champion's live scores look like its holdout scores: the population did not move.
    expect(skew?.evidence?.['psiChampionVsOwnHoldout']).toBeLessThan(0.1);
    expect(skew?.evidence?.['psiCandidateVsOwnHoldout']).toBeGreaterThan(0.25);

    // Undisturbed: every request answered, all by the champion, which still holds the alias and the routing.
    expect(summary.errors).toBe(0);
    expect(Object.keys(summary.byVersion)).toEqual([champion]);
    const routing = await adminOf(gateway).getRouting(model);
    expect(routing?.spec.stable.version).toBe(champion);
    expect(routing?.spec.shadow).toBeUndefined();
    expect((await h.mlflow.getModelVersion(model, champion)).aliases).toContain('champion');
    expect((await h.mlflow.getModelVersion(model, candidate)).aliases).not.toContain('champion');
  }, 420_000);
});
