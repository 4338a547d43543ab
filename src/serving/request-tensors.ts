import { z } from 'zod';
import type { TensorSpec } from '../onnx/tensor-spec';
import { HttpError, quoted } from './http-util';
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

/** One input as given by a request, before it is checked against the signature. */
export interface GivenInput {
  /** Undefined for a body that names no input (e.g. `dataframe_split`): the model's sole input. */
  readonly name?: string | undefined;
  /** v2 datatype when the protocol carries one (MLflow bodies do not: numbers take the model's dtype). */
  readonly datatype?: string | undefined;
  readonly shape: readonly number[];
  readonly values: Float64Array;
}

/** A parsed request body: the inputs plus, for v2, the request id and the outputs asked for. */
export interface GivenRequest {
  readonly kind: 'v2' | 'mlflow';
  /** MLflow body format (`inputs`, `instances`, …) or `v2`. */
  readonly format: string;
  readonly inputs: readonly GivenInput[];
  readonly id?: string | undefined;
  readonly outputs?: readonly string[] | undefined;
}

export interface CheckedRequest {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
}

export interface ParseLimits {
  readonly maxRows: number;
}

const NO_LIMITS: ParseLimits = { maxRows: Number.POSITIVE_INFINITY };

const bad = (message: string, details: Record<string, unknown> = {}): HttpError =>
  new HttpError(400, 'SERVING_REQUEST_INVALID', message, details);

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function leaf(value: unknown, where: string, out: number[]): void {
  if (typeof value === 'number') out.push(value);
  else if (typeof value === 'boolean') out.push(value ? 1 : 0);
  else throw bad(`${where}: data must be numbers, found ${value === null ? 'null' : typeof value}`);
}

/** Flattens nested arrays of numbers row-major whatever their nesting (v2 `data` with an explicit shape). */
function flattenAny(value: unknown, where: string, out: number[]): void {
  if (Array.isArray(value)) for (const item of value) flattenAny(item, where, out);
  else leaf(value, where, out);
}

/** Shape of a nested array as found, for messages; no checks. */
function looseShape(value: unknown): number[] {
  const shape: number[] = [];
  for (let cur = value; Array.isArray(cur); cur = cur[0] as unknown) {
    shape.push(cur.length);
    if (cur.length === 0) break;
  }
  return shape;
}

/** Shape and row-major values of a regular nested array; throws if it is ragged. */
function readNested(value: unknown, where: string): { shape: number[]; values: number[] } {
  const shape = looseShape(value);
  const values: number[] = [];
  const ragged = (v: unknown, depth: number): HttpError =>
    bad(
      `${where}: rows have different lengths (${shapeText(shape.slice(depth))} vs ${shapeText(looseShape(v))})`,
    );
  const visit = (v: unknown, depth: number): void => {
    if (depth < shape.length) {
      if (!Array.isArray(v) || v.length !== shape[depth]) throw ragged(v, depth);
      for (const item of v) visit(item, depth + 1);
      return;
    }
    if (Array.isArray(v)) throw ragged(v, depth);
    leaf(v, where, values);
  };
  if (shape.length === 0) leaf(value, where, values);
  else for (const item of value as unknown[]) visit(item, 1);
  return { shape, values };
}

function checkRowCount(rows: number, limits: ParseLimits): void {
  if (rows > limits.maxRows)
    throw new HttpError(
      413,
      'SERVING_TOO_MANY_ROWS',
      `${rows} rows in one request exceed the limit of ${limits.maxRows}; split the request`,
      { rows, limit: limits.maxRows },
    );
}

const V2Input = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().min(0)).max(32),
  datatype: z.string().min(1).max(32),
  data: z.unknown(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

export const V2InferRequest = z.object({
  id: z.string().max(256).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(V2Input).min(1).max(64),
  outputs: z
    .array(z.object({ name: z.string().min(1).max(256) }))
    .max(64)
    .optional(),
});
export type V2InferRequest = z.infer<typeof V2InferRequest>;

export function parseV2(body: unknown, limits: ParseLimits = NO_LIMITS): GivenRequest {
  const parsed = V2InferRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(
      `invalid v2 inference request at ${issue ? issue.path.join('.') || '(root)' : '(root)'}: ${issue?.message ?? 'malformed'}`,
    );
  }
  const inputs = parsed.data.inputs.map((i): GivenInput => {
    const values: number[] = [];
    // Rows are checked before the data is read: a huge claimed shape is refused without work.
    checkRowCount(i.shape[0] ?? 0, limits);
    flattenAny(i.data, `input ${quoted(i.name)}`, values);
    return { name: i.name, datatype: i.datatype, shape: i.shape, values: Float64Array.from(values) };
  });
  return {
    kind: 'v2',
    format: 'v2',
    inputs,
    id: parsed.data.id,
    outputs: parsed.data.outputs?.map((o) => o.name),
  };
}

