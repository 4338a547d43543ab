// Over 350 lines on purpose: one byte-level reader for two body shapes; its hot loop and the rules that make it give up belong together.
import type { ExactReading, GivenInput, GivenRequest, ParseLimits } from './given';

/**
 * A fast path for the two request bodies that carry almost all inference traffic, read straight from
 * the bytes into arrays of numbers: MLflow `{"dataframe_split": {"columns": [...], "data": [[n, ...], ...]}}`
 * and Open Inference Protocol v2 `{"inputs": [{"name", "shape", "datatype", "data": [n, ...]}], "id"}`.
 *
 * It either returns exactly what the general path (UTF-8 check, depth scan, JSON.parse, zod, nested
 * readers) would return for the body, or `undefined`, and the general path runs and decides. It gives
 * up at the first thing it does not expect: a key it does not know or sees twice, a string with an
 * escape, a control or non-ASCII byte, an empty or nested-further array, `true`/`false`/`null`, a
 * number outside JSON's grammar, more rows than the limit, nesting past the depth limit, a body not
 * ending after its object. So every refusal (and its status and code) still comes from one place,
 * the general path, and the fast path can only make accepted requests cheaper.
 *
 * Numbers. A number with at most 15 significant digits and a decimal exponent within ±22 is computed
 * exactly as JSON.parse does (Clinger's fast path: one correctly rounded multiply or divide of two
 * exact doubles). Longer numbers (JSON.stringify writes up to 17 digits) of moderate size are
 * computed within 2 ulp and kept only when every double within 4 ulp rounds to the same float32: then
 * the value is exact for a float32 input, and the input is marked `approximate`; a model whose input
 * is not float32 gets the general path's exact parse (`GivenRequest.exact`). Anything else is
 * converted by `Number()` on its text, which is JSON.parse's own conversion.
 */

/** Thrown (one preallocated instance, no stack captured per body) when the fast path gives up. */
const BAIL = new Error('fast-numeric: not the fast case');

/** 10^0 … 10^22: every one is an exact double (a typed array: read unboxed). */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/** 2^-50: a relative step of at least 4 ulp of any normal double. */
const EPS4ULP = 2 ** -50;

interface Cursor {
  readonly b: Buffer;
  i: number;
  /** Set when a number was kept as float32-exact rather than float64-exact. */
  approximate: boolean;
}

const bail = (): never => {
  throw BAIL;
};

function ws(c: Cursor): void {
  const b = c.b;
  let i = c.i;
  for (;;) {
    const x = b[i];
    if (x === 0x20 || x === 0x0a || x === 0x0d || x === 0x09) i++;
    else break;
  }
  c.i = i;
}

function expect(c: Cursor, byte: number): void {
  ws(c);
  if (c.b[c.i] !== byte) bail();
  c.i++;
}

/** The next non-blank byte, not consumed. */
function peek(c: Cursor): number | undefined {
  ws(c);
  return c.b[c.i];
}

/** Skips a string of printable ASCII without escapes (anything else gives up); returns its length. */
function skipPlainString(c: Cursor, maxLength: number): number {
  expect(c, 0x22);
  const b = c.b;
  const start = c.i;
  let i = start;
  for (;;) {
    const x = b[i];
    if (x === undefined) return bail();
    if (x === 0x22) break;
    if (x < 0x20 || x > 0x7e || x === 0x5c) return bail();
    i++;
  }
  if (i - start > maxLength) return bail();
  c.i = i + 1;
  return i - start;
}

/** A string of printable ASCII without escapes; anything else gives up. */
function plainString(c: Cursor, maxLength: number): string {
  const length = skipPlainString(c, maxLength);
  return c.b.toString('latin1', c.i - 1 - length, c.i - 1);
}

/**
 * A JSON number, appended to `out`; bails on anything outside the grammar (leading zeros, `+`, `.5`,
 * `1.`, `NaN`, …). It stores the value itself rather than returning it: a double returned from (or
 * passed to) a function V8 does not inline is boxed as a heap number, and at 3,000 numbers a body
 * those boxes were 60 % of the gateway's allocation, enough to keep V8's major GC running 10 times a
 * second at one connection (bench/RESULTS.md, serving-compare). For the same reason the value is a plain
 * double throughout, NaN standing for "not computed" (no JSON number is NaN).
 */
