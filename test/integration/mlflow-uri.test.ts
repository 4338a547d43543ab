import { beforeAll, describe, expect, it } from 'vitest';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { MlflowClient } from '../../src/mlflow/client';
import { notOnnxMessage, parseMlmodel, writeOnnxMlmodel } from '../../src/mlflow/mlmodel';
import { registerOnnxModel } from '../../src/mlflow/register';
import {
  formatModelUri,
  parseModelUri,
  resolveArtifactPath,
  resolveModelVersion,
} from '../../src/mlflow/uri';
import { buildLogisticModel } from '../../src/onnx/build';
import { stack } from '../support/stack';
import { uniqueName } from './mlflow-fixtures';

describe('model URIs', () => {
  it.each([
    ['models:/churn/3', { kind: 'version', name: 'churn', version: '3' }],
    ['models:/churn@champion', { kind: 'alias', name: 'churn', alias: 'champion' }],
    [
      'models:/m-1afd9074d58f4c98bf6eb79a088cb1b4',
      { kind: 'logged-model', modelId: 'm-1afd9074d58f4c98bf6eb79a088cb1b4' },
    ],
    [
      'runs:/ec2f9f50ee8b48098a0b42cacdaa18fd/model',
      { kind: 'run', runId: 'ec2f9f50ee8b48098a0b42cacdaa18fd', path: 'model' },
    ],
  ])('parses %s and formats it back', (uri, parsed) => {
    expect(parseModelUri(uri)).toEqual(parsed);
    expect(formatModelUri(parseModelUri(uri))).toBe(uri);
  });

  it.each([
    'models:/churn',
    'models:/churn/latest',
    'models:/churn/0',
    'models:/@x',
    'models:/',
    's3://bucket/model',
    'runs:/abc/../x',
  ])('refuses %s with a message naming the accepted forms', (uri) => {
    expect(() => parseModelUri(uri)).toThrow(
      expect.objectContaining({
        code: expect.stringMatching(/INVALID_INPUT|ARTIFACT_PATH_ESCAPE/) as unknown,
      }),
    );
  });
});

describe('artifact locations', () => {
  it.each([
    ['mlflow-artifacts:/1/models/m-1/artifacts', '1/models/m-1/artifacts'],
    ['mlflow-artifacts://127.0.0.1:5000/1/models/m-1/artifacts', '1/models/m-1/artifacts'],
    ['mlflow-artifacts:/2/a%20b/', '2/a b'],
    ['file:///srv/mlflow/mlartifacts/3/abc/artifacts/model', '3/abc/artifacts/model'],
    ['/srv/mlflow/mlartifacts/3/abc', '3/abc'],
  ])('maps %s to the proxied path %s', (location, path) => {
    expect(proxiedArtifactPath(location)).toBe(path);
  });

  it('refuses locations outside the artifact proxy and paths that climb out of it', () => {
    expect(() => proxiedArtifactPath('s3://bucket/1/model')).toThrow(
      expect.objectContaining({ code: 'MLFLOW_ARTIFACT_URI_UNSUPPORTED' }),
    );
    expect(() => proxiedArtifactPath('/home/ana/model')).toThrow(
      expect.objectContaining({ code: 'MLFLOW_ARTIFACT_URI_UNSUPPORTED' }),
    );
    expect(() => proxiedArtifactPath('mlflow-artifacts:/1/../../etc')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_PATH_ESCAPE' }),
    );
    expect(() => proxiedArtifactPath('mlflow-artifacts:/1/%2e%2e/%2e%2e/etc')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_PATH_ESCAPE' }),
    );
  });
});

