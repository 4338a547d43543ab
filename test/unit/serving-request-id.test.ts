import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isSafeRequestId, requestIdOf } from '../../src/serving/request-id';

const req = (id?: string): IncomingMessage =>
  ({ headers: id !== undefined ? { 'x-request-id': id } : {} }) as IncomingMessage;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('keeps a safe id', () => {
    for (const id of [
      'abc',
      'trace-1.2_3',
      '0af7651916cd43dd8448eb211c80319c',
      'a/b:c+d=e@f',
      'x'.repeat(128),
    ])
      expect(requestIdOf(req(id))).toBe(id);
  });

  it('replaces a missing, long or unsafe id with a new UUID', () => {
    for (const id of [
      undefined,
      '',
      'x'.repeat(129),
      'a b',
      'a\tb',
      '<script>',
      'a"b',
      "a'b",
      '-lead',
      'é',
      'a\u2028b',
    ])
      expect(requestIdOf(req(id))).toMatch(UUID);
    expect(requestIdOf(req())).not.toBe(requestIdOf(req()));
    expect(isSafeRequestId('ok-1')).toBe(true);
  });
});
