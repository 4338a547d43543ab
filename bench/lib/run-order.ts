/**
 * The order systems run in within one round of an interleaved benchmark, balanced for carry-over.
 *
 * Rotating one fixed order (A B C D, then B C D A, …) moves every system to every position but never
 * changes who runs just before whom: D always follows C. What a system leaves behind (a Python
 * server's two worker processes settling, caches filled with another process's data) then always
 * lands on the same successor. In serving-compare the gateway always ran right after
 * `mlflow models serve -w 2`, and the bare server right after the gateway. A Williams design fixes
 * that: over its rows every system follows every other equally often (n rows for an even number of
 * systems, 2n for an odd one), and each is still first, second, … equally often.
 */
export function balancedOrder<T>(items: readonly T[], round: number): T[] {
  const n = items.length;
  if (n <= 1) return [...items];
  // 0, 1, n-1, 2, n-2, …: consecutive differences take every value 1..n-1 once (mod n).
  const base: number[] = [0];
  for (let k = 1; base.length < n; k++) {
    base.push(k);
    if (base.length < n) base.push(n - k);
  }
  const rows = n % 2 === 0 ? n : 2 * n;
  const row = ((round % rows) + rows) % rows;
  const shifted = base.map((b) => (b + row) % n);
  const order = row < n ? shifted : base.map((b) => (b + row - n) % n).reverse();
  return order.map((i) => items[i] as T);
}
