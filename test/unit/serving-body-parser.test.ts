import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BodyParser } from '../../src/serving/body-parser';
import type { GivenRequest } from '../../src/serving/request-tensors';

const parser = new BodyParser({
  maxDepth: 8,
  maxRows: 3,
  offThreadBytes: 1,
  logger: pino({ level: 'silent' }),
});
const inline = new BodyParser({
  maxDepth: 8,
  maxRows: 3,
  offThreadBytes: 1 << 30,
  logger: pino({ level: 'silent' }),
});

afterAll(async () => {
  await Promise.all([parser.close(), inline.close()]);
});

describe('body parser – on the parse thread as in place', () => {
  const v2 = Buffer.from(
    JSON.stringify({ id: 'r', inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
  );

  it('returns the same inputs from the parse thread and in place', async () => {
    const [threaded, local] = await Promise.all([parser.parse('v2', v2), inline.parse('v2', v2)]);
    // The request as the codecs define it (the fast path in place also says how exact its numbers are).
    // Values are the same numbers; the parse thread's are a Float64Array (its buffer is transferred), the
    // event loop's a plain array (short-lived data kept on V8's heap: codecs/given.ts, GivenValues).
    const fields = (r: GivenRequest) => ({
      kind: r.kind,
      format: r.format,
      inputs: r.inputs.map((i) => ({ ...i, values: Array.from(i.values) })),
      id: r.id,
      outputs: r.outputs,
    });
    expect(fields(threaded)).toEqual(fields(local));
    expect(threaded.inputs[0]?.values).toEqual(new Float64Array([1, 2, 3, 4]));
    expect(local.inputs[0]?.values).toEqual([1, 2, 3, 4]);
    expect(threaded).toMatchObject({ kind: 'v2', id: 'r', inputs: [{ name: 'x', shape: [2, 2] }] });
  });

  it('parses many bodies concurrently, each to its own answer', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) =>
      Buffer.from(JSON.stringify({ inputs: [[i, i + 1]] })),
    );
    const parsed = await Promise.all(bodies.map((b) => parser.parse('mlflow', b)));
    parsed.forEach((p, i) => expect(Array.from(p.inputs[0]?.values ?? [])).toEqual([i, i + 1]));
  });

  it.each([
    ['deep nesting', '['.repeat(50) + ']'.repeat(50), 400, 'SERVING_BODY_TOO_DEEP'],
    ['malformed JSON', '{"inputs": [', 400, 'SERVING_BODY_INVALID'],
    ['too many rows', JSON.stringify({ instances: [[1], [2], [3], [4]] }), 413, 'SERVING_TOO_MANY_ROWS'],
    ['no format', JSON.stringify({ nope: 1 }), 400, 'SERVING_REQUEST_INVALID'],
  ])('refuses %s with the same status from the parse thread', async (_what, text, status, code) => {
    for (const p of [parser, inline])
      await expect(p.parse('mlflow', Buffer.from(text))).rejects.toMatchObject({ status, code });
  });
});