function number(c: Cursor, out: Values): void {
  ws(c);
  const b = c.b;
  const start = c.i;
  let i = start;
  let negative = false;
  if (b[i] === 0x2d) {
    negative = true;
    i++;
  }
  let x = b[i];
  if (x === undefined || x < 0x30 || x > 0x39) return bail();
  // Significant digits: the first 15 exactly in `hi`, up to 4 more in `lo`; `exponent` scales them.
  // One loop per stage of a digit's fate (into `hi`, into `lo`, past the 19th), so the loop a digit is
  // read in has one comparison besides the digit test: this is the hot loop of a numeric body.
  // (`undefined` past the end fails every digit test, so the bounds need no check of their own.)
  let hi = 0;
  let lo = 0;
  let loDigits = 0;
  let significant = 0;
  let dropped = 0; // integer digits past the 19th: each scales by 10
  let exponent = 0;
  if (x === 0x30) {
    i++;
    x = b[i];
    if ((x as number) >= 0x30 && (x as number) <= 0x39) return bail(); // leading zero
  } else {
    while ((x as number) >= 0x30 && (x as number) <= 0x39 && significant < 15) {
      hi = hi * 10 + ((x as number) - 0x30);
      significant++;
      x = b[++i];
    }
    while ((x as number) >= 0x30 && (x as number) <= 0x39 && significant < 19) {
      lo = lo * 10 + ((x as number) - 0x30);
      loDigits++;
      significant++;
      x = b[++i];
    }
    while ((x as number) >= 0x30 && (x as number) <= 0x39) {
      dropped++;
      significant++;
      x = b[++i];
    }
  }
  if (x === 0x2e) {
    x = b[++i];
    if (x === undefined || x < 0x30 || x > 0x39) return bail();
    if (significant === 0)
      // Leading zeros of a fraction only scale.
      while (x === 0x30) {
        exponent--;
        x = b[++i];
      }
    while ((x as number) >= 0x30 && (x as number) <= 0x39 && significant < 15) {
      hi = hi * 10 + ((x as number) - 0x30);
      significant++;
      exponent--;
      x = b[++i];
    }
    while ((x as number) >= 0x30 && (x as number) <= 0x39 && significant < 19) {
      lo = lo * 10 + ((x as number) - 0x30);
      loDigits++;
      significant++;
      exponent--;
      x = b[++i];
    }
    // Fraction digits past the 19th change nothing but the count (the value then goes to Number()).
    while ((x as number) >= 0x30 && (x as number) <= 0x39) {
      significant++;
      x = b[++i];
    }
  }
  let exact = true;
  if (x === 0x65 || x === 0x45) {
    i++;
    x = b[i];
    let expNegative = false;
    if (x === 0x2b || x === 0x2d) {
      expNegative = x === 0x2d;
      i++;
      x = b[i];
    }
    if (x === undefined || x < 0x30 || x > 0x39) return bail();
    let e = 0;
    while (x !== undefined && x >= 0x30 && x <= 0x39) {
      if (e < 100_000) e = e * 10 + (x - 0x30);
      i++;
      x = b[i];
    }
    exponent += expNegative ? -e : e;
  }
  c.i = i;
  exponent += dropped;
  let value = Number.NaN;
  if (significant === 0) value = 0;
  else if (significant <= 15) {
    if (exponent >= 0 && exponent <= 22) value = hi * (POW10[exponent] as number);
    else if (exponent < 0 && exponent >= -22) value = hi / (POW10[-exponent] as number);
  } else if (significant <= 19 && dropped === 0) {
    // hi·10^loDigits + lo within 1 ulp, then one more rounding: within 2 ulp of the exact double.
    const m = hi * (POW10[loDigits] as number) + lo;
    const approx =
      exponent >= 0 && exponent <= 22
        ? m * (POW10[exponent] as number)
        : exponent < 0 && exponent >= -22
          ? m / (POW10[-exponent] as number)
          : Number.NaN;
    // (NaN fails both comparisons.)
    if (approx > 1e-30 && approx < 1e30) {
      const f = Math.fround(approx);
      if (Math.fround(approx * (1 - EPS4ULP)) === f && Math.fround(approx * (1 + EPS4ULP)) === f) {
        value = approx;
        exact = false;
      }
    }
  }
  if (!exact) c.approximate = true;
  // JSON.parse's own conversion: the grammar was checked above, and Number() reads that grammar alike.
  if (value !== value) out.push(Number(b.toString('latin1', start, i)));
  else {
    if (out.length === out.data.length) out.grow();
    out.data[out.length++] = negative ? -value : value;
  }
}