const MLFLOW_FORMATS = ['inputs', 'instances', 'dataframe_split', 'dataframe_records'] as const;

const DataframeSplit = z.object({
  columns: z.array(z.unknown()).optional(),
  index: z.array(z.unknown()).optional(),
  data: z.array(z.array(z.unknown())),
});

function nestedInput(name: string | undefined, value: unknown, format: string): GivenInput {
  const where = name !== undefined ? `input ${quoted(name)}` : `'${format}'`;
  const { shape, values } = readNested(value, where);
  return { name, shape, values: Float64Array.from(values) };
}

/** Rows of records as a 2-D table, columns in the key order of the first record. */
function recordsToRows(records: readonly unknown[], format: string): unknown[][] {
  const first = records[0];
  if (typeof first !== 'object' || first === null || Array.isArray(first))
    throw bad(`'${format}' must be a list of objects`);
  const columns = Object.keys(first);
  return records.map((r, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r))
      throw bad(`'${format}'[${i}] is not an object`);
    const rec = r as Record<string, unknown>;
    const missing = columns.find((c) => !(c in rec));
    if (missing !== undefined) throw bad(`'${format}'[${i}] lacks column ${quoted(missing)}`);
    return columns.map((c) => rec[c]);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * MLflow scoring bodies (`mlflow models serve` /invocations): exactly one of `inputs`, `instances`,
 * `dataframe_split`, `dataframe_records`. A tensor model reads a dataframe's rows as its single
 * input's rows, column by column in the order given.
 */
export function parseInvocation(body: unknown, limits: ParseLimits = NO_LIMITS): GivenRequest {
  if (!isRecord(body)) throw bad(`body must be a JSON object with one of ${MLFLOW_FORMATS.join(', ')}`);
  const present = MLFLOW_FORMATS.filter((f) => f in body);
  if (present.length !== 1)
    throw bad(
      `body must have exactly one of ${MLFLOW_FORMATS.join(', ')}; found ${present.length === 0 ? 'none' : present.join(', ')}`,
    );
  const format = present[0] as (typeof MLFLOW_FORMATS)[number];
  const value = body[format];
  let inputs: GivenInput[];
  switch (format) {
    case 'inputs':
      inputs = isRecord(value)
        ? Object.entries(value).map(([name, v]) => nestedInput(name, v, format))
        : [nestedInput(undefined, value, format)];
      break;
    case 'instances': {
      if (!Array.isArray(value) || value.length === 0) throw bad(`'instances' must be a non-empty list`);
      checkRowCount(value.length, limits);
      const first: unknown = value[0];
      if (isRecord(first)) {
        // Row-wise named inputs: [{a: [...], b: [...]}, ...] → one tensor per name.
        inputs = Object.keys(first).map((name) =>
          nestedInput(
            name,
            value.map((row: unknown, i) => {
              if (!isRecord(row) || !(name in row)) throw bad(`'instances'[${i}] lacks ${quoted(name)}`);
              return row[name];
            }),
            format,
          ),
        );
      } else inputs = [nestedInput(undefined, value, format)];
      break;
    }
    case 'dataframe_split': {
      const parsed = DataframeSplit.safeParse(value);
      if (!parsed.success) throw bad(`'dataframe_split' must be {columns, data: [[...], ...]}`);
      checkRowCount(parsed.data.data.length, limits);
      inputs = [nestedInput(undefined, parsed.data.data, format)];
      break;
    }
    case 'dataframe_records': {
      if (!Array.isArray(value) || value.length === 0)
        throw bad(`'dataframe_records' must be a non-empty list of objects`);
      checkRowCount(value.length, limits);
      inputs = [nestedInput(undefined, recordsToRows(value, format), format)];
      break;
    }
  }
  for (const input of inputs) checkRowCount(input.shape[0] ?? 0, limits);
  return { kind: 'mlflow', format, inputs };
}

export function parseRequest(kind: 'v2' | 'mlflow', body: unknown, limits: ParseLimits): GivenRequest {
  return kind === 'v2' ? parseV2(body, limits) : parseInvocation(body, limits);
}

/** Largest float32, 3.4028234663852886e38: a float32 input refuses anything larger in magnitude. */
export const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Index of the first value the dtype cannot hold, or -1. */
function firstUnfit(dtype: NumericDtype, values: Float64Array): number {
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

function toTensorData(dtype: NumericDtype, values: Float64Array): Tensor['data'] {
  if (dtype === 'int64') return BigInt64Array.from(values, (v) => BigInt(v));
  if (dtype === 'float64') return values;
  const out = allocate(dtype, values.length) as Float32Array | Int32Array;
  out.set(values);
  return out;
}

/** Matches given inputs to the signature (by name; an unnamed input is the model's sole input). */
export function checkRequest(signature: ModelSignature, request: GivenRequest): CheckedRequest {
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
