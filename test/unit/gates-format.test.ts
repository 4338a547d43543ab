import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFormat, type CheckFormatInput } from '../../src/gates/format';
import { signatureFromPayload } from '../../src/mlflow/signature';
import { type GateVerdict } from '../../src/promotion/verdict';
import { buildClassifierModel, buildLogisticModel } from '../../src/onnx/build';
import { type TensorSpec } from '../../src/onnx/tensor-spec';
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
      'score output',
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
        inputs: { kind: 'tensor', tensors: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }] },
        outputs: { kind: 'tensor', tensors: [{ name: 'probability', dtype: 'float32', shape: [-1, -1] }] },
      },
    });
    expect(matching.status).toBe('passed');
    expect(check(matching, "mlflow signature input 'features'").status).toBe('passed');
    const stale = await run(sampleModel('good'), {
      mlflowSignature: {
        inputs: { kind: 'tensor', tensors: [{ name: 'features', dtype: 'float32', shape: [-1, 11] }] },
      },
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

/**
 * Given a classifier shaped like skl2onnx's (`X` → `label` int64 [N], `probabilities` [N,2]) and a
 * contract that names those tensors, when the version carries each signature form the MLflow Python
 * client writes, then the gate accepts the ones MLflow itself could call and names the problem in
 * the others.
 */
describe('format gate – MLflow signature forms', () => {
  const weights = [0.8, -0.5, 0.3, 0.1];
  const classifier = buildClassifierModel({ weights, bias: -0.2 });
  const skl2onnxContract = {
    inputs: [{ name: 'X', dtype: 'float32' as const, shape: [-1, 4] }],
    outputs: [
      { name: 'label', dtype: 'int64' as const, shape: [-1] },
      { name: 'probabilities', dtype: 'float32' as const, shape: [-1, 2] },
    ],
  };
  const rows = Float32Array.from({ length: 4 * 16 }, (_, i) => Math.sin(i));
  const features = ['f0', 'f1', 'f2', 'f3'];
  const judge = (
    signature: CheckFormatInput['mlflowSignature'],
    extra: Partial<CheckFormatInput> = {},
  ): Promise<GateVerdict> =>
    checkFormat({
      bytes: classifier,
      contract: skl2onnxContract,
      smoke: rows,
      features,
      ...(signature ? { mlflowSignature: signature } : {}),
      ...extra,
    });
  const tensors = (...t: { name?: string; dtype: string; shape: number[] }[]) => ({
    kind: 'tensor' as const,
    tensors: t,
  });
  const columns = (type: string, names = features) => ({
    kind: 'columns' as const,
    columns: names.map((name) => ({ name, type })),
  });

  it('accepts unnamed tensor specs from infer_signature(X_numpy, proba_numpy), matched by position', async () => {
    const verdict = await judge({
      inputs: tensors({ dtype: 'float32', shape: [-1, 4] }),
      outputs: tensors({ dtype: 'float32', shape: [-1, 2] }),
    });
    expect(failures(verdict)).toEqual([]);
    expect(verdict.status).toBe('passed');
    expect(check(verdict, 'mlflow signature input 0').message).toBe(
      "input 'X' float32 [-1,4] is what the MLflow signature says (float32 [-1,4], matched by position 0)",
    );
    expect(check(verdict, 'mlflow signature outputs').message).toBe(
      "the MLflow signature's outputs are advisory (MLflow does not check them): matches float32 [-1,2] as 'probabilities' float32 [-1,2]",
    );
    expect(verdict.checks.map((c) => c.name).join()).not.toMatch(/inputs_0/);
  });

  it('accepts a float64 signature over a float32 graph, the way MLflow casts the rows', async () => {
    const verdict = await judge({
      inputs: tensors({ dtype: 'float64', shape: [-1, 4] }),
      outputs: tensors({ dtype: 'float64', shape: [-1, 2] }),
    });
    expect(failures(verdict)).toEqual([]);
    expect(check(verdict, 'mlflow signature input 0').message).toMatch(
      /MLflow casts float64 rows to float32 before onnxruntime runs$/,
    );
  });

  it('accepts named tensor specs that name the graph tensors', async () => {
    const verdict = await judge({
      inputs: tensors({ name: 'X', dtype: 'float32', shape: [-1, 4] }),
      outputs: tensors(
        { name: 'label', dtype: 'int64', shape: [-1] },
        { name: 'probabilities', dtype: 'float32', shape: [-1, 2] },
      ),
    });
    expect(failures(verdict)).toEqual([]);
    expect(check(verdict, "mlflow signature input 'X'").status).toBe('passed');
    expect(check(verdict, 'mlflow signature outputs').message).toMatch(
      /matches 'label' by name, 'probabilities' by name$/,
    );
  });

  it('accepts a column-based signature as the columns of the one 2-D input', async () => {
    const verdict = await judge({
      inputs: columns('double'),
      outputs: tensors({ dtype: 'int64', shape: [-1] }),
    });
    expect(failures(verdict)).toEqual([]);
    expect(check(verdict, 'mlflow signature columns').message).toBe(
      "the MLflow signature's 4 double columns are the 4 values per row of input 'X' float32 [-1,4], in signature order",
    );
    expect(check(verdict, 'mlflow signature column order').status).toBe('passed');
    expect(check(verdict, 'mlflow signature outputs').message).toMatch(/matches int64 \[-1\] as 'label'/);
  });

  it('judges by the contract alone when the version has no signature', async () => {
    const verdict = await judge(undefined);
    expect(verdict.status).toBe('passed');
    expect(verdict.checks.filter((c) => c.name.startsWith('mlflow'))).toEqual([]);
  });

  it('scores float64 graphs and reads [N,2] probabilities from column 1', async () => {
    const verdict = await checkFormat({
      bytes: buildClassifierModel({ weights, dtype: 'float64' }),
      contract: {
        inputs: [{ name: 'X', dtype: 'float64', shape: [-1, 4] }],
        outputs: [{ name: 'probabilities', dtype: 'float64', shape: [-1, 2] }],
      },
      mlflowSignature: { inputs: tensors({ dtype: 'float64', shape: [-1, 4] }) },
      smoke: rows,
    });
    expect(failures(verdict)).toEqual([]);
    expect(check(verdict, 'score output').message).toBe(
      "scores are read from 'probabilities' float64 [-1,2] (the first float output): column 1 of [N,2], P(class 1)",
    );
    expect(check(verdict, 'smoke batch')).toMatchObject({ status: 'passed', sampleSize: 16 });
  });

  it('fails a column signature of the wrong width, non-numeric columns, or the features in another order', async () => {
    const wide = await judge({ inputs: columns('double', [...features, 'f4']) });
    expect(check(wide, 'mlflow signature columns').message).toBe(
      "the MLflow signature has 5 columns but input 'X' takes 4 values per row",
    );
    const text = await judge({
      inputs: {
        kind: 'columns',
        columns: [...features.slice(0, 3), 'city'].map((name) => ({
          name,
          type: name === 'city' ? 'string' : 'float',
        })),
      },
    });
    expect(check(text, 'mlflow signature columns').message).toBe(
      "column 'city' (string) is not numeric, and the columns become one float32 tensor",
    );
    const swapped = await judge({ inputs: columns('double', ['f1', 'f0', 'f2', 'f3']) });
    expect(check(swapped, 'mlflow signature column order').message).toBe(
      "the MLflow signature puts column 'f1' at position 0 where evaluation.features has 'f0'; the model would be scored on swapped columns",
    );
    expect(swapped.status).toBe('failed');
  });

  it('fails what MLflow itself could not feed: float32 rows to a float64 graph, a wrong count of unnamed inputs, an unknown name', async () => {
    const narrower = await checkFormat({
      bytes: buildClassifierModel({ weights, dtype: 'float64' }),
      contract: { inputs: [{ name: 'X', dtype: 'float64', shape: [-1, 4] }], outputs: [] },
      mlflowSignature: { inputs: tensors({ dtype: 'float32', shape: [-1, 4] }) },
      smoke: rows,
    });
    expect(check(narrower, 'mlflow signature input 0').message).toBe(
      "input 'X' is float64 but the MLflow signature says float32",
    );
    const two = await judge({
      inputs: tensors({ dtype: 'float32', shape: [-1, 4] }, { dtype: 'float32', shape: [-1, 1] }),
    });
    expect(check(two, 'mlflow signature inputs').message).toBe(
      "the MLflow signature lists 2 unnamed inputs but the model has 1 ('X'); MLflow matches unnamed inputs by position",
    );
    const renamed = await judge({ inputs: tensors({ name: 'features', dtype: 'float32', shape: [-1, 4] }) });
    expect(check(renamed, "mlflow signature input 'features'").message).toBe(
      "the model has no input 'features' (it has 'X'); MLflow feeds named inputs by name",
    );
  });

  it('reads the signature an older worker sent mid-promotion, its `inputs_0` names back to positions', async () => {
    const legacy = signatureFromPayload({
      inputs: [{ name: 'inputs_0', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'outputs_0', dtype: 'float32', shape: [-1, 2] }],
    });
    expect(legacy).toEqual({
      inputs: tensors({ dtype: 'float32', shape: [-1, 4] }),
      outputs: tensors({ dtype: 'float32', shape: [-1, 2] }),
    });
    expect((await judge(legacy)).status).toBe('passed');
    expect(signatureFromPayload(null)).toBeUndefined();
    expect(signatureFromPayload({ inputs: 'garbage' })).toBeUndefined();
  });

  it('holds outputs to the signature only where a named one contradicts the graph', async () => {
    const contradicts = await judge({
      inputs: tensors({ dtype: 'float32', shape: [-1, 4] }),
      outputs: tensors({ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }),
    });
    expect(check(contradicts, 'mlflow signature outputs').message).toBe(
      "output 'probabilities' float32 [-1,2] is not what the MLflow signature says ('probabilities' float32 [-1,3])",
    );
    const elsewhere = await judge({
      inputs: tensors({ dtype: 'float32', shape: [-1, 4] }),
      outputs: { kind: 'columns', columns: [{ name: 'segment', type: 'string' }] },
    });
    expect(check(elsewhere, 'mlflow signature outputs')).toMatchObject({
      status: 'passed',
      message:
        "the MLflow signature's outputs are advisory (MLflow does not check them): 'segment' string [-1] matches no tensor output of the model ('label' int64 [-1], 'probabilities' float32 [-1,2])",
    });
  });
});

describe('format gate – ZipMap and the score output', () => {
  const weights = [0.8, -0.5, 0.3, 0.1];
  const rows = Float32Array.from({ length: 4 * 8 }, (_, i) => Math.cos(i));
  const outputsContract = (outputs: TensorSpec[], scoreOutput?: string) => ({
    inputs: [{ name: 'X', dtype: 'float32' as const, shape: [-1, 4] }],
    outputs,
    ...(scoreOutput ? { scoreOutput } : {}),
  });

  it('refuses a ZipMap classifier and says how to export it without one', async () => {
    const verdict = await checkFormat({
      bytes: buildClassifierModel({ weights, zipMap: 'replace' }),
      contract: outputsContract([{ name: 'probabilities', dtype: 'float32', shape: [-1, 2] }]),
      smoke: rows,
    });
    expect(verdict.status).toBe('failed');
    const contractCheck = check(verdict, "output 'probabilities'").message;
    expect(contractCheck).toMatch(
      /^the model has no output 'probabilities' \(it has 'label', 'output_probability'\); 'output_probability' is a ZipMap output/,
    );
    expect(contractCheck).toContain("options={id(clf): {'zipmap': False}}");
    const labelOnly = await checkFormat({
      bytes: buildClassifierModel({ weights, zipMap: 'replace' }),
      contract: outputsContract([{ name: 'label', dtype: 'int64', shape: [-1] }]),
      smoke: rows,
    });
    expect(check(labelOnly, 'score output').message).toMatch(
      /^the model has no float32\/float64 output to score \(outputs: 'label' int64 \[-1\], 'output_probability' seq\(map\(int64,tensor\(float\)\)\)\); 'output_probability' is a ZipMap output .* zipmap=False/,
    );
    expect(check(labelOnly, 'smoke batch').status).toBe('inconclusive');
  });

  it('scores a model that has a probability tensor beside its ZipMap', async () => {
    const verdict = await checkFormat({
      bytes: buildClassifierModel({ weights, zipMap: 'extra' }),
      contract: outputsContract([{ name: 'probabilities', dtype: 'float32', shape: [-1, 2] }]),
      smoke: rows,
    });
    expect(failures(verdict)).toEqual([]);
    expect(check(verdict, 'smoke batch').message).toBe(
      "all 8 smoke scores from 'probabilities' are finite and within [0,1]",
    );
  });

  it('reads the score from contract.scoreOutput, and refuses one that holds no score', async () => {
    const intScore = await checkFormat({
      bytes: buildClassifierModel({ weights }),
      contract: outputsContract([{ name: 'label', dtype: 'int64', shape: [-1] }], 'label'),
      smoke: rows,
    });
    expect(check(intScore, 'score output').message).toBe(
      "score output 'label' int64 [-1] is not float32/float64; scores are read from a float tensor",
    );
    const absent = await checkFormat({
      bytes: buildClassifierModel({ weights }),
      contract: outputsContract([], 'proba'),
      smoke: rows,
    });
    expect(check(absent, 'score output').message).toBe(
      "score output 'proba' is not an output of the model (outputs: 'label' int64 [-1], 'probabilities' float32 [-1,2])",
    );
    // The missing score output is its own finding, not an onnxruntime failure.
    expect(check(absent, 'onnxruntime loads').status).toBe('passed');
  });

  it('reads a regressor’s [N,1] output as one value per row', async () => {
    const verdict = await checkFormat({
      bytes: buildLogisticModel({ weights, bias: 0, inputName: 'X', outputName: 'variable' }),
      contract: outputsContract([{ name: 'variable', dtype: 'float32', shape: [-1, 1] }]),
      smoke: rows,
      task: 'regression',
    });
    expect(failures(verdict)).toEqual([]);
    expect(check(verdict, 'score output').message).toBe(
      "scores are read from 'variable' float32 [-1,1] (the first float output): one value per row",
    );
  });
});
