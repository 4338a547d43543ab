import type { CheckPlan, TrafficProfile } from './sample-size';

/** The planner's warnings and durations in words (sample-size.ts): what `promote` prints before a canary. */

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** A duration for people: 45 s, 12 min, 3.5 h, 2.1 d. */
export function humanMs(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${round(ms / 3_600_000)} h`;
  return `${round(ms / 86_400_000)} d`;
}

/** Why step `index` cannot decide within its maximum, as one line; none when it can. */
export function stepWarnings(
  index: number,
  weight: number,
  maxMs: number,
  traffic: TrafficProfile,
  checks: readonly CheckPlan[],
): string[] {
  const where = `step ${index + 1} (${weight} %, at most ${humanMs(maxMs)})`;
  const tail =
    'checks still undecided at the maximum are judged on their point estimates, then by onInconclusive';
  if (traffic.requestsPerSecond <= 0)
    return [`${where}: the model had no traffic, so no check can decide; ${tail}`];
  if (weight <= 0) return [`${where}: the canary gets no traffic at 0 %, so no check can decide`];
  const late = (ms: number | null): boolean => ms === null || ms > maxMs;
  const needs = (ms: number | null): string => (ms === null ? 'never' : humanMs(ms));
  const slow = checks.filter((c) => late(c.nonInferiorMs));
  const missed = checks.filter((c) => c.regression !== null && late(c.regressionMs));
  if (slow.length === 0 && missed.length === 0) return [];
  const parts = [
    ...(slow.length > 0
      ? [
          `showing a healthy candidate non-inferior needs ${slow.map((c) => `${needs(c.nonInferiorMs)} (${c.name})`).join(', ')}`,
        ]
      : []),
    ...missed.map((c) => `${c.regression} would fail ${c.name} after ${needs(c.regressionMs)}`),
  ];
  return [
    `${where}: ${round(traffic.requestsPerSecond)} requests/s are too few to decide within the maximum: ${parts.join('; ')}; ${tail}`,
  ];
}
