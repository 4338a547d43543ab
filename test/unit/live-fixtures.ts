import { seededRng } from '../../src/samples/rng';
import { NO_SHADOW_COMPARISON, type StatsSnapshot } from '../../src/promotion/stats-snapshot';

/** Builders of gateway stats windows for the live judges' unit tests. */

type Window = NonNullable<StatsSnapshot['variants']['stable']>;

export interface WindowShape {
  readonly version?: string;
  readonly requests: number;
  readonly errors?: number;
  /** Median latency in ms; samples are log-normal around it. */
  readonly latencyMs?: number;
  /** Spread of log latency. */
  readonly latencySigma?: number;
  /** Mean of the score logit; scores are sigmoid(N(logitMean, 1.5)). */
  readonly logitMean?: number;
  readonly seed: number;
}

export function window(shape: WindowShape): Window {
  const rng = seededRng(shape.seed);
  const errors = shape.errors ?? 0;
  const ok = shape.requests - errors;
  const median = shape.latencyMs ?? 10;
  const sigma = shape.latencySigma ?? 0.25;
  const logit = shape.logitMean ?? -1.5;
  return {
    version: shape.version ?? '1',
    requests: shape.requests,
    errors,
    latencyMs: Array.from({ length: shape.requests }, () => median * Math.exp(sigma * rng.normal())),
    // One row per request; errored requests have no finite score, as in the gateway.
    scores: Array.from({ length: ok }, () => 1 / (1 + Math.exp(-(logit + 1.5 * rng.normal())))),
  };
}

export function snapshot(
  variants: StatsSnapshot['variants'],
  comparison: Partial<StatsSnapshot['shadowComparison']> = {},
): StatsSnapshot {
  return {
    model: 'credit',
    generation: 3,
    variants,
    shadowComparison: { ...NO_SHADOW_COMPARISON, ...comparison },
    windowStartMs: 1_000_000,
    windowEndMs: 1_060_000,
  };
}