describe('MLmodel', () => {
  // As written by mlflow.onnx.log_model 3.17.2 (see test/oracles/log_model.py), signature added.
  const fromPython = `artifact_path: mlflow-artifacts:/2/models/m-1afd/artifacts
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_session_options: null
    onnx_version: 1.23.2
    providers:
    - CUDAExecutionProvider
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.7
mlflow_version: 3.17.2
model_id: m-1afd
model_size_bytes: 399
model_uuid: m-1afd
prompts: null
run_id: ec2f
signature:
  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "X"}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "label"}]'
  params: null
utc_time_created: '2026-11-29 01:54:04.694022'
`;

  it('parses the onnx flavor and a named tensor signature', () => {
    const m = parseMlmodel(fromPython);
    expect(m.onnxData).toBe('model.onnx');
    expect(m.modelId).toBe('m-1afd');
    expect(m.signature).toEqual({
      inputs: { kind: 'tensor', tensors: [{ name: 'X', dtype: 'float32', shape: [-1, 4] }] },
      outputs: { kind: 'tensor', tensors: [{ name: 'label', dtype: 'int64', shape: [-1] }] },
    });
  });

  it('keeps unnamed tensor specs unnamed, as infer_signature on numpy arrays writes them', () => {
    const m = parseMlmodel(
      `flavors: {}\nsignature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]'\n  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "uint16", "shape": [-1, 2]}}]'\n`,
    );
    expect(m.signature).toEqual({
      inputs: { kind: 'tensor', tensors: [{ dtype: 'float64', shape: [-1, 4] }] },
      // A numpy dtype prograde has no name for is kept as written, for the format gate to report.
      outputs: { kind: 'tensor', tensors: [{ dtype: 'uint16', shape: [-1, 2] }] },
    });
  });

  it('parses column-based signatures, inputs and outputs each of their own kind', () => {
    const m = parseMlmodel(
      `flavors: {}\nsignature:\n  inputs: '[{"type": "double", "name": "age", "required": true}, {"type": "long", "name": "n"}]'\n  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'\n`,
    );
    expect(m.signature).toEqual({
      inputs: {
        kind: 'columns',
        columns: [
          { type: 'double', name: 'age' },
          { type: 'long', name: 'n' },
        ],
      },
      outputs: { kind: 'tensor', tensors: [{ dtype: 'int64', shape: [-1] }] },
    });
    expect(m.onnxData).toBeUndefined();
    expect(parseMlmodel(`flavors: {}\nsignature:\n  inputs: '[]'\n`).signature).toBeUndefined();
  });

  it('refuses a schema that mixes tensor and column specs', () => {
    expect(() =>
      parseMlmodel(
        `flavors: {}\nsignature:\n  inputs: '[{"type": "double", "name": "a"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]'\n`,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'MLMODEL_INVALID',
        message: expect.stringMatching(/mixes tensor and column/) as unknown,
      }),
    );
  });

  it('says how to log ONNX when a version was logged with another flavour', () => {
    const sklearn = parseMlmodel(
      'flavors:\n  python_function: {loader_module: mlflow.sklearn}\n  sklearn: {pickled_model: model.pkl, serialization_format: cloudpickle}\n',
    );
    expect(notOnnxMessage(sklearn, 'fraud/3')).toBe(
      'fraud/3 was logged with the sklearn flavor, not ONNX; prograde gates and serves ONNX models only. Convert the model to ONNX (skl2onnx: onx = skl2onnx.to_onnx(model, X[:1].astype(numpy.float32), options={id(model): {\'zipmap\': False}})) and log that with mlflow.onnx.log_model(onx, name="model", registered_model_name=...)',
    );
    const xgboost = parseMlmodel('flavors:\n  xgboost: {data: model.ubj}\n');
    expect(notOnnxMessage(xgboost, 'm/1')).toMatch(
      /xgboost flavor.*onnxmltools\.convert_xgboost.*mlflow\.onnx\.log_model/,
    );
    const custom = parseMlmodel('flavors:\n  python_function: {loader_module: my_loader}\n');
    expect(notOnnxMessage(custom, 'm/1')).toMatch(
      /^m\/1 was logged with only a python_function flavor \(my_loader\), not ONNX/,
    );
  });

  it('refuses a file that is not an MLmodel with MLMODEL_INVALID', () => {
    expect(() => parseMlmodel('flavors: [1, 2]')).toThrow(
      expect.objectContaining({ code: 'MLMODEL_INVALID' }),
    );
    expect(() => parseMlmodel('flavors: {}\nsignature:\n  inputs: "[not json"\n')).toThrow(
      expect.objectContaining({ code: 'MLMODEL_INVALID' }),
    );
    expect(() => parseMlmodel('a: [')).toThrow(expect.objectContaining({ code: 'MLMODEL_INVALID' }));
  });

  it('writes an onnx-flavor MLmodel that parses back to the same signature', () => {
    const yaml = writeOnnxMlmodel({
      modelId: 'm-abc',
      artifactPath: 'mlflow-artifacts:/1/models/m-abc/artifacts',
      signature: {
        inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 3] }],
        outputs: [{ name: 'p', dtype: 'float64', shape: [-1, 1] }],
      },
      createdAt: new Date('2026-01-02T03:04:05.678Z'),
    });
    const m = parseMlmodel(yaml);
    expect(m.raw.flavors.python_function?.loader_module).toBe('mlflow.onnx');
    expect(m.raw.utc_time_created).toBe('2026-01-02 03:04:05.678000');
    expect(m.signature).toEqual({
      inputs: { kind: 'tensor', tensors: [{ name: 'features', dtype: 'float32', shape: [-1, 3] }] },
      outputs: { kind: 'tensor', tensors: [{ name: 'p', dtype: 'float64', shape: [-1, 1] }] },
    });
  });
});

describe('resolving URIs against the registry', () => {
  let client: MlflowClient;
  let name: string;
  let registered: { version: string; modelId: string; artifactUri: string };
  beforeAll(async () => {
    client = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
    name = uniqueName('uri');
    registered = await registerOnnxModel(client, {
      name,
      onnxBytes: buildLogisticModel({ weights: [1, -1], bias: 0 }),
      alias: 'challenger',
    });
  });

  it('resolves version and alias URIs to the registered version', async () => {
    expect((await resolveModelVersion(client, `models:/${name}/${registered.version}`)).version).toBe(
      registered.version,
    );
    const byAlias = await resolveModelVersion(client, `models:/${name}@challenger`);
    expect(byAlias.version).toBe(registered.version);
    expect(byAlias.aliases).toContain('challenger');
  });

  it('resolves version, alias and logged-model URIs to the same artifact folder', async () => {
    const expected = proxiedArtifactPath(registered.artifactUri);
    expect(await resolveArtifactPath(client, `models:/${name}/${registered.version}`)).toBe(expected);
    expect(await resolveArtifactPath(client, `models:/${name}@challenger`)).toBe(expected);
    expect(await resolveArtifactPath(client, `models:/${registered.modelId}`)).toBe(expected);
  });

  it('refuses to resolve a logged-model URI to a registered version', async () => {
    await expect(resolveModelVersion(client, `models:/${registered.modelId}`)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('reports a missing alias as a terminal MLflow error', async () => {
    await expect(resolveModelVersion(client, `models:/${name}@nope`)).rejects.toMatchObject({
      retry: 'terminal',
    });
  });
});
