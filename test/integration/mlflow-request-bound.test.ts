import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient } from '../../src/mlflow/client';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { mlflowConfigFromEnv } from '../../src/mlflow/config';
import { experimentName, recordEvidenceRun } from '../../src/records/run-evidence';
import { evidenceState } from '../support/evidence-state';
import { stack } from '../support/stack';

const SPEC = { seed: 7, bootstrapResamples: 500, decisionThreshold: 0.5 };

const client = (max?: number): MlflowClient =>
  MlflowClient.fromEnv({
    MLFLOW_TRACKING_URI: stack.mlflowUri(),
    ...(max === undefined ? {} : { PROGRADE_MLFLOW_MAX_REQUESTS: String(max) }),
  });

/**
 * Given the real MLflow server, when one client sends many requests at once, then at most its bound
 * is in flight, the rest wait their turn and every one is answered; a download being read does not
 * hold the slot, so a caller that makes another request mid-download does not wait on itself.
 */
describe('MLflow client – a bound on requests in flight, with a queue', () => {
  const model = `bound-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    await client().createRegisteredModel(model);
  });

  it('keeps at most PROGRADE_MLFLOW_MAX_REQUESTS in flight and answers all the others after waiting', async () => {
    const c = client(2);
    expect(c.http.gate.limit).toBe(2);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, c.http.gate.inFlight)), 1);
    try {
      const answers = await Promise.all(
        Array.from({ length: 24 }, () => c.getRegisteredModel(model).then((m) => m.name)),
      );
      expect(answers).toEqual(Array.from({ length: 24 }, () => model));
    } finally {
      clearInterval(watch);
    }
    expect(most).toBeLessThanOrEqual(2);
    expect(c.http.gate.maxWaiting).toBeGreaterThanOrEqual(10);
    expect(c.http.gate.inFlight).toBe(0);
    expect(c.http.gate.queued).toBe(0);
    expect(c.http.gate.sent.get(`GET /api/2.0/mlflow/registered-models/get`)).toBe(24);
  });

  it('frees the slot of a failed request (404) for the next one', async () => {
    const c = client(1);
    const results = await Promise.allSettled([
      c.getRegisteredModel(`${model}-missing`),
      c.getRegisteredModel(model),
      c.getRegisteredModel(`${model}-missing`),
      c.getRegisteredModel(model),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(c.http.gate.inFlight).toBe(0);
  });

  it('does not hold the slot while a download is read: a request made mid-download is answered', async () => {
    const c = client(1);
    const path = `${proxiedArtifactPath(`mlflow-artifacts:/bound/${randomUUID()}`)}/blob.bin`;
    await c.uploadArtifact(path, Buffer.alloc(4 * 1024 * 1024, 7));
    let bytes = 0;
    let answeredMidway: string | undefined;
    for await (const chunk of c.http.stream(`/api/2.0/mlflow-artifacts/artifacts/${path}`)) {
      if (answeredMidway === undefined) answeredMidway = (await c.getRegisteredModel(model)).name;
      bytes += chunk.byteLength;
    }
    expect(answeredMidway).toBe(model);
    expect(bytes).toBe(4 * 1024 * 1024);
  });

  it('refuses a malformed PROGRADE_MLFLOW_MAX_REQUESTS with a config error', () => {
    for (const bad of ['0', '-1', '1.5', 'lots', '1001', '9'.repeat(50)]) {
      expect(() =>
        mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'http://127.0.0.1:1', PROGRADE_MLFLOW_MAX_REQUESTS: bad }),
      ).toThrow(expect.objectContaining({ code: 'MLFLOW_CONFIG_INVALID' }));
    }
    expect(
      mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'http://127.0.0.1:1', PROGRADE_MLFLOW_MAX_REQUESTS: ' 16 ' })
        .maxConcurrentRequests,
    ).toBe(16);
  });
});

/**
 * Given the real MLflow server, when an attempt's evidence is recorded on the activity's first attempt,
 * then params, metrics and nothing else go in one log-batch, no run search is made, and a retry
 * (which searches) finds that run instead of making a second one.
 */
describe('MLflow evidence run – calls per attempt', () => {
  const model = `evidence-calls-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    const c = client();
    await c.createRegisteredModel(model);
    await c.createModelVersion(model, 's3://nowhere/model');
  });

  it('makes no search and one data log-batch on a first attempt; a retry finds the same run', async () => {
    const c = client();
    const input = { state: evidenceState(model, '1'), workflowRunId: randomUUID(), spec: SPEC, attempt: 1 };
    const first = await recordEvidenceRun(c, input, Date.now(), { firstAttempt: true });
    const sent = Object.fromEntries(c.http.gate.sent);
    expect(sent['POST /api/2.0/mlflow/runs/search']).toBeUndefined();
    // One with the params and metrics, one with the outcome tags after the report files.
    expect(sent['POST /api/2.0/mlflow/runs/log-batch']).toBe(2);
    const total = Object.values(sent).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(12);

    const retry = await recordEvidenceRun(c, input, Date.now(), { firstAttempt: false });
    expect(retry).toEqual(first);
    expect(c.http.gate.sent.get('POST /api/2.0/mlflow/runs/search')).toBe(1);
    const experiment = await c.getExperimentByName(experimentName(model));
    expect((await c.searchRuns([experiment.experimentId], {})).items).toHaveLength(1);
    const run = await c.getRun(first.runId);
    expect(run.params['evaluation.seed']).toBe('7');
    expect(run.metrics['performance/auc ge 0.8/ci_lower']).toBe(0.89);
  });
});
