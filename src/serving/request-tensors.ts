import { z } from 'zod';
import type { TensorSpec } from '../onnx/tensor-spec';
import { HttpError } from './http-util';
import { V2_DATATYPE, fromNumbers, type Tensor } from './tensors';
import type { ModelSignature, NumericDtype } from './worker/messages';

/**
 * Turns request bodies (Open Inference Protocol v2, MLflow scoring) into tensors checked against a
 * model's signature. Every refusal is a 400 naming the tensor and the expected vs given dtype/shape.
 */

/** One input as given by a request, before it is checked against the signature. */
interface GivenInput {
  readonly name: string;
  /** v2 datatype when the protocol carries one (MLflow bodies do not: numbers take the model's dtype). */
  readonly datatype?: string;
  readonly shape: readonly number[];
  readonly values: readonly number[];
}

export interface CheckedRequest {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
}

const bad = (message: string, details: Record<string, unknown> = {}): HttpError =>
  new HttpError(400, 'SERVING_REQUEST_INVALID', message, details);

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Flattens nested arrays of numbers row-major, checking every leaf. */
function flatten(value: unknown, where: string, out: number[] = []): number[] {
  if (Array.isArray(value)) {
    for (const item of value) flatten(item, where, out);
    return out;
  }
  if (typeof value === 'number') {
    out.push(value);
    return out;
  }
  if (typeof value === 'boolean') {
    out.push(value ? 1 : 0);
    return out;
  }
  throw bad(`${where}: data must be numbers, found ${value === null ? 'null' : typeof value}`);
}

/** Shape of a regular nested array; throws if it is ragged. */
function shapeOf(value: unknown, where: string): number[] {
  if (!Array.isArray(value)) return [];
  const inner = value.map((v) => shapeOf(v, where));
  const first = inner[0] ?? [];
  for (const s of inner)
    if (shapeText(s) !== shapeText(first))
      throw bad(`${where}: rows have different lengths (${shapeText(first)} vs ${shapeText(s)})`);
  return [value.length, ...first];
}

function checkValues(spec: TensorSpec, values: readonly number[]): void {
  if (spec.dtype === 'int32' || spec.dtype === 'int64') {
    const i = values.findIndex((v) => !Number.isInteger(v));
    if (i >= 0)
      throw bad(
        `input '${spec.name}': expected ${V2_DATATYPE[spec.dtype as NumericDtype]} integers, element ${i} is ${values[i]}`,
      );
  }
}

/** Matches given inputs to the signature (by name; by position for a single-input model). */
export function checkInputs(signature: ModelSignature, given: readonly GivenInput[]): CheckedRequest {
  const expectedNames = signature.inputs.map((s) => `'${s.name}'`).join(', ');
  for (const g of given) {
    if (!signature.inputs.some((s) => s.name === g.name))
      throw bad(`unknown input '${g.name}'; the model takes ${expectedNames}`, { input: g.name });
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
        given: g.datatype,
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
    checkValues(spec, g.values);
    return { name: spec.name, dtype, dims: [...g.shape], data: fromNumbers(dtype, g.values) };
  });
  return { inputs, rows: rows ?? 0 };
}

const V2Input = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().min(0)),
  datatype: z.string().min(1),
  data: z.unknown(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

export const V2InferRequest = z.object({
  id: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(V2Input).min(1),
  outputs: z.array(z.object({ name: z.string().min(1) })).optional(),
});
export type V2InferRequest = z.infer<typeof V2InferRequest>;

export function parseV2(body: unknown): V2InferRequest {
  const parsed = V2InferRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(
      `invalid v2 inference request at ${issue ? issue.path.join('.') || '(root)' : '(root)'}: ${issue?.message ?? 'malformed'}`,
    );
  }
  return parsed.data;
}

export function checkV2(signature: ModelSignature, request: V2InferRequest): CheckedRequest {
  return checkInputs(
    signature,
    request.inputs.map((i) => ({
      name: i.name,
      datatype: i.datatype,
      shape: i.shape,
      values: flatten(i.data, `input '${i.name}'`),
    })),
  );
}

const MLFLOW_FORMATS = ['inputs', 'instances', 'dataframe_split', 'dataframe_records'] as const;

const DataframeSplit = z.object({
  columns: z.array(z.unknown()).optional(),
  index: z.array(z.unknown()).optional(),
  data: z.array(z.array(z.unknown())),
});

function nestedInput(name: string, value: unknown): GivenInput {
  const where = `input '${name}'`;
  return { name, shape: shapeOf(value, where), values: flatten(value, where) };
}

function soleInput(signature: ModelSignature, format: string): string {
  const only = signature.inputs[0];
  if (signature.inputs.length !== 1 || !only) {
    throw bad(
      `'${format}' needs named inputs: the model takes ${signature.inputs.map((s) => `'${s.name}'`).join(', ')}`,
    );
  }
  return only.name;
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
    if (missing !== undefined) throw bad(`'${format}'[${i}] lacks column '${missing}'`);
    return columns.map((c) => rec[c]);
  });
}

/**
 * MLflow scoring bodies (`mlflow models serve` /invocations): exactly one of `inputs`, `instances`,
 * `dataframe_split`, `dataframe_records`. A tensor model reads a dataframe's rows as its single
 * input's rows, column by column in the order given.
 */
export function checkInvocation(signature: ModelSignature, body: unknown): CheckedRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad(`body must be a JSON object with one of ${MLFLOW_FORMATS.join(', ')}`);
  const obj = body as Record<string, unknown>;
  const present = MLFLOW_FORMATS.filter((f) => f in obj);
  if (present.length !== 1)
    throw bad(
      `body must have exactly one of ${MLFLOW_FORMATS.join(', ')}; found ${present.length === 0 ? 'none' : present.join(', ')}`,
    );
  const format = present[0] as (typeof MLFLOW_FORMATS)[number];
  const value = obj[format];
  switch (format) {
    case 'inputs':
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        return checkInputs(
          signature,
          Object.entries(value).map(([name, v]) => nestedInput(name, v)),
        );
      }
      return checkInputs(signature, [nestedInput(soleInput(signature, format), value)]);
    case 'instances': {
      if (!Array.isArray(value) || value.length === 0) throw bad(`'instances' must be a non-empty list`);
      const first: unknown = value[0];
      if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
        // Row-wise named inputs: [{a: [...], b: [...]}, ...] → one tensor per name.
        const names = Object.keys(first);
        return checkInputs(
          signature,
          names.map((name) =>
            nestedInput(
              name,
              value.map((row: unknown, i) => {
                if (typeof row !== 'object' || row === null || !(name in row))
                  throw bad(`'instances'[${i}] lacks '${name}'`);
                return (row as Record<string, unknown>)[name];
              }),
            ),
          ),
        );
      }
      return checkInputs(signature, [nestedInput(soleInput(signature, format), value)]);
    }
    case 'dataframe_split': {
      const parsed = DataframeSplit.safeParse(value);
      if (!parsed.success) throw bad(`'dataframe_split' must be {columns, data: [[...], ...]}`);
      return checkInputs(signature, [nestedInput(soleInput(signature, format), parsed.data.data)]);
    }
    case 'dataframe_records': {
      if (!Array.isArray(value) || value.length === 0)
        throw bad(`'dataframe_records' must be a non-empty list of objects`);
      return checkInputs(signature, [
        nestedInput(soleInput(signature, format), recordsToRows(value, format)),
      ]);
    }
  }
}
