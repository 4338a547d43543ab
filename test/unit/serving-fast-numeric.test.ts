import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BodyParser } from '../../src/serving/body-parser';
import { fastParse } from '../../src/serving/codecs/fast-numeric';
import type { GivenRequest } from '../../src/serving/codecs/given';
import { parseJsonBody } from '../../src/serving/json-body';
import { checkRequest, parseRequest } from '../../src/serving/request-tensors';
import type { ModelSignature } from '../../src/serving/worker/messages';

/**
 * The fast path (codecs/fast-numeric.ts) must be invisible: for every body it either gives what the
 * general path (JSON.parse + codecs) gives, or gives up; and every body the general path refuses is
 * refused by the BodyParser with the same status and code.
 */

const LIMITS = { maxDepth: 32, maxRows: 50 };
const parser = new BodyParser({ ...LIMITS, offThreadBytes: 1 << 30, logger: pino({ level: 'silent' }) });
afterAll(() => parser.close());

function general(kind: 'v2' | 'mlflow', bytes: Buffer): GivenRequest {
  return parseRequest(kind, parseJsonBody(bytes, LIMITS.maxDepth), { maxRows: LIMITS.maxRows });
}

/** What a caller sees: the result, or the refusal's status and code. */
function outcome<T>(run: () => T): { ok: T } | { status: number; code: string } {
  try {
    return { ok: run() };
  } catch (e) {
    const err = e as { status?: number; code?: string };
    return { status: err.status ?? -1, code: err.code ?? 'none' };
  }
}