/** The buffer every array of numbers is read into, one at a time; kept for the next body while small enough. */
let scratch = new Float64Array(4096);
const MAX_SCRATCH = 1 << 18;

/**
 * The numbers of one array as they are read: on the shared scratch buffer (parsing is synchronous and
 * each thread has its own module, so one per thread is enough), ending with one exact copy as a plain
 * array (`GivenValues`). Not a Float64Array per body: a body's values live for one request, and short-lived
 * data belongs on V8's heap, whose young generation frees it in a scavenge. Each ArrayBuffer instead
 * counts towards V8's external-memory limit, and with few heap allocations between scavenges they piled
 * up until that limit started a full marking 4 times a second (a p99 of 7 ms at one connection with
 * 100-row bodies, bench/RESULTS.md). A 100-row body once also grew its own array eight times.
 */
class Values {
  data = scratch;
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) this.grow();
    this.data[this.length++] = v;
  }

  grow(): void {
    const next = new Float64Array(this.data.length * 2);
    next.set(this.data);
    this.data = next;
    if (next.length <= MAX_SCRATCH) scratch = next;
  }

  /** The numbers read, copied off the scratch buffer (the next body reuses it). */
  done(): number[] {
    // push, not new Array(n): V8 makes a large preallocated array a slow dictionary.
    const out: number[] = [];
    const data = this.data;
    for (let i = 0; i < this.length; i++) out.push(data[i] as number);
    return out;
  }
}

/** `[n, n, ...]` appended to `out`; returns how many. Empty arrays and non-numbers give up. */
function numberRow(c: Cursor, out: Values): number {
  expect(c, 0x5b);
  let n = 0;
  do {
    number(c, out);
    n++;
  } while (moreItems(c));
  return n;
}

/** After an array item: true at `,` (another item follows), false at `]` (consumed); anything else gives up. */
function moreItems(c: Cursor): boolean {
  ws(c);
  const x = c.b[c.i];
  c.i++;
  if (x === 0x2c) return true;
  if (x === 0x5d) return false;
  return bail();
}

/**
 * Members of `{ "key": value, ... }`, read as a loop: `firstKey` reads the `{` and the first key,
 * `nextKey` the separator after a value and then the next key (undefined at the `}`). The caller reads
 * each value in between. A repeated key gives up. A loop rather than a callback per member: no
 * closure is created per body.
 */
function firstKey(c: Cursor, seen: string[]): string {
  expect(c, 0x7b);
  if (peek(c) === 0x7d) return bail(); // {}: no fast case has an empty object
  return key(c, seen);
}

function nextKey(c: Cursor, seen: string[]): string | undefined {
  ws(c);
  const x = c.b[c.i];
  c.i++;
  if (x === 0x2c) return key(c, seen);
  if (x === 0x7d) return undefined;
  return bail();
}

function key(c: Cursor, seen: string[]): string {
  const name = plainString(c, 64);
  if (seen.includes(name)) return bail();
  seen.push(name);
  expect(c, 0x3a);
  return name;
}

function end(c: Cursor): void {
  ws(c);
  if (c.i !== c.b.length) bail();
}

/** `[ "name", ... ]` of plain strings, skipped. */
function columns(c: Cursor): void {
  expect(c, 0x5b);
  if (peek(c) === 0x5d) {
    c.i++;
    return;
  }
  do skipPlainString(c, 256);
  while (moreItems(c));
}

/** `[[n, ...], ...]`: rows of the same width. */
function rowsOfNumbers(c: Cursor, limits: ParseLimits): GivenInput {
  expect(c, 0x5b);
  const out = new Values();
  let rows = 0;
  let width = -1;
  do {
    const n = numberRow(c, out);
    if (width < 0) width = n;
    else if (n !== width) return bail();
    rows++;
    if (rows > limits.maxRows) return bail();
  } while (moreItems(c));
  return { name: undefined, shape: [rows, width], values: out.done() };
}

