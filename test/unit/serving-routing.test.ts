import { describe, expect, it } from 'vitest';
import {
  BUCKETS,
  bucketOf,
  canonicalSpec,
  referencedVersions,
  route,
  RoutingSpec,
  sameSpec,
  shouldShadow,
} from '../../src/serving/routing';

const isCanary = (d: ReturnType<typeof route>): boolean => d.kind === 'routed' && d.variant === 'canary';
const spec = (weight: number): RoutingSpec => ({
  stable: { version: '1' },
  canary: { version: '2', weight },
});

describe('routing – bucket of a routing key', () => {
  it('is stable for a key and model (pinned values survive restarts and releases)', () => {
    expect(bucketOf('credit', 'user-1')).toBe(bucketOf('credit', 'user-1'));
    // Pinned (= sha256("credit\0user-1")[0..4] big-endian mod 10000, computed with Python's hashlib):
    // a change of hash would silently move every sticky user.
    expect([bucketOf('credit', 'user-1'), bucketOf('credit', 'user-2'), bucketOf('fraud', 'user-1')]).toEqual(
      [2587, 5637, 9405],
    );
  });

  it('spreads 20 000 keys evenly over 10 buckets of 1000', () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const b = bucketOf('credit', `key-${i}`);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(BUCKETS);
      counts[Math.floor(b / 1000)] = (counts[Math.floor(b / 1000)] ?? 0) + 1;
    }
    // Each decile ~ Binomial(20000, 0.1): sd ≈ 42; chi-square with 9 dof stays under 33 at p = 1e-4.
    const chi2 = counts.reduce((a, c) => a + (c - 2000) ** 2 / 2000, 0);
    expect(chi2).toBeLessThan(33);
  });

  it('mixes in the model, so one key is not in every canary at once', () => {
    let same = 0;
    for (let i = 0; i < 1000; i++)
      if (bucketOf('a', `k${i}`) < 2000 === bucketOf('b', `k${i}`) < 2000) same += 1;
    // Independent 20 % splits agree on 0.2² + 0.8² = 68 % of keys, not 100 %.
    expect(same).toBeLessThan(760);
  });
});

describe('routing – variant choice', () => {
  it('sends everything to stable without a canary or at weight 0', () => {
    expect(route({ stable: { version: '1' } }, { model: 'm', random: 0 })).toEqual({
      kind: 'routed',
      variant: 'stable',
      version: '1',
    });
    expect(route(spec(0), { model: 'm', random: 0 })).toMatchObject({ variant: 'stable' });
  });

  it('sends everything to the canary at weight 100', () => {
    expect(route(spec(100), { model: 'm', random: 0.9999 })).toEqual({
      kind: 'routed',
      variant: 'canary',
      version: '2',
    });
  });

  it('splits random draws at the weight', () => {
    expect(route(spec(25), { model: 'm', random: 0.2499 })).toMatchObject({ variant: 'canary' });
    expect(route(spec(25), { model: 'm', random: 0.25 })).toMatchObject({ variant: 'stable' });
  });

  it('routes a key by its bucket, and never back to stable as the weight grows', () => {
    const keys = Array.from({ length: 500 }, (_, i) => `u${i}`);
    let previous = new Set<string>();
    for (const weight of [1, 5, 10, 25, 50, 100]) {
      const inCanary = new Set(
        keys.filter((k) => isCanary(route(spec(weight), { model: 'm', routingKey: k, random: 0 }))),
      );
      for (const k of previous) expect(inCanary.has(k)).toBe(true);
      previous = inCanary;
    }
    expect(previous.size).toBe(500);
  });

  it('ignores the random draw when a routing key is given', () => {
    const a = route(spec(50), { model: 'm', routingKey: 'same', random: 0 });
    const b = route(spec(50), { model: 'm', routingKey: 'same', random: 0.999 });
    expect(a).toEqual(b);
  });

  it('obeys a forced variant, and reports a forced canary that does not exist', () => {
    expect(route(spec(100), { model: 'm', force: 'stable', random: 0 })).toMatchObject({ variant: 'stable' });
    expect(route(spec(0), { model: 'm', force: 'canary', random: 0.9 })).toMatchObject({
      variant: 'canary',
      version: '2',
    });
    expect(route({ stable: { version: '1' } }, { model: 'm', force: 'canary', random: 0 })).toEqual({
      kind: 'no-canary',
    });
  });

  it('samples shadow copies at sampleRate percent', () => {
    const s: RoutingSpec = { stable: { version: '1' }, shadow: { version: '3', sampleRate: 10 } };
    expect(shouldShadow(s, 0.0999)).toBe(true);
    expect(shouldShadow(s, 0.1)).toBe(false);
    expect(shouldShadow({ stable: { version: '1' } }, 0)).toBe(false);
  });
});

describe('routing – spec', () => {
  it('accepts numeric versions as strings and rejects weights outside 0–100', () => {
    expect(RoutingSpec.parse({ stable: { version: 7 } })).toEqual({ stable: { version: '7' } });
    expect(
      RoutingSpec.safeParse({ stable: { version: '1' }, canary: { version: '2', weight: 101 } }).success,
    ).toBe(false);
    expect(RoutingSpec.safeParse({ stable: { version: '../etc' } }).success).toBe(false);
    expect(RoutingSpec.safeParse({ stable: { version: '1' }, extra: true }).success).toBe(false);
  });

  it('compares specs canonically: retain order and duplicates do not matter', () => {
    expect(
      sameSpec(
        { stable: { version: '1' }, retain: ['3', '2', '3'] },
        { stable: { version: '1' }, retain: ['2', '3'] },
      ),
    ).toBe(true);
    expect(sameSpec({ stable: { version: '1' }, retain: [] }, { stable: { version: '1' } })).toBe(true);
    expect(sameSpec(spec(10), spec(11))).toBe(false);
    expect(canonicalSpec({ stable: { version: '1' }, retain: [] })).toEqual({ stable: { version: '1' } });
  });

  it('lists the versions to keep loaded, shadow ones separately', () => {
    const refs = referencedVersions({
      stable: { version: '1' },
      canary: { version: '2', weight: 5 },
      shadow: { version: '3', sampleRate: 5 },
      retain: ['0'],
    });
    expect([...refs.serving].sort()).toEqual(['0', '1', '2']);
    expect([...refs.shadow]).toEqual(['3']);
  });
});
