import { z } from 'zod';
import { HttpError, quoted } from '../http-util';
import { nest, toNumbers, type Tensor } from '../tensors';
import {
  NO_LIMITS,
  bad,
  checkRowCount,
  readNested,
  type GivenInput,
  type GivenRequest,
  type ParseLimits,
} from './given';

/**
 * MLflow scoring (`POST /invocations`, as `mlflow models serve` answers it): the four body formats,
 * the `{predictions}` answer, and which model a request is for when the path names none.
 */

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

/** MLflow scoring's answer: one output → its rows; several → {name: rows}. */
export function encodeInvocations(outputs: readonly Tensor[]): { predictions: unknown } {
  const [only] = outputs;
  const predictions =
    outputs.length === 1 && only
      ? nest(toNumbers(only.data), only.dims)
      : Object.fromEntries(outputs.map((o) => [o.name, nest(toNumbers(o.data), o.dims)]));
  return { predictions };
}

/**
 * The model an /invocations request is for: `?model=` (already percent-decoded by URL parsing),
 * else the `x-prograde-model` header (taken literally), else the only model served.
 */
export function invocationModel(
  fromQuery: string | null,
  fromHeader: string | undefined,
  served: readonly string[],
  checkName: (value: string, what: string) => string,
): string {
  if (fromQuery !== null) return checkName(fromQuery, 'model');
  if (fromHeader !== undefined) return checkName(fromHeader, 'model');
  if (served.length === 1 && served[0]) return served[0];
  if (served.length === 0) throw new HttpError(503, 'SERVING_NO_ROUTING', 'no model is routed yet');
  throw new HttpError(
    400,
    'SERVING_MODEL_REQUIRED',
    `several models are served (${served.join(', ')}); choose one with ?model= or the x-prograde-model header`,
  );
}
