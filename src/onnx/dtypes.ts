import { onnx } from 'onnx-proto';
import { TensorDtype } from './tensor-spec';

const DataType = onnx.TensorProto.DataType;

/** ONNX `TensorProto.DataType` → prograde dtype; types prograde does not model are absent. */
const FROM_ONNX_ELEM: ReadonlyMap<number, TensorDtype> = new Map<number, TensorDtype>([
  [DataType.FLOAT, 'float32'],
  [DataType.DOUBLE, 'float64'],
  [DataType.INT32, 'int32'],
  [DataType.INT64, 'int64'],
  [DataType.BOOL, 'bool'],
  [DataType.STRING, 'string'],
  [DataType.FLOAT16, 'float16'],
  [DataType.INT8, 'int8'],
  [DataType.UINT8, 'uint8'],
]);

export function dtypeFromOnnxElemType(elemType: number): TensorDtype | undefined {
  return FROM_ONNX_ELEM.get(elemType);
}

/** A readable name for any ONNX element type, for messages about unsupported ones. */
export function onnxElemTypeName(elemType: number): string {
  return DataType[elemType]?.toLowerCase() ?? `elem_type_${elemType}`;
}

/** ORT's `Tensor.Type` strings already use prograde's names for the types both know. */
const ORT_NAMES: ReadonlySet<string> = new Set<string>(TensorDtype.options);

export function dtypeFromOrtType(type: string): TensorDtype | undefined {
  return ORT_NAMES.has(type) ? (type as TensorDtype) : undefined;
}
