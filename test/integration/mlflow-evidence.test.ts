import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient } from '../../src/mlflow/client';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import {
  experimentName,
  recordEvidenceRun,
  RUN_TAG,
  VERSION_RUN_TAG,
  VERSION_RUN_URL_TAG,
} from '../../src/records/run-evidence';
import { evidenceState, HOSTILE } from '../support/evidence-state';
import { stack } from '../support/stack';

const SPEC = { seed: 7, bootstrapResamples: 500, decisionThreshold: 0.5 };

/**
 * Given the real MLflow server, when an attempt's evidence is recorded (and recorded again, as a
 * retried activity would), then there is one run in `prograde/<model>` with the params, the metrics
 * (canary checks as step metrics) and the three report files, linked from the version and back.
 */
describe('MLflow evidence run – one run per attempt, linked both ways, idempotent', () => {
  let client: MlflowClient;
  const model = `evidence-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    client = MlflowClient.fromEnv({ MLFLOW_TRACKING_URI: stack.mlflowUri() });
    await client.createRegisteredModel(model);
    // Never downloaded: only the version's tags matter here.
    await client.createModelVersion(model, 's3://nowhere/model');
  });

  it('logs params, gate metrics, canary step metrics and report files, once however often it runs', async () => {
    const state = evidenceState(model, '1');
    const input = { state, workflowRunId: randomUUID(), spec: SPEC, attempt: 1 };
    const first = await recordEvidenceRun(client, input);
    const again = await recordEvidenceRun(client, input);
    expect(again).toEqual(first);

    const experiment = await client.getExperimentByName(experimentName(model));
    const runs = await client.searchRuns([experiment.experimentId], {});
    expect(runs.items).toHaveLength(1);
    const run = await client.getRun(first.runId);
    expect(run.status).toBe('FAILED');
    expect(run.tags[RUN_TAG.model]).toBe(model);
    expect(run.tags[RUN_TAG.version]).toBe('1');
    expect(run.tags[RUN_TAG.outcome]).toBe('rolled-back');
    expect(run.params['spec.sha256']).toBe('f'.repeat(64));
    expect(run.params['evaluation.seed']).toBe('7');
    expect(run.metrics['performance/auc ge 0.8/ci_lower']).toBe(0.89);

    const canary = await client.getMetricHistory(first.runId, 'canary/error rate increase/value');
    expect(canary.map((m) => [m.step, m.value])).toEqual([
      [0, 0.002],
      [1, 0.09],
    ]);

    const version = await client.getModelVersion(model, '1');
    expect(version.tags[VERSION_RUN_TAG]).toBe(first.runId);
    expect(version.tags[VERSION_RUN_URL_TAG]).toBe(first.url);
    expect(first.url).toContain(`#/experiments/${experiment.experimentId}/runs/${first.runId}`);

    const dir = proxiedArtifactPath(run.artifactUri);
    const names = (await client.listArtifacts(dir)).map((f) => f.path).sort();
    expect(names).toEqual(['report.html', 'report.json', 'report.md']);
    const html = (await client.downloadArtifact(`${dir}/report.html`)).toString();
    expect(html).toContain('class="timeline-chart"');
    expect(html).not.toContain(HOSTILE);
    const json: unknown = JSON.parse((await client.downloadArtifact(`${dir}/report.json`)).toString());
    expect(json).toMatchObject({ model, candidateVersion: '1', outcome: 'rolled-back' });
  });

  it('gives a second attempt its own run, and the version then names the newer one', async () => {
    const state = evidenceState(model, '1', { outcome: 'promoted' });
    const second = await recordEvidenceRun(client, {
      state,
      workflowRunId: randomUUID(),
      spec: SPEC,
      attempt: 2,
    });
    const experiment = await client.getExperimentByName(experimentName(model));
    expect((await client.searchRuns([experiment.experimentId], {})).items).toHaveLength(2);
    expect((await client.getRun(second.runId)).status).toBe('FINISHED');
    expect((await client.getModelVersion(model, '1')).tags[VERSION_RUN_TAG]).toBe(second.runId);
  });
});
