/**
 * Numbers in verdict messages: four decimals at most, trailing zeros dropped (`0.8`, `0.9194`,
 * `-0.0123`), and two significant digits for tiny non-zero values so a small Δ never prints as `0`.
 */
export function formatStat(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 0.001) return x.toPrecision(2);
  return String(Number(x.toFixed(4)));
}
