import { describe, expect, it } from 'vitest';
import { balancedOrder } from '../../bench/lib/run-order';

describe('balanced run order (Williams design)', () => {
  for (const n of [2, 3, 4, 5, 6]) {
    it(`with ${n} systems, every system follows every other equally often and holds every position`, () => {
      const items = Array.from({ length: n }, (_, i) => i);
      const rows = n % 2 === 0 ? n : 2 * n;
      const follows = new Map<string, number>();
      const positions = new Map<string, number>();
      for (let r = 0; r < rows; r++) {
        const order = balancedOrder(items, r);
        expect([...order].sort((a, b) => a - b)).toEqual(items);
        order.forEach((x, p) => positions.set(`${x}@${p}`, (positions.get(`${x}@${p}`) ?? 0) + 1));
        for (let p = 1; p < n; p++) {
          const key = `${order[p - 1]}→${order[p]}`;
          follows.set(key, (follows.get(key) ?? 0) + 1);
        }
      }
      expect(follows.size).toBe(n * (n - 1));
      expect(new Set(follows.values()).size).toBe(1);
      expect(positions.size).toBe(n * n);
      expect(new Set(positions.values()).size).toBe(1);
    });
  }

  it('repeats its rows after a full square, and leaves one system alone', () => {
    expect(balancedOrder(['a', 'b', 'c', 'd'], 5)).toEqual(balancedOrder(['a', 'b', 'c', 'd'], 1));
    expect(balancedOrder(['a'], 3)).toEqual(['a']);
  });
});
