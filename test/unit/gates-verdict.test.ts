import { describe, expect, it } from 'vitest';
import { combine } from '../../src/promotion/verdict';

describe('combine', () => {
  it('says "no checks configured" for a gate with no checks, which passes vacuously', () => {
    const v = combine('performance', []);
    expect(v.status).toBe('passed');
    expect(v.summary).toBe('performance: no checks configured');
  });
});
