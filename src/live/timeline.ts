import { z } from 'zod';
import { latencySamples, type StatsSnapshot } from '../promotion/stats-snapshot';
import type { GateVerdict, LiveTick, LiveVariantTick } from '../promotion/verdict';
import { evenSubsample, round, summarize } from './evidence';

/**
 * The watch's judgements over time, kept with its verdict so the attempt's MLflow run can chart the
 * canary tick by tick (src/records/run-metrics.ts) without a write to MLflow per tick. A watch may
 * judge every second for a day, and the verdict is stored in workflow history, so the list is
 * thinned to at most MAX_TICKS judgements spread evenly over the whole watch (`appendTick`).
 */

export const MAX_TICKS = 60;

/** Latency percentiles per tick are computed on at most this many samples of the window. */
const LATENCY_SAMPLE = 2000;

export const LiveTickSchema = z.object({
  at: z.number(),
  tick: z.number().int(),
  status: z.enum(['passed', 'failed', 'inconclusive']),
  variants: z.partialRecord(
    z.enum(['stable', 'canary', 'shadow']),
    z.object({
      n: z.number(),
      errorRate: z.number(),
      p50: z.number().optional(),
      p99: z.number().optional(),
    }),
  ),
  agreement: z.number().optional(),
  checks: z.record(z.string(), z.number()),
});

function variantTick(w: NonNullable<StatsSnapshot['variants']['stable']>): LiveVariantTick {
  const s = summarize(evenSubsample(latencySamples(w), LATENCY_SAMPLE));
  return {
    n: w.requests,
    errorRate: w.requests === 0 ? 0 : round(w.errors / w.requests, 6),
    ...(s.p50 === undefined ? {} : { p50: s.p50 }),
    ...(s.p99 === undefined ? {} : { p99: s.p99 }),
  };
}

export function tickOf(stats: StatsSnapshot, verdict: GateVerdict, at: number, tick: number): LiveTick {
  const variants: Partial<Record<'stable' | 'canary' | 'shadow', LiveVariantTick>> = {};
  for (const name of ['stable', 'canary', 'shadow'] as const) {
    const w = stats.variants[name];
    if (w) variants[name] = variantTick(w);
  }
  const cmp = stats.shadowComparison;
  const checks: Record<string, number> = {};
  for (const c of verdict.checks)
    if (c.value !== undefined && Number.isFinite(c.value)) checks[c.name] = round(c.value, 6);
  return {
    at,
    tick,
    status: verdict.status,
    variants,
    ...(cmp.observedPairs > 0 ? { agreement: round(cmp.agreements / cmp.observedPairs, 6) } : {}),
    checks,
  };
}

/**
 * Appends a judgement. Judgement k is kept while k is a multiple of the stride, the smallest power of
 * two that keeps at most MAX_TICKS − 1 of them; the newest is kept too. The stride doubles as the watch
 * goes on, so the kept ticks stay evenly spread over the whole watch.
 */
export function appendTick(ticks: readonly LiveTick[], next: LiveTick, max = MAX_TICKS): LiveTick[] {
  let stride = 1;
  while (Math.floor(next.tick / stride) > max - 1) stride *= 2;
  return [...ticks, next].filter((t) => t === next || t.tick % stride === 0);
}

/** Ticks carried in a previous attempt's heartbeat; anything malformed is dropped. */
export function resumedTicks(raw: unknown): LiveTick[] {
  const parsed = z.array(LiveTickSchema).safeParse(raw);
  return parsed.success ? (parsed.data as LiveTick[]) : [];
}