function dataframeSplit(c: Cursor, limits: ParseLimits): GivenInput {
  let input: GivenInput | undefined;
  const seen: string[] = [];
  for (let k: string | undefined = firstKey(c, seen); k !== undefined; k = nextKey(c, seen)) {
    if (k === 'columns') columns(c);
    else if (k === 'data') input = rowsOfNumbers(c, limits);
    else return bail();
  }
  return input ?? bail();
}

function v2Input(c: Cursor, limits: ParseLimits): GivenInput {
  let name: string | undefined;
  let datatype: string | undefined;
  let shape: number[] | undefined;
  let values: number[] | undefined;
  const seen: string[] = [];
  for (let k: string | undefined = firstKey(c, seen); k !== undefined; k = nextKey(c, seen)) {
    switch (k) {
      case 'name':
        name = plainString(c, 256);
        if (name.length === 0) bail();
        break;
      case 'datatype':
        datatype = plainString(c, 32);
        if (datatype.length === 0) bail();
        break;
      case 'shape': {
        const dims = new Values();
        const n = numberRow(c, dims);
        if (n > 32) bail();
        shape = dims.done();
        if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bail();
        if ((shape[0] ?? 0) > limits.maxRows) bail();
        break;
      }
      case 'data': {
        const out = new Values();
        numberRow(c, out);
        values = out.done();
        break;
      }
      default:
        bail();
    }
  }
  if (name === undefined || datatype === undefined || !shape || !values) return bail();
  return { name, datatype, shape, values };
}

/**
 * A fast reading: a `GivenRequest` (the same object shape for both kinds, so the code that reads it
 * stays monomorphic), with whether some values are exact only as float32; the caller attaches `exact`.
 */
export interface FastReading extends GivenRequest {
  readonly approximate: boolean;
  exact: ExactReading | undefined;
}

function reading(
  kind: 'v2' | 'mlflow',
  format: string,
  inputs: readonly GivenInput[],
  id: string | undefined,
  approximate: boolean,
): FastReading {
  return { kind, format, inputs, id, outputs: undefined, approximate, exact: undefined };
}

/** `[ {input}, ... ]`: at most 64 inputs. */
function v2Inputs(c: Cursor, limits: ParseLimits, inputs: GivenInput[]): void {
  expect(c, 0x5b);
  do {
    inputs.push(v2Input(c, limits));
    if (inputs.length > 64) bail();
  } while (moreItems(c));
}

function v2(c: Cursor, limits: ParseLimits): FastReading {
  const inputs: GivenInput[] = [];
  let id: string | undefined;
  const seen: string[] = [];
  for (let k: string | undefined = firstKey(c, seen); k !== undefined; k = nextKey(c, seen)) {
    if (k === 'id') id = plainString(c, 256);
    else if (k === 'inputs') v2Inputs(c, limits, inputs);
    else return bail();
  }
  if (inputs.length === 0) return bail();
  return reading('v2', 'v2', inputs, id, c.approximate);
}

/**
 * The fast reading of `bytes`, or undefined when the general path must decide. `maxDepth` is the
 * gateway's nesting limit: both fast cases nest 4 deep, so a lower limit always takes the general path.
 */
export function fastParse(
  kind: 'v2' | 'mlflow',
  bytes: Buffer,
  limits: ParseLimits & { readonly maxDepth: number },
): FastReading | undefined {
  if (limits.maxDepth < 4 || bytes.length === 0) return undefined;
  const c: Cursor = { b: bytes, i: 0, approximate: false };
  try {
    if (kind === 'v2') {
      const request = v2(c, limits);
      end(c);
      return request;
    }
    const seen: string[] = [];
    let input: GivenInput | undefined;
    for (let k: string | undefined = firstKey(c, seen); k !== undefined; k = nextKey(c, seen)) {
      if (k !== 'dataframe_split') return bail();
      input = dataframeSplit(c, limits);
    }
    end(c);
    if (!input) return undefined;
    return reading('mlflow', 'dataframe_split', [input], undefined, c.approximate);
  } catch (e) {
    if (e === BAIL) return undefined;
    // A RangeError (an allocation too big for this process) is not the caller's fault either way:
    // the general path decides.
    return undefined;
  }
}
