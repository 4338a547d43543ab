import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFormat, type CheckFormatInput } from '../../src/gates/format';
import { type GateVerdict } from '../../src/gates/verdict';
import { buildLogisticModel } from '../../src/onnx/build';
import { sampleDataset, TRUE_BIAS, TRUE_WEIGHTS } from '../../src/samples/datasets';
import { SAMPLE_CONTRACT, sampleModel } from '../../src/samples/models';

const smoke = sampleDataset({ rows: 64, seed: 1 }).features;
const contract = SAMPLE_CONTRACT;

function check(verdict: GateVerdict, name: string): GateVerdict['checks'][number] {
  const found = verdict.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check '${name}' in ${verdict.checks.map((c) => c.name).join(', ')}`);
  return found;
}

function failures(verdict: GateVerdict): string[] {
  return verdict.checks.filter((c) => c.status === 'failed').map((c) => c.message);
}

/** The good model with its Sigmoid replaced by Identity: raw logits, outside [0,1]. */
function logitModel(): Uint8Array {
  const model = onnx.ModelProto.decode(sampleModel('good'));
  const last = model.graph?.node?.at(-1);
  if (last) last.opType = 'Identity';
  return onnx.ModelProto.encode(model).finish();
}

const run = (bytes: Uint8Array, extra: Partial<CheckFormatInput> = {}): Promise<GateVerdict> =>
  checkFormat({ bytes, contract, smoke, ...extra });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prograde-format-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('format gate', () => {
  it('passes a well-formed model that meets the contract and scores the smoke batch in [0,1]', async () => {
    const verdict = await run(sampleModel('good'));
    expect(verdict.gate).toBe('format');
    expect(failures(verdict)).toEqual([]);
    expect(verdict.status).toBe('passed');
    expect(verdict.checks.map((c) => c.name)).toEqual([
      'model decodes',
      'opset <= 26',
      "input 'features'",
      "output 'probability'",
      'onnxruntime loads',
      'smoke batch',
    ]);
    expect(check(verdict, 'smoke batch')).toMatchObject({ value: 0, sampleSize: 64 });
  });

  it('reads the model from a path', async () => {
    const path = join(dir, 'good.onnx');
    await writeFile(path, sampleModel('good'));
    expect((await checkFormat({ path, contract, smoke })).status).toBe('passed');
  });

  it('fails, without throwing, when the model file cannot be read', async () => {
    const verdict = await checkFormat({ path: join(dir, 'absent.onnx'), contract, smoke });
    expect(verdict.status).toBe('failed');
    expect(failures(verdict)[0]).toMatch(/cannot read the model file/);
  });

  it('fails a corrupt model with a verdict that says it is corrupt', async () => {
    const verdict = await run(sampleModel('corrupt'));
    expect(verdict.status).toBe('failed');
    expect(verdict.checks).toHaveLength(1);
    expect(check(verdict, 'model decodes').message).toMatch(/the model is corrupt/);
    expect(verdict.summary).toMatch(/corrupt/);
  });

  it('fails an opset newer than onnxruntime supports, and reports the load failure', async () => {
    const verdict = await run(sampleModel('opset-too-new'));
    expect(check(verdict, 'opset <= 26')).toMatchObject({ status: 'failed', value: 99, threshold: 26 });
    expect(check(verdict, 'opset <= 26').message).toBe(
      'ai.onnx opset 99 is newer than the 26 onnxruntime-node 1.30 supports',
    );
    expect(check(verdict, 'onnxruntime loads')).toMatchObject({ status: 'failed' });
    expect(check(verdict, 'onnxruntime loads').message).toMatch(/Opset 99/);
  });

  it('fails the wrong signature: missing input, extra input, and does not run the smoke batch', async () => {
    const verdict = await run(sampleModel('wrong-signature'));
    expect(verdict.status).toBe('failed');
    expect(check(verdict, "input 'features'").message).toBe(
      "the model has no input 'features' (it has 'input')",
    );
    expect(check(verdict, "input 'input'").message).toBe(
      "the model has an input 'input' that the contract does not list",
    );
    expect(check(verdict, 'smoke batch').status).toBe('inconclusive');
  });

  it('names the input, its shape and the contract shape when the width differs', async () => {
    const verdict = await run(buildLogisticModel({ weights: [...TRUE_WEIGHTS, 0], bias: TRUE_BIAS }));
    expect(check(verdict, "input 'features'").message).toBe(
      "input 'features' has shape [-1,13] but the contract says [-1,12]",
    );
  });

  it('names dtype mismatches', async () => {
    const verdict = await run(
      buildLogisticModel({ weights: TRUE_WEIGHTS, bias: TRUE_BIAS, dtype: 'float64' }),
    );
    expect(check(verdict, "input 'features'").message).toBe(
      "input 'features' has dtype float64 but the contract says float32",
    );
    expect(check(verdict, "output 'probability'").message).toBe(
      "output 'probability' has dtype float64 but the contract says float32",
    );
  });

  it('requires matching rank and fixed dims, while -1 in the contract matches any size', async () => {
    const rank = await run(sampleModel('good'), {
      contract: { ...contract, outputs: [{ name: 'probability', dtype: 'float32', shape: [-1] }] },
    });
    expect(check(rank, "output 'probability'").message).toBe(
      "output 'probability' has shape [-1,1] but the contract says [-1]",
    );
    const fixedBatch = await run(sampleModel('good'), {
      contract: { ...contract, inputs: [{ name: 'features', dtype: 'float32', shape: [32, 12] }] },
    });
    expect(check(fixedBatch, "input 'features'").status).toBe('failed');
    const free = await run(sampleModel('good'), {
      contract: { ...contract, inputs: [{ name: 'features', dtype: 'float32', shape: [-1, -1] }] },
      smokeFeatures: 12,
    });
    expect(free.status).toBe('passed');
  });

  it('fails a model over the size limit and passes one under it', async () => {
    const slow = await run(sampleModel('slow'), { contract: { ...contract, maxModelSizeBytes: 100_000 } });
    expect(check(slow, 'model size <= 100000 bytes')).toMatchObject({ status: 'failed', comparator: '<=' });
    expect(check(slow, 'model size <= 100000 bytes').message).toMatch(
      /^the model is \d+ bytes, over the 100000-byte limit$/,
    );
    const good = await run(sampleModel('good'), { contract: { ...contract, maxModelSizeBytes: 100_000 } });
    expect(check(good, 'model size <= 100000 bytes').status).toBe('passed');
  });

  it('fails the smoke batch when scores are NaN', async () => {
    const rows = sampleDataset({ rows: 2000, seed: 7 }).features;
    const verdict = await run(sampleModel('nan'), { smoke: rows });
    const smokeCheck = check(verdict, 'smoke batch');
    expect(smokeCheck.status).toBe('failed');
    expect(smokeCheck.message).toMatch(/^of 2000 smoke scores from 'probability', \d+ are NaN or infinite$/);
  });

  it('fails scores outside [0,1] for classification but accepts them for regression', async () => {
    const classification = await run(logitModel());
    expect(check(classification, 'smoke batch').message).toMatch(/are outside \[0,1\]/);
    const regression = await run(logitModel(), { task: 'regression' });
    expect(regression.status).toBe('passed');
  });

  it('holds the model against the MLflow signature when one is given', async () => {
    const matching = await run(sampleModel('good'), {
      mlflowSignature: {
        inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }],
        outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, -1] }],
      },
    });
    expect(matching.status).toBe('passed');
    expect(check(matching, "mlflow signature input 'features'").status).toBe('passed');
    const stale = await run(sampleModel('good'), {
      mlflowSignature: { inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 11] }], outputs: [] },
    });
    expect(check(stale, "mlflow signature input 'features'").message).toBe(
      "input 'features' has shape [-1,12] but the MLflow signature says [-1,11]",
    );
  });

  it('refuses a smoke batch whose length is not whole rows', async () => {
    await expect(run(sampleModel('good'), { smoke: new Float32Array(13) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});
