import { quantiles } from '../stats/quantile';

/**
 * Small helpers shared by the live judges. Verdicts are stored in workflow history, so evidence carries
 * summaries of the window's samples (counts and a few percentiles), never the samples themselves.
 */

/** Rounds for evidence and messages: enough digits to read, few enough to keep history small. */
export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function pct(x: number): string {
  return `${round(x * 100, 2)}%`;
}

/** Finite values only: a NaN latency or score is a gateway bug and must not poison a test statistic. */
export function finite(values: readonly number[]): number[] {
  return values.filter((v) => Number.isFinite(v));
}

export interface SampleSummary {
  readonly n: number;
  readonly p50?: number;
  readonly p95?: number;
  readonly p99?: number;
}

/** n and p50/p95/p99 of a sample (numpy linear quantiles), rounded for evidence. */
export function summarize(values: readonly number[]): SampleSummary {
  if (values.length === 0) return { n: 0 };
  const [p50, p95, p99] = quantiles(values, [0.5, 0.95, 0.99]) as [number, number, number];
  return { n: values.length, p50: round(p50), p95: round(p95), p99: round(p99) };
}

/**
 * At most `max` values spread evenly over the sample. The window lists samples oldest first, so an
 * even stride keeps the whole window represented (a prefix would over-weight warm-up).
 */
export function evenSubsample(values: readonly number[], max: number): readonly number[] {
  if (values.length <= max) return values;
  const out = new Array<number>(max);
  const step = values.length / max;
  for (let i = 0; i < max; i++) out[i] = values[Math.floor(i * step)] as number;
  return out;
}

/** "waiting for samples: canary 12/50, stable 50/50" */
export function waitingMessage(what: string, have: Readonly<Record<string, number>>, need: number): string {
  const parts = Object.entries(have).map(([k, v]) => `${k} ${Math.min(v, need)}/${need}`);
  return `${what}: waiting for samples: ${parts.join(', ')}`;
}

/**
 * Histogram bins for PSI on live windows: 10 (the usual choice) once every bin can expect about 20
 * scores, fewer before that. PSI's small-sample bias is about (bins − 1)·(1/n + 1/m), ≈ 0.36 with 10
 * bins and 50 scores a side, which alone would exceed a 0.2 limit; capping bins keeps that bias near
 * 0.1 or below so a healthy low-traffic canary is not held back by binning noise.
 */
export function psiBins(n: number, m: number): number {
  return Math.min(10, Math.max(2, Math.floor(Math.min(n, m) / 20)));
}