const signatureOf = (dtype: 'float32' | 'float64'): ModelSignature => ({
  inputs: [{ name: 'X', dtype, shape: [-1, -1] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
});
const F64_SIGNATURE = signatureOf('float64');

/** The same answer as the general path: identical tensors for a float32 and a float64 model, or the same refusal. */
function expectSame(kind: 'v2' | 'mlflow', text: string): void {
  const bytes = Buffer.from(text);
  const want = outcome(() => general(kind, bytes));
  const got = outcome(() => parser.parseHere(kind, bytes));
  if (!('ok' in want) || !('ok' in got)) {
    expect(got).toEqual(want);
    return;
  }
  expect(got.ok.format).toBe(want.ok.format);
  expect(got.ok.id).toBe(want.ok.id);
  expect(got.ok.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual(
    want.ok.inputs.map((i) => [i.name, i.datatype, i.shape]),
  );
  if (!got.ok.exact)
    expect(got.ok.inputs.map((i) => Array.from(i.values))).toEqual(
      want.ok.inputs.map((i) => Array.from(i.values)),
    );
  for (const dtype of ['float32', 'float64'] as const) {
    const signature = signatureOf(dtype);
    expect(outcome(() => checkRequest(signature, got.ok))).toEqual(
      outcome(() => checkRequest(signature, want.ok)),
    );
  }
}

const split = (rows: unknown, extra = ''): string =>
  `{"dataframe_split": {"columns": ["a","b"], "data": ${typeof rows === 'string' ? rows : JSON.stringify(rows)}${extra}}}`;
const v2 = (data: unknown, shape: unknown = [1, 2], extra = ''): string =>
  `{"inputs": [{"name": "X", "shape": ${JSON.stringify(shape)}, "datatype": "FP32", "data": ${typeof data === 'string' ? data : JSON.stringify(data)}}]${extra}}`;

describe('fast numeric parse – takes the common bodies', () => {
  it('reads dataframe_split and v2 bodies without the general path', () => {
    const a = fastParse(
      'mlflow',
      Buffer.from(
        split([
          [1, 2],
          [3, 4.5],
        ]),
      ),
      LIMITS,
    );
    expect(a).toMatchObject({ kind: 'mlflow', format: 'dataframe_split', inputs: [{ shape: [2, 2] }] });
    expect(Array.from(a?.inputs[0]?.values ?? [])).toEqual([1, 2, 3, 4.5]);
    const b = fastParse('v2', Buffer.from(v2([0.25, -7], [1, 2], ', "id": "r1"')), LIMITS);
    expect(b).toMatchObject({
      kind: 'v2',
      id: 'r1',
      inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 2] }],
    });
    expect(Array.from(b?.inputs[0]?.values ?? [])).toEqual([0.25, -7]);
  });

  it('reads every array into one scratch buffer without mixing them: two inputs, data before shape', () => {
    const body = JSON.stringify({
      inputs: [
        { data: [1, 2, 3, 4, 5, 6], name: 'a', shape: [2, 3], datatype: 'FP64' },
        { name: 'b', datatype: 'FP64', shape: [3, 1], data: [7.5, -8, 9] },
      ],
    });
    const got = fastParse('v2', Buffer.from(body), LIMITS);
    expect(got?.inputs.map((i) => [i.name, i.shape, Array.from(i.values)])).toEqual([
      ['a', [2, 3], [1, 2, 3, 4, 5, 6]],
      ['b', [3, 1], [7.5, -8, 9]],
    ]);
    // A body bigger than the scratch buffer grows it, and the next body still reads alone.
    const big = Array.from({ length: 10_000 }, (_, i) => i / 4);
    const first = fastParse('v2', Buffer.from(v2(big, [1, 10_000])), LIMITS);
    const second = fastParse('v2', Buffer.from(v2([3, 2], [1, 2])), LIMITS);
    expect(Array.from(first?.inputs[0]?.values ?? [])).toEqual(big);
    expect(Array.from(second?.inputs[0]?.values ?? [])).toEqual([3, 2]);
  });

  it('reads numbers as JSON.parse does (exactly, or exactly once rounded to float32)', () => {
    let seed = 99;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const texts: string[] = [
      '0',
      '-0',
      '1',
      '-1',
      '0.1',
      '1e5',
      '1E-5',
      '-2.5e+3',
      '123456789012345',
      '1234567890123456789012',
      '0.000001234',
      '3.4028234663852886e38',
      '3.4028236e38',
      '1e309',
      '-1e309',
      '5e-324',
      '1e-400',
      '9007199254740993',
      '0.30000000000000004',
      '1.00000000000000000000001',
      '2.5000000000000000000',
      '1e22',
      '1e23',
      '123.456e-20',
      // Digits crossing the 15th and 19th significant digit in the integer part, the fraction, or both.
      '1234567890123456789.123',
      '123456789012345.6789',
      '12345678901234567890123',
      '0.000000000000000000001234567890123456789',
      '0.0000001',
      '-0.0',
      '100000000000000000000.5',
      '0.12345678901234567890123e5',
    ];
    for (let i = 0; i < 3000; i++) {
      const v =
        rnd() < 0.5
          ? Math.fround((rnd() - 0.5) * 10 ** Math.floor(rnd() * 12 - 6))
          : (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
      texts.push(JSON.stringify(v));
    }
    for (const t of texts) {
      const bytes = Buffer.from(split(`[[${t}]]`));
      const want = JSON.parse(t) as number;
      const fast = fastParse('mlflow', bytes, LIMITS);
      if (!fast) throw new Error(`fast path gave up on ${t}`);
      const got = fast.inputs[0]?.values[0] as number;
      if (fast.approximate) expect(Math.fround(got)).toBe(Math.fround(want));
      else expect(Object.is(got, want)).toBe(true);
    }
  });

  it('an approximate body checked against a float64 model is read exactly', () => {
    const text = split([[0.1234567890123456789, 1]]);
    const parsed = parser.parseHere('mlflow', Buffer.from(text));
    const checked = checkRequest(F64_SIGNATURE, parsed);
    expect(checked.inputs[0]?.data[0]).toBe(0.1234567890123456789);
  });
});

describe('fast numeric parse – gives up, and the general path answers as before', () => {
  const cases: readonly (readonly [string, 'v2' | 'mlflow', string])[] = [
    ['empty body', 'mlflow', ''],
    ['whitespace only', 'mlflow', '  \n'],
    ['not JSON', 'mlflow', 'hello'],
    ['truncated', 'mlflow', split('[[1,2],[3,')],
    ['trailing garbage', 'mlflow', `${split([[1, 2]])}x`],
    ['two documents', 'mlflow', `${split([[1, 2]])}${split([[1, 2]])}`],
    ['NaN', 'mlflow', split('[[NaN, 1]]')],
    ['Infinity', 'mlflow', split('[[Infinity, 1]]')],
    ['-Infinity', 'mlflow', split('[[-Infinity, 1]]')],
    ['"NaN" string', 'mlflow', split('[["NaN", 1]]')],
    ['leading zero', 'mlflow', split('[[01, 1]]')],
    ['plus sign', 'mlflow', split('[[+1, 1]]')],
    ['bare dot', 'mlflow', split('[[.5, 1]]')],
    ['trailing dot', 'mlflow', split('[[5., 1]]')],
    ['hex', 'mlflow', split('[[0x10, 1]]')],
    ['exponent without digits', 'mlflow', split('[[1e, 1]]')],
    ['double minus', 'mlflow', split('[[--1, 1]]')],
    ['1e309 (non-finite once read)', 'mlflow', split('[[1e309, 1]]')],
    ['float32 overflow', 'mlflow', split('[[3.5e38, 1]]')],
    ['null', 'mlflow', split('[[null, 1]]')],
    ['booleans', 'mlflow', split('[[true, false]]')],
    ['ragged rows', 'mlflow', split([[1, 2], [3]])],
    ['deeper rows', 'mlflow', split([[[1], [2]]])],
    ['flat data', 'mlflow', split([1, 2])],
    ['empty data', 'mlflow', split([])],
    ['empty row', 'mlflow', split([[]])],
    ['too many rows', 'mlflow', split(Array.from({ length: 51 }, () => [1, 2]))],
    ['huge row', 'mlflow', split([Array.from({ length: 20000 }, (_, i) => i)])],
    [
      'duplicate key (last wins in JSON.parse)',
      'mlflow',
      '{"dataframe_split": {"data": [[1,2]], "data": [[3]]}}',
    ],
    [
      'duplicate format key',
      'mlflow',
      `{"dataframe_split": {"data": [[1]]}, "dataframe_split": {"data": [[2]]}}`,
    ],
    ['two formats', 'mlflow', '{"dataframe_split": {"data": [[1]]}, "inputs": [[1]]}'],
    ['unknown key', 'mlflow', '{"dataframe_split": {"data": [[1]]}, "extra": 1}'],
    ['index', 'mlflow', '{"dataframe_split": {"index": [0], "data": [[1]]}}'],
    ['escaped column', 'mlflow', '{"dataframe_split": {"columns": ["a\\"b"], "data": [[1]]}}'],
    ['non-ASCII column', 'mlflow', '{"dataframe_split": {"columns": ["é"], "data": [[1]]}}'],
    [
      'invalid UTF-8',
      'mlflow',
      '{"dataframe_split": {"columns": ["\u00ff"], "data": [[1]]}}'.replace('\u00ff', '\udcff'),
    ],
    ['control char in string', 'mlflow', '{"dataframe_split": {"columns": ["a\u0001"], "data": [[1]]}}'],
    ['no data', 'mlflow', '{"dataframe_split": {"columns": ["a"]}}'],
    ['array body', 'mlflow', '[[1,2]]'],
    ['BOM', 'mlflow', `\ufeff${split([[1, 2]])}`],
    ['other format (inputs)', 'mlflow', '{"inputs": [[1, 2]]}'],
    ['v2 happy', 'v2', v2([1, 2])],
    ['v2 nested data', 'v2', v2([[1, 2]])],
    ['v2 NaN', 'v2', v2('[NaN, 1]')],
    ['v2 string number', 'v2', v2('["1", 2]')],
    ['v2 bool data', 'v2', v2('[true, 2]')],
    ['v2 negative shape', 'v2', v2([1, 2], [-1, 2])],
    ['v2 fractional shape', 'v2', v2([1, 2], [1.5, 2])],
    ['v2 huge shape', 'v2', v2([1, 2], [1e6, 2])],
    [
      'v2 shape too long',
      'v2',
      v2(
        [1],
        Array.from({ length: 33 }, () => 1),
      ),
    ],
    ['v2 rows over limit', 'v2', v2([1, 2], [51, 2])],
    ['v2 data shorter than shape', 'v2', v2([1], [1, 2])],
    ['v2 empty name', 'v2', '{"inputs": [{"name": "", "shape": [1,1], "datatype": "FP32", "data": [1]}]}'],
    [
      'v2 long name',
      'v2',
      `{"inputs": [{"name": "${'n'.repeat(300)}", "shape": [1,1], "datatype": "FP32", "data": [1]}]}`,
    ],
    ['v2 missing datatype', 'v2', '{"inputs": [{"name": "X", "shape": [1,1], "data": [1]}]}'],
    [
      'v2 wrong datatype',
      'v2',
      '{"inputs": [{"name": "X", "shape": [1,1], "datatype": "INT8", "data": [1]}]}',
    ],
    ['v2 no inputs', 'v2', '{"inputs": []}'],
    [
      'v2 duplicate inputs key',
      'v2',
      `{"inputs": [], "inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1]}]}`,
    ],
    [
      'v2 duplicate data key',
      'v2',
      '{"inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1], "data": [2]}]}',
    ],
    [
      'v2 parameters',
      'v2',
      '{"inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1], "parameters": {}}]}',
    ],
    [
      'v2 outputs',
      'v2',
      `{"inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1]}], "outputs": [{"name": "nope"}]}`,
    ],
    [
      'v2 numeric id',
      'v2',
      '{"id": 5, "inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1]}]}',
    ],
    [
      'v2 long id',
      'v2',
      `{"id": "${'i'.repeat(300)}", "inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1]}]}`,
    ],
    [
      'v2 two inputs',
      'v2',
      '{"inputs": [{"name": "X", "shape": [1,1], "datatype": "FP32", "data": [1]}, {"name": "Y", "shape": [1,1], "datatype": "FP32", "data": [1]}]}',
    ],
    [
      'v2 unknown input',
      'v2',
      '{"inputs": [{"name": "Z", "shape": [1,1], "datatype": "FP32", "data": [1]}]}',
    ],
  ];
  it.each(cases)('%s', (_what, kind, text) => expectSame(kind, text));

  it('a depth limit below the fast cases takes the general path (and its 400)', async () => {
    const shallow = new BodyParser({
      maxDepth: 3,
      maxRows: 50,
      offThreadBytes: 1 << 30,
      logger: pino({ level: 'silent' }),
    });
    await expect(shallow.parse('mlflow', Buffer.from(split([[1, 2]])))).rejects.toMatchObject({
      status: 400,
      code: 'SERVING_BODY_TOO_DEEP',
    });
    await shallow.close();
  });

  it('random mutations of good bodies: the same answer or the same refusal', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = '[]{},:"-+.eE0123456789 aN\\';
    const bases: readonly ['v2' | 'mlflow', string][] = [
      [
        'mlflow',
        split([
          [1.5, -2e-3],
          [0.123456789012345678, 4],
        ]),
      ],
      ['v2', v2([1.5, -2e-3, 7, 8], [2, 2], ', "id": "x"')],
    ];
    for (let n = 0; n < 4000; n++) {
      const [kind, base] = bases[n % 2] as ['v2' | 'mlflow', string];
      const chars = [...base];
      const edits = 1 + rnd(3);
      for (let e = 0; e < edits; e++) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)] as string);
        else chars[at] = alphabet[rnd(alphabet.length)] as string;
      }
      expectSame(kind, chars.join(''));
    }
  });
});
