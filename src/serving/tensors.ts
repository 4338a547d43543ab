import type { NumericDtype, WireTensor } from './worker/messages';

/** Typed data of one tensor, as the worker and ORT take it. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** A tensor in the gateway: rows along the first dimension. */
export interface Tensor {
  readonly name: string;
  readonly dtype: NumericDtype;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** Open Inference Protocol v2 datatype names of the dtypes the gateway serves. */
export const V2_DATATYPE: Readonly<Record<NumericDtype, string>> = {
  float32: 'FP32',
  float64: 'FP64',
  int32: 'INT32',
  int64: 'INT64',
};

/** Whether a view spans its whole buffer, so the buffer itself can stand for it (no copy). */
export function spansBuffer(view: ArrayBufferView): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/** A buffer holding exactly the view's bytes: its own when it spans it, else a copy of its range. */
export function ownedBuffer(view: ArrayBufferView): ArrayBuffer {
  return (
    spansBuffer(view) ? view.buffer : view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)
  ) as ArrayBuffer;
}

export function allocate(dtype: NumericDtype, length: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
  }
}

export function fromNumbers(dtype: NumericDtype, values: readonly number[]): TensorData {
  if (dtype === 'int64') return BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)));
  const out = allocate(dtype, values.length) as Float32Array | Float64Array | Int32Array;
  out.set(values);
  return out;
}

/**
 * The values as a plain array. A loop rather than `Array.from`, which walks a typed array through its
 * iterator (an object per element: 9 MB per 3 s of 100-row answers in a heap profile).
 */
export function toNumbers(data: TensorData): number[] {
  const out: number[] = [];
  if (data instanceof BigInt64Array) for (let i = 0; i < data.length; i++) out.push(Number(data[i]));
  else for (let i = 0; i < data.length; i++) out.push(data[i] as number);
  return out;
}

export function fromWire(w: WireTensor): Tensor {
  const data =
    w.dtype === 'float32'
      ? new Float32Array(w.buffer)
      : w.dtype === 'float64'
        ? new Float64Array(w.buffer)
        : w.dtype === 'int32'
          ? new Int32Array(w.buffer)
          : new BigInt64Array(w.buffer);
  return { name: w.name, dtype: w.dtype, dims: w.dims, data };
}

/** Elements per row: the product of every dimension after the first. */
export function rowWidth(dims: readonly number[]): number {
  return dims.slice(1).reduce((a, b) => a * b, 1);
}

export function isFloating(dtype: NumericDtype): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** Nests a flat row-major array into the shape `dims` (for JSON responses that mirror the tensor). */
export function nest(flat: readonly number[], dims: readonly number[]): unknown {
  if (dims.length <= 1) return flat;
  const [, ...rest] = dims;
  const width = rowWidth(dims);
  const rows: unknown[] = [];
  for (let i = 0; i * width < flat.length; i++) rows.push(nest(flat.slice(i * width, (i + 1) * width), rest));
  return rows;
}
