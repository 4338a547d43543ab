import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { normaliseTarget, rolloutLockIdFor } from '../../src/promotion/lock-protocol';
import { payloadConverter, UndecodablePayload } from '../../src/workflows/payload-converter';
import {
  DecisionRequestSchema,
  MAX_REASON,
  OperatorRequestSchema,
  parseArgs,
} from '../../src/workflows/payloads';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('workflow payloads – parsing message arguments', () => {
  it('accepts exactly one well-formed request and returns it unchanged', () => {
    expect(parseArgs(DecisionRequestSchema, [{ approver: 'alice', reason: 'ok\nreviewed' }])).toEqual({
      ok: true,
      value: { approver: 'alice', reason: 'ok\nreviewed' },
    });
    expect(parseArgs(OperatorRequestSchema, [{ operator: 'bob', reason: 'x' }]).ok).toBe(true);
  });

  it.each([
    [[], 'expected exactly one argument, got 0'],
    [[null], 'expected {approver, reason} (got null)'],
    [[undefined], 'expected {approver, reason} (got nothing)'],
    [[7], 'expected {approver, reason} (got number 7)'],
    [[[1, 2]], 'expected {approver, reason} (got an array of 2)'],
    [[{ approver: 'a', reason: 'r' }, 1], 'expected exactly one argument, got 2'],
    [[{ approver: 1, reason: 'r' }], 'approver must be a string (got number 1)'],
    [[{ approver: 'a' }], 'reason must be a string (got nothing)'],
    [[{ approver: ' ', reason: 'r' }], 'approver must not be empty'],
    [[{ approver: 'a\nb', reason: 'r' }], 'approver must not contain control characters'],
    [[{ approver: 'a'.repeat(101), reason: 'r' }], 'approver is too long (at most 100 characters)'],
    [[{ approver: 'a', reason: 'r'.repeat(MAX_REASON + 1) }], 'reason is too long (at most 1000 characters)'],
    [[{ approver: 'a', reason: 'r', x: 1, y: 2 }], "unknown field(s) 'x', 'y'"],
  ])('refuses %j: %s', (args, problem) => {
    expect(parseArgs(DecisionRequestSchema, args)).toEqual({ ok: false, problem });
  });

  it('never echoes a huge value back: problems stay short', () => {
    const r = parseArgs(DecisionRequestSchema, ['z'.repeat(5_000_000)]);
    expect(r).toEqual({
      ok: false,
      problem: 'expected {approver, reason} (got a string of 5000000 characters)',
    });
    const keys = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${'k'.repeat(500)}${i}`, i]));
    const many = parseArgs(DecisionRequestSchema, [{ approver: 'a', reason: 'r', ...keys }]);
    expect(many.ok).toBe(false);
    if (!many.ok) expect(many.problem.length).toBeLessThanOrEqual(300);
  });

  it('refuses a payload the converter could not decode, saying so', () => {
    expect(
      parseArgs(DecisionRequestSchema, [
        new UndecodablePayload('json/plain', 'Unexpected end of JSON input'),
      ]),
    ).toEqual({
      ok: false,
      problem: "the payload could not be decoded (encoding 'json/plain': Unexpected end of JSON input)",
    });
  });
});

describe('workflow payloads – the tolerant payload converter', () => {
  it('decodes what the default converter decodes, and encodes the same bytes', () => {
    for (const v of [{ approver: 'a', reason: 'r' }, null, 3, 'x', [1]]) {
      const p = payloadConverter.toPayload(v);
      expect(p).toEqual(defaultPayloadConverter.toPayload(v));
      expect(payloadConverter.fromPayload(p)).toEqual(v);
    }
  });

  it('turns bytes that are not JSON, or an unknown encoding, into a marker instead of throwing', () => {
    const bad = payloadConverter.fromPayload({
      metadata: { encoding: bytes('json/plain') },
      data: bytes('{"a":'),
    });
    expect(bad).toBeInstanceOf(UndecodablePayload);
    expect(bad).toMatchObject({ encoding: 'json/plain' });
    const unknown = payloadConverter.fromPayload({
      metadata: { encoding: bytes('x/evil') },
      data: bytes('AA'),
    });
    expect(unknown).toMatchObject({ encoding: 'x/evil' });
    expect(() =>
      defaultPayloadConverter.fromPayload({ metadata: { encoding: bytes('x/evil') }, data: bytes('AA') }),
    ).toThrow();
  });
});

describe('rollout lock ids', () => {
  it('name one lock per model and target, whatever the spelling of the URL', () => {
    const id = rolloutLockIdFor('fraud', 'http://127.0.0.1:8080');
    expect(id).toMatch(/^rollout-lock\/fraud\/[0-9a-f]{14}$/);
    expect(rolloutLockIdFor('fraud', 'HTTP://127.0.0.1:8080/')).toBe(id);
    expect(rolloutLockIdFor('fraud', 'http://127.0.0.1:8081')).not.toBe(id);
    expect(rolloutLockIdFor('churn', 'http://127.0.0.1:8080')).not.toBe(id);
    expect(normaliseTarget(' https://GW.example/Prefix/ ')).toBe('https://gw.example/Prefix');
  });
});
