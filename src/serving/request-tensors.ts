import type { TensorSpec } from '../onnx/tensor-spec';
import { parseInvocation } from './codecs/invocations';
import { parseV2 } from './codecs/oip-v2';
import {
  bad,
  shapeText,
  type GivenInput,
  type GivenRequest,
  type GivenValues,
  type ParseLimits,
} from './codecs/given';
import { quoted } from './http-util';
import { V2_DATATYPE, allocate, type Tensor } from './tensors';
import type { ModelSignature, NumericDtype } from './worker/messages';

/**
 * Turns request bodies (Open Inference Protocol v2, MLflow scoring) into tensors checked against a
 * model's signature, in two steps:
 * - `parseRequest` reads the JSON into numbers and shapes. It needs no signature, so it can run on a
 *   parse thread for big bodies, and it enforces the row limit.
 * - `checkRequest` fits those to the signature of the version the request was routed to: names,
 *   datatypes, shapes, and values that the input's dtype can hold (a float32 input refuses ±1e39,
 *   an int32 input 2^31, every input refuses non-finite numbers such as 1e309).
 * Every refusal is a 400 (413 for too many rows) naming the tensor and what was expected.
 */

export type { GivenInput, GivenRequest, ParseLimits } from './codecs/given';
export { parseInvocation } from './codecs/invocations';
export { V2InferRequest, parseV2 } from './codecs/oip-v2';

export interface CheckedRequest {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
}

export function parseRequest(kind: 'v2' | 'mlflow', body: unknown, limits: ParseLimits): GivenRequest {
  return kind === 'v2' ? parseV2(body, limits) : parseInvocation(body, limits);
}

/** Largest float32, 3.4028234663852886e38: a float32 input refuses anything larger in magnitude. */
export const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Index of the first value the dtype cannot hold, or -1. */
function firstUnfit(dtype: NumericDtype, values: GivenValues): number {
  const n = values.length;
  switch (dtype) {
    case 'float64':
      for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) return i;
      return -1;
    case 'float32':
      for (let i = 0; i < n; i++) {
        const v = values[i] as number;
        if (!(v >= -FLOAT32_MAX && v <= FLOAT32_MAX)) return i;
      }
      return -1;
    case 'int32':
      for (let i = 0; i < n; i++) {
        const v = values[i] as number;
        if (!(Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX)) return i;
      }
      return -1;
    case 'int64':
      for (let i = 0; i < n; i++) if (!Number.isSafeInteger(values[i])) return i;
      return -1;
  }
}

function unfitMessage(spec: TensorSpec, dtype: NumericDtype, index: number, value: number): string {
  const expected = {
    float64: 'finite FP64 numbers',
    float32: `finite FP32 numbers (|v| ≤ ${FLOAT32_MAX})`,
    int32: `INT32 integers (${INT32_MIN} to ${INT32_MAX})`,
    // JSON numbers past 2^53 have already lost their low digits: refused rather than rounded.
    int64: `INT64 integers (|n| ≤ ${Number.MAX_SAFE_INTEGER} in JSON)`,
  }[dtype];
  return `input '${spec.name}': expected ${expected}, element ${index} is ${value}`;
}

function toTensorData(dtype: NumericDtype, values: GivenValues): Tensor['data'] {
  if (dtype === 'int64') return BigInt64Array.from(values, (v) => BigInt(v));
  if (dtype === 'float64') return values instanceof Float64Array ? values : Float64Array.from(values);
  const out = allocate(dtype, values.length) as Float32Array | Int32Array;
  out.set(values);
  return out;
}

/**
 * `request` checked against whichever signature the request is routed to (the data plane's `parse`).
 * The check is returned, never assigned to a name: run through tsx (a clone, the container image),
 * esbuild gives every named function expression its name at run time, and that `__name` call on a
 * closure made per request cost ~2 µs of a 1-row request in the gateway's CPU profile.
 */
