import type { Canary, CanaryAnalysis } from '../spec/schema';

/**
 * Alpha spending for the canary: the spec's significance levels bound the false-rollback rate of a
 * healthy candidate over the whole canary, not per look and not per step.
 *
 * A bake judges its window every tick and stops at the first significant failure, and a canary has
 * several bakes, each of which may be extended when inconclusive. Testing every look at the spec's
 * alpha fails healthy canaries far more often than alpha says; spending it per bake still multiplies
 * it by the number of steps and extensions (this suite once rolled back about one healthy canary in
 * ten that way). Bonferroni over every look the canary may take keeps the whole rollout's
 * false-failure rate per check at or below the spec's alpha. It is conservative when windows overlap,
 * and cheap: a real failure (a 30 % NaN rate, a 3× slowdown) drives p-values many orders of
 * magnitude below the corrected level within a tick or two.
 *
 * With the anytime-valid sequential analysis (`judgeCanary(…, { mode: 'sequential' })`) looks are free:
 * each check's e-process may be judged at every tick of a step's window, through its extensions and
 * resumptions, and still crosses 1/α with probability at most α (Ville's inequality; see
 * src/stats/sequential.ts). A new window starts with every bake or analysis step (a new routing
 * generation), and each window is a new test, so Bonferroni is then over windows only
 * (`plannedWindows`), not over looks: 3 windows instead of 36 looks for the test suite's canary.
 *
 * Pure and free of I/O, so the workflow computes it from the spec and hands the spent levels to each
 * watch activity.
 */

/**
 * Every look the canary's analysis may take. A watch judges at its start, every interval after, and
 * once more at its deadline, so a watch of `d` ms takes ceil(d / interval) + 1 looks; each bake or analysis
 * step is one watch at full length plus `maxExtensions` watches of `extendBy`. A watch resumed after
 * an operator's pause judges a few more times than planned; those looks are not counted, since a
 * person is already watching the rollout then.
 */
export function plannedLooks(canary: Canary): number {
  const { interval, onInconclusive } = canary.analysis;
  const looksOf = (watchMs: number): number => Math.ceil(watchMs / interval) + 1;
  const extensions = onInconclusive.maxExtensions * looksOf(onInconclusive.extendBy);
  let looks = 0;
  for (const step of canary.steps) {
    if ('bake' in step) looks += looksOf(step.bake) + extensions;
    else if ('analysis' in step) looks += looksOf(step.analysis.maxDuration) + extensions;
  }
  return Math.max(1, looks);
}

/**
 * Windows the canary's analysis judges: one per bake or analysis step, each from the step's start
 * through its extensions. The divisor of the sequential analysis.
 */
export function plannedWindows(canary: Canary): number {
  const windows = canary.steps.filter((step) => 'bake' in step || 'analysis' in step).length;
  return Math.max(1, windows);
}

/**
 * The analysis mode a spec asks for. Specs parsed before the mode existed (workflow histories started
 * then) have none and keep the design they were started with, 'bonferroni'.
 */
export function analysisMode(analysis: CanaryAnalysis): 'bonferroni' | 'sequential' {
  return (analysis as { mode?: 'bonferroni' | 'sequential' }).mode ?? 'bonferroni';
}

/** The divisor for an analysis mode: every look for 'bonferroni', every window for 'sequential'. */
export function plannedTests(canary: Canary, mode: 'bonferroni' | 'sequential'): number {
  return mode === 'sequential' ? plannedWindows(canary) : plannedLooks(canary);
}

/** The analysis with every significance level divided by `looks` (or by windows, for the sequential mode). */
export function alphaSpent(analysis: CanaryAnalysis, looks: number): CanaryAnalysis {
  if (!Number.isInteger(looks) || looks < 1)
    throw new RangeError(`looks must be a positive integer, got ${looks}`);
  return {
    ...analysis,
    errorRateAlpha: analysis.errorRateAlpha / looks,
    latency: { ...analysis.latency, alpha: analysis.latency.alpha / looks },
    prediction: { ...analysis.prediction, ksAlpha: analysis.prediction.ksAlpha / looks },
  };
}
