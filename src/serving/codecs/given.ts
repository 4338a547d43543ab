import { HttpError } from '../http-util';

/**
 * What both codecs decode a request body into before any model is chosen: inputs as numbers and
 * shapes, with no signature yet (src/serving/request-tensors.ts fits them to one), plus the
 * row-limit and nested-array readers the two codecs share.
 */

/** One input as given by a request, before it is checked against the signature. */
export interface GivenInput {
  /** Undefined for a body that names no input (e.g. `dataframe_split`): the model's sole input. */
  readonly name?: string | undefined;
  /** v2 datatype when the protocol carries one (MLflow bodies do not: numbers take the model's dtype). */
  readonly datatype?: string | undefined;
  readonly shape: readonly number[];
  readonly values: GivenValues;
}

/**
 * A request's numbers, row-major. A plain array when read on the event loop (codecs/fast-numeric.ts:
 * short-lived data on V8's heap, not in an ArrayBuffer that counts towards the external-memory limit),
 * a Float64Array when it comes from the parse thread, whose buffer is transferred rather than copied.
 */
export type GivenValues = readonly number[] | Float64Array;

/** A parsed request body: the inputs plus, for v2, the request id and the outputs asked for. */
export interface GivenRequest {
  readonly kind: 'v2' | 'mlflow';
  /** MLflow body format (`inputs`, `instances`, …) or `v2`. */
  readonly format: string;
  readonly inputs: readonly GivenInput[];
  readonly id?: string | undefined;
  readonly outputs?: readonly string[] | undefined;
  /**
   * Set when the values were read by the fast path (codecs/fast-numeric.ts) and some are exact only
   * once rounded to float32: the general path's exact reading of the same body, for a model with an
   * input of another dtype.
   */
  readonly exact?: ExactReading | undefined;
}

/** Reads a body again, exactly (an object rather than a closure: this is made for most 1-row requests). */
export interface ExactReading {
  read(): GivenRequest;
}

export interface ParseLimits {
  readonly maxRows: number;
}

export const NO_LIMITS: ParseLimits = { maxRows: Number.POSITIVE_INFINITY };

export const bad = (message: string, details: Record<string, unknown> = {}): HttpError =>
  new HttpError(400, 'SERVING_REQUEST_INVALID', message, details);

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function leaf(value: unknown, where: string, out: number[]): void {
  if (typeof value === 'number') out.push(value);
  else if (typeof value === 'boolean') out.push(value ? 1 : 0);
  else throw bad(`${where}: data must be numbers, found ${value === null ? 'null' : typeof value}`);
}

/** Flattens nested arrays of numbers row-major whatever their nesting (v2 `data` with an explicit shape). */
export function flattenAny(value: unknown, where: string, out: number[]): void {
  if (Array.isArray(value)) for (const item of value) flattenAny(item, where, out);
  else leaf(value, where, out);
}

/** Shape of a nested array as found, for messages; no checks. */
export function looseShape(value: unknown): number[] {
  const shape: number[] = [];
  for (let cur = value; Array.isArray(cur); cur = cur[0] as unknown) {
    shape.push(cur.length);
    if (cur.length === 0) break;
  }
  return shape;
}

/** Shape and row-major values of a regular nested array; throws if it is ragged. */
export function readNested(value: unknown, where: string): { shape: number[]; values: number[] } {
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

export function checkRowCount(rows: number, limits: ParseLimits): void {
  if (rows > limits.maxRows)
    throw new HttpError(
      413,
      'SERVING_TOO_MANY_ROWS',
      `${rows} rows in one request exceed the limit of ${limits.maxRows}; split the request`,
      { rows, limit: limits.maxRows },
    );
}