export function checkerFor(request: GivenRequest): (signature: ModelSignature) => CheckedRequest {
  return (signature) => checkRequest(signature, request);
}

/** Matches given inputs to the signature (by name; an unnamed input is the model's sole input). */
export function checkRequest(signature: ModelSignature, request: GivenRequest): CheckedRequest {
  if (request.exact && signature.inputs.some((s) => s.dtype !== 'float32'))
    return checkRequest(signature, request.exact.read());
  const expectedNames = signature.inputs.map((s) => `'${s.name}'`).join(', ');
  const only = signature.inputs[0];
  const given = request.inputs.map((g): GivenInput & { name: string } => {
    if (g.name !== undefined) return { ...g, name: g.name };
    if (signature.inputs.length !== 1 || !only)
      throw bad(`'${request.format}' needs named inputs: the model takes ${expectedNames}`);
    return { ...g, name: only.name };
  });
  const unknownOutput = request.outputs?.find((n) => !signature.outputs.some((o) => o.name === n));
  if (unknownOutput !== undefined)
    throw bad(
      `unknown output ${quoted(unknownOutput)}; the model returns ${signature.outputs.map((o) => `'${o.name}'`).join(', ')}`,
    );
  for (const g of given) {
    if (!signature.inputs.some((s) => s.name === g.name))
      throw bad(`unknown input ${quoted(g.name)}; the model takes ${expectedNames}`, {
        input: g.name.slice(0, 64),
      });
  }
  let rows: number | undefined;
  const inputs = signature.inputs.map((spec): Tensor => {
    const matches = given.filter((g) => g.name === spec.name);
    if (matches.length === 0)
      throw bad(`missing input '${spec.name}'; the model takes ${expectedNames}`, { input: spec.name });
    if (matches.length > 1)
      throw bad(`input '${spec.name}' is given ${matches.length} times`, { input: spec.name });
    const g = matches[0] as GivenInput;
    const dtype = spec.dtype as NumericDtype;
    const expectedType = V2_DATATYPE[dtype];
    if (g.datatype !== undefined && g.datatype !== expectedType) {
      throw bad(`input '${spec.name}': expected datatype ${expectedType}, got ${g.datatype}`, {
        input: spec.name,
        expected: expectedType,
        given: g.datatype.slice(0, 32),
      });
    }
    const fits =
      g.shape.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === g.shape[i]);
    if (!fits || spec.shape.length === 0) {
      throw bad(`input '${spec.name}': expected shape ${shapeText(spec.shape)}, got ${shapeText(g.shape)}`, {
        input: spec.name,
        expected: spec.shape,
        given: g.shape,
      });
    }
    const size = g.shape.reduce((a, b) => a * b, 1);
    if (g.values.length !== size)
      throw bad(
        `input '${spec.name}': shape ${shapeText(g.shape)} needs ${size} values, got ${g.values.length}`,
        { input: spec.name },
      );
    const n = g.shape[0] as number;
    if (n < 1) throw bad(`input '${spec.name}': no rows`, { input: spec.name });
    if (rows !== undefined && rows !== n)
      throw bad(`inputs disagree on the number of rows (${rows} vs ${n} for '${spec.name}')`);
    rows = n;
    const unfit = firstUnfit(dtype, g.values);
    if (unfit >= 0)
      throw bad(unfitMessage(spec, dtype, unfit, g.values[unfit] as number), {
        input: spec.name,
        element: unfit,
      });
    return { name: spec.name, dtype, dims: [...g.shape], data: toTensorData(dtype, g.values) };
  });
  return { inputs, rows: rows ?? 0 };
}

/** v2 body already parsed → tensors for `signature`. */
export const checkV2 = checkRequest;

/** MLflow scoring body → tensors for `signature` in one step (for tests and tools). */
export function checkInvocation(signature: ModelSignature, body: unknown): CheckedRequest {
  return checkRequest(signature, parseInvocation(body));
}
