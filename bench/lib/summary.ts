import { quantileSorted } from '../../src/stats/quantile';

/** Latency distribution of one load run, in milliseconds. */
export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarizeLatencies(values: Float64Array): LatencySummary {
  if (values.length === 0) return { p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: quantileSorted(sorted, 0.5),
    p95: quantileSorted(sorted, 0.95),
    p99: quantileSorted(sorted, 0.99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/** Median and range of the repetitions of one benchmark point. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
}

export function spreadOf(runs: readonly number[]): Spread {
  const finite = runs.filter(Number.isFinite);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, runs };
  const sorted = Float64Array.from(finite).sort();
  return {
    median: quantileSorted(sorted, 0.5),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    runs,
  };
}

function fixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toFixed(digits);
}

/** `median (min–max)`; digits chosen by magnitude so small latencies keep their resolution. */
export function formatSpread(s: Spread, digits?: number): string {
  const d = digits ?? (Math.abs(s.median) >= 100 ? 0 : Math.abs(s.median) >= 10 ? 1 : 2);
  if (s.runs.length <= 1 || s.min === s.max) return fixed(s.median, d);
  return `${fixed(s.median, d)} (${fixed(s.min, d)}–${fixed(s.max, d)})`;
}

export const MIB = 1024 * 1024;
