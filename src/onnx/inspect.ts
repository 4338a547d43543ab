import { onnx } from 'onnx-proto';
import { ProgradeError, messageOf } from '../errors';
import { dtypeFromOnnxElemType, onnxElemTypeName } from './dtypes';
import { type TensorSpec } from './tensor-spec';

/**
 * Reads what a model declares — IR version, opsets, signature, external data — by decoding the
 * ModelProto directly. This needs no runtime, so a corrupt or too-new model is described precisely
 * before ORT is ever asked to load it.
 */

/** Highest ai.onnx opset onnxruntime-node 1.30 officially supports. */
export const MAX_SUPPORTED_OPSET = 26;

export interface OpsetImport {
  /** '' and 'ai.onnx' both mean the default domain. */
  readonly domain: string;
  readonly version: number;
}

/** A graph input or output prograde cannot express as a TensorSpec (sequence, map, uint16, unknown rank…). */
export interface UnsupportedValue {
  readonly name: string;
  readonly type: string;
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  readonly opsets: readonly OpsetImport[];
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly unsupportedInputs: readonly UnsupportedValue[];
  readonly unsupportedOutputs: readonly UnsupportedValue[];
  /** `producer_name producer_version`, e.g. `skl2onnx 1.17.0`; '' when the model does not say. */
  readonly producer: string;
  /** Relative paths of the external data files the initializers point to, each once. */
  readonly externalDataFiles: readonly string[];
  readonly sizeBytes: number;
}

type Int64 = number | { toNumber(): number };

function toNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

export function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

/** The ai.onnx opset a model imports, or undefined when it imports none. */
export function defaultDomainOpset(info: Pick<OnnxModelInfo, 'opsets'>): number | undefined {
  return info.opsets.find((o) => isDefaultDomain(o.domain))?.version;
}

function describeType(type: onnx.ITypeProto | null | undefined): string {
  if (!type) return 'unknown';
  if (type.tensorType) return `tensor(${onnxElemTypeName(type.tensorType.elemType ?? 0)})`;
  if (type.sequenceType) return `seq(${describeType(type.sequenceType.elemType)})`;
  if (type.mapType) {
    return `map(${onnxElemTypeName(type.mapType.keyType ?? 0)},${describeType(type.mapType.valueType)})`;
  }
  return 'unknown';
}

function toTensorSpec(value: onnx.IValueInfoProto): TensorSpec | UnsupportedValue {
  const name = value.name ?? '';
  const tensorType = value.type?.tensorType;
  const dtype = tensorType ? dtypeFromOnnxElemType(tensorType.elemType ?? 0) : undefined;
  if (!tensorType || !dtype) return { name, type: describeType(value.type) };
  if (!tensorType.shape) return { name, type: `${describeType(value.type)} of unknown rank` };
  // A dim with neither a value nor a parameter is as free as a symbolic one.
  const shape = (tensorType.shape.dim ?? []).map((d) =>
    d.dimValue !== null && d.dimValue !== undefined ? toNumber(d.dimValue) : -1,
  );
  return { name, dtype, shape };
}

function splitValues(values: readonly onnx.IValueInfoProto[]): {
  specs: TensorSpec[];
  unsupported: UnsupportedValue[];
} {
  const specs: TensorSpec[] = [];
  const unsupported: UnsupportedValue[] = [];
  for (const value of values) {
    const spec = toTensorSpec(value);
    if ('dtype' in spec) specs.push(spec);
    else unsupported.push(spec);
  }
  return { specs, unsupported };
}

function externalLocations(tensors: readonly onnx.ITensorProto[]): string[] {
  return tensors
    .filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    .map((t) => t.externalData?.find((entry) => entry.key === 'location')?.value ?? '')
    .filter((location) => location !== '');
}

function corrupt(message: string, sizeBytes: number, cause?: unknown): ProgradeError {
  return new ProgradeError('ONNX_CORRUPT', message, 'terminal', { sizeBytes }, { cause });
}

export function inspectOnnx(bytes: Uint8Array): OnnxModelInfo {
  const sizeBytes = bytes.byteLength;
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw corrupt(
      `the model is corrupt: its ${sizeBytes} bytes are not an ONNX ModelProto (${messageOf(e)})`,
      sizeBytes,
      e,
    );
  }
  const graph = model.graph;
  // Protobuf decodes many byte strings (even an empty one) into a message of defaults.
  if (!graph || toNumber(model.irVersion) <= 0) {
    throw corrupt(
      `the model is corrupt: its ${sizeBytes} bytes decode to a ModelProto without ${graph ? 'an IR version' : 'a graph'}`,
      sizeBytes,
    );
  }

  // Before IR 4, initializers were also listed as graph inputs; they are not inputs a caller feeds.
  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = splitValues((graph.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')));
  const outputs = splitValues(graph.output ?? []);

  const attributeTensors = (graph.node ?? []).flatMap((n) =>
    (n.attribute ?? []).flatMap((a) => [...(a.t ? [a.t] : []), ...(a.tensors ?? [])]),
  );
  const externalDataFiles = [
    ...new Set(externalLocations([...(graph.initializer ?? []), ...attributeTensors])),
  ];

  return {
    irVersion: toNumber(model.irVersion),
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: toNumber(o.version) })),
    inputs: inputs.specs,
    outputs: outputs.specs,
    unsupportedInputs: inputs.unsupported,
    unsupportedOutputs: outputs.unsupported,
    producer: [model.producerName, model.producerVersion].filter((s) => s).join(' '),
    externalDataFiles,
    sizeBytes,
  };
}
