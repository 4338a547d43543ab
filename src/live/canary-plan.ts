import { messageOf } from '../errors';
import { type StatsSnapshot } from '../promotion/stats-snapshot';
import { type PromotionSpec } from '../spec/schema';
import { humanMs, planCanary, type CanaryPlan, type TrafficProfile } from './sample-size';
import { type StatsSource } from './watch';

/**
 * The CLI's view of sample-size planning (`prograde promote`, `prograde status`): the model's traffic as
 * the gateway measured it over the last minutes, the plan of sample-size.ts for the spec's canary, and
 * the lines to print. Planning is advice: any failure to read the traffic is one line saying why, never
 * an error of the command.
 */

/** How far back the traffic rate is measured. */
const TRAFFIC_WINDOW_MS = 10 * 60_000;
/** A log-latency spread to assume when the gateway has no latencies yet (wider than typical: slower plans). */
const ASSUMED_LATENCY_LOG_SD = 0.5;

export interface ObservedTraffic extends TrafficProfile {
  /** Requests the rate was measured on, and over how long. */
  readonly requests: number;
  readonly windowMs: number;
  readonly latencyAssumed: boolean;
}

/**
 * The model's traffic in one stats window: every request the caller sent (stable and canary; a shadow
 * copies them), the serving version's error rate and log-latency spread.
 */
export function trafficOf(stats: StatsSnapshot): ObservedTraffic {
  const { stable, canary } = stats.variants;
  const requests = (stable?.requests ?? 0) + (canary?.requests ?? 0);
  const windowMs = Math.max(1, stats.windowEndMs - stats.windowStartMs);
  const logs = (stable?.latencyMs ?? []).filter((x) => Number.isFinite(x) && x > 0).map(Math.log);
  const mean = logs.reduce((s, x) => s + x, 0) / Math.max(1, logs.length);
  const sd =
    logs.length >= 20
      ? Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (logs.length - 1))
      : ASSUMED_LATENCY_LOG_SD;
  return {
    requestsPerSecond: (requests * 1000) / windowMs,
    errorRate: stable && stable.requests > 0 ? stable.errors / stable.requests : 0,
    latencyLogSd: sd,
    ...(logs.length >= 20 ? { latencyMedianMs: Math.exp(mean) } : {}),
    requests,
    windowMs,
    latencyAssumed: logs.length < 20,
  };
}

export async function observeTraffic(
  source: StatsSource,
  model: string,
  nowMs: number = Date.now(),
): Promise<ObservedTraffic> {
  return trafficOf(await source.stats(model, { sinceMs: nowMs - TRAFFIC_WINDOW_MS }));
}

export function planLines(plan: CanaryPlan, traffic: ObservedTraffic): string[] {
  const lines = [
    `canary plan (${plan.mode}; ${Math.round(traffic.requestsPerSecond * 10) / 10} requests/s over the last ${humanMs(traffic.windowMs)}, error rate ${(100 * traffic.errorRate).toFixed(2)} %${traffic.latencyAssumed ? ', latency spread assumed' : ''}; power ${plan.power}):`,
  ];
  for (const s of plan.steps) {
    const bounds =
      s.minMs === s.maxMs ? `fixed ${humanMs(s.maxMs)}` : `${humanMs(s.minMs)}–${humanMs(s.maxMs)}`;
    const why =
      s.endsBy === 'evidence'
        ? 'once every check is non-inferior'
        : s.nonInferiorMs !== null && plan.mode === 'sequential' && s.minMs === s.maxMs
          ? `fixed bake; non-inferior after ~${humanMs(s.nonInferiorMs)}`
          : plan.mode === 'bonferroni'
            ? 'bonferroni bakes run to their maximum'
            : 'runs to its maximum';
    lines.push(`  step ${s.index + 1} at ${s.weight} % (${bounds}): likely ${humanMs(s.likelyMs)}, ${why}`);
  }
  lines.push(
    `  whole canary: likely ${humanMs(plan.likelyMs)} (at most ${humanMs(plan.maxMs)} before extensions)`,
  );
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return lines;
}

/** The lines `promote` and `status` print for `spec`; one explanatory line when planning cannot run. */
export async function canaryPlanLines(spec: PromotionSpec, source: () => StatsSource): Promise<string[]> {
  if (!spec.canary) return [];
  try {
    const traffic = await observeTraffic(source(), spec.model);
    return planLines(planCanary(spec.canary, traffic), traffic);
  } catch (e) {
    return [`canary plan: not available (the model's traffic could not be read: ${messageOf(e)})`];
  }
}
