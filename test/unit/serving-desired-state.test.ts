import { describe, expect, it } from 'vitest';
import { decidePut, RoutingPut, type AppliedRouting } from '../../src/serving/desired-state';

const applied: AppliedRouting = {
  generation: 3,
  spec: { stable: { version: '1' }, canary: { version: '2', weight: 10 }, retain: ['0'] },
  appliedAt: '2026-01-01T00:00:00.000Z',
};

describe('desired-state routing – generations', () => {
  it('applies the first PUT of a model', () => {
    expect(decidePut(undefined, RoutingPut.parse({ generation: 1, stable: { version: '1' } }))).toEqual({
      kind: 'apply',
    });
  });

  it('treats a repeat of the applied state as unchanged, whatever the field order or retain order', () => {
    const put = RoutingPut.parse({
      retain: ['0', '0'],
      canary: { weight: 10, version: 2 },
      stable: { version: '1' },
      generation: 3,
    });
    expect(decidePut(applied, put)).toEqual({ kind: 'unchanged' });
  });

  it('refuses the same generation with a different body', () => {
    const put = RoutingPut.parse({
      generation: 3,
      stable: { version: '1' },
      canary: { version: '2', weight: 25 },
      retain: ['0'],
    });
    expect(decidePut(applied, put)).toMatchObject({
      kind: 'conflict',
      reason: expect.stringMatching(/already applied with a different routing/) as unknown,
    });
  });

  it('refuses an older generation even with the same body', () => {
    const put = RoutingPut.parse({
      generation: 2,
      stable: { version: '1' },
      canary: { version: '2', weight: 10 },
      retain: ['0'],
    });
    expect(decidePut(applied, put)).toEqual({
      kind: 'conflict',
      reason: 'generation 2 is older than the applied generation 3',
    });
  });

  it('applies a higher generation, even with the same body', () => {
    const put = RoutingPut.parse({
      generation: 4,
      stable: { version: '1' },
      canary: { version: '2', weight: 10 },
      retain: ['0'],
    });
    expect(decidePut(applied, put)).toEqual({ kind: 'apply' });
  });

  it('rejects generations below 1 and non-integers at the boundary', () => {
    expect(RoutingPut.safeParse({ generation: 0, stable: { version: '1' } }).success).toBe(false);
    expect(RoutingPut.safeParse({ generation: 1.5, stable: { version: '1' } }).success).toBe(false);
    expect(RoutingPut.safeParse({ stable: { version: '1' } }).success).toBe(false);
  });
});
