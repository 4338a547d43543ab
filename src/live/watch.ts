import { z } from 'zod';
import { ProgradeError } from '../errors';
import { type GateVerdict, type VerdictStatus } from '../promotion/verdict';
import { type StatsSnapshot } from '../promotion/stats-snapshot';
import { type MetricsProvider } from './providers/types';
import type { HoldoutScores } from '../promotion/contracts';
import { type CanaryAnalysis, type Shadow } from '../spec/schema';
import { alphaSpent, analysisMode } from './alpha-spending';
import { judgeCanary } from './canary-judge';
import { judgeShadow } from './shadow-judge';
import { appendTick, resumedTicks, tickOf } from './timeline';

/**
 * The watch loops behind the shadow and canary activities: fetch the window of one routing generation,
 * judge it, heartbeat, sleep, until the verdict is final or the deadline passes.
 *
 * - A failed verdict returns at once, whatever the deadline: a clear fail rolls back now.
 * - The deadline is absolute and travels in the heartbeat details, so an attempt that resumes after a
 *   worker crash continues to the deadline the first attempt set instead of starting a fresh bake.
 *   A fresh attempt sets it to now + durationMs and heartbeats it before the first fetch.
 * - The verdict is returned as the judges built it: their evidence holds counts and percentiles only,
 *   because it is stored in workflow history.
 * - Stats errors propagate with their retry class (an unreachable gateway is retryable; the activity's
 *   retry resumes from the last heartbeat, deadline included).
 */

/**
 * Where the loops read their windows: a metrics provider (src/live/providers/types.ts documents the
 * contract). The gateway's own statistics (`GatewayAdminClient`) are the default; Prometheus is the
 * other (`providerFor` picks one from `canary.analysis.provider`). The shadow watch always reads the
 * gateway: its checks compare the two answers row by row, which no aggregate metric holds.
 */
export type StatsSource = MetricsProvider;

export const WatchHeartbeat = z.object({
  kind: z.enum(['shadow', 'canary']),
  model: z.string(),
  generation: z.number().int(),
  /** Judgements made so far, across attempts. */
  tick: z.number().int().min(0),
  deadlineMs: z.number(),
  lastVerdict: z
    .object({ status: z.enum(['passed', 'failed', 'inconclusive']), summary: z.string() })
    .optional(),
  /** The judgements so far (timeline.ts), so a resumed watch keeps the ones before the crash. */
  ticks: z.array(z.unknown()).optional(),
});
export type WatchHeartbeat = z.infer<typeof WatchHeartbeat>;

export interface WatchDeps {
  /** The metrics provider (named `admin` since the gateway's admin client was the only one). */
  readonly admin: StatsSource;
  heartbeat(details: WatchHeartbeat): void;
  /** Resolves after `ms`; may reject or resolve early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  now(): number;
  readonly signal?: AbortSignal;
  /** Heartbeat details of a previous attempt (Temporal's `heartbeatDetails`); anything else is ignored. */
  readonly resumeFrom?: unknown;
}

interface WatchParamsBase {
  readonly model: string;
  readonly generation: number;
  /** When the generation was applied; the stats window starts here. */
  readonly startedAtMs: number;
  /** How long to watch from the first attempt's start. */
  readonly durationMs: number;
}

export interface ShadowWatchParams extends WatchParamsBase {
  readonly shadow: Shadow;
  /** Both models' holdout score sketches, for the train/serve skew check (src/live/skew.ts). */
  readonly reference?: HoldoutScores;
  /** Default 1 s. */
  readonly intervalMs?: number;
}

export interface CanaryWatchParams extends WatchParamsBase {
  readonly analysis: CanaryAnalysis;
  /**
   * Tests the spec's alpha is spread over: `plannedTests(canary, mode)` of the whole canary, every look
   * in bonferroni mode, every window in sequential mode (see alpha-spending.ts).
   */
  readonly looks: number;
  /**
   * Return as soon as the verdict passes (analysis steps, extensions, sequential bakes); otherwise
   * watch to the deadline. A failed verdict always returns at once.
   */
  readonly stopWhenConclusive?: boolean;
  /** A pass returns early only once this long has passed since startedAtMs: a bake's minimum. */
  readonly minDurationMs?: number;
}

export interface CanaryWatchResult {
  readonly verdict: GateVerdict;
  /** Judgements made, across attempts. */
  readonly ticks: number;
  /** True when the loop returned before its deadline (a failure, or a conclusive analysis). */
  readonly endedEarly: boolean;
  /** Length of the judged window: last judgement time − startedAtMs. */
  readonly elapsedMs: number;
}

export class WatchCancelledError extends ProgradeError {
  override readonly name = 'WatchCancelledError';
  constructor(kind: 'shadow' | 'canary', model: string, generation: number, ticks: number) {
    super(
      'LIVE_WATCH_CANCELLED',
      `${kind} watch of '${model}' generation ${generation} was cancelled after ${ticks} judgement(s)`,
      'terminal',
      { kind, model, generation, ticks },
    );
  }
}

const SHADOW_INTERVAL_MS = 1000;

export async function watchShadow(deps: WatchDeps, params: ShadowWatchParams): Promise<GateVerdict> {
  const result = await watch(deps, {
    kind: 'shadow',
    params,
    intervalMs: params.intervalMs ?? SHADOW_INTERVAL_MS,
    // The shadow ends as soon as it is judged: ready and passed (or failed, handled by the loop).
    judge: (stats, nowMs) => {
      const j = judgeShadow(
        stats,
        params.shadow,
        nowMs - params.startedAtMs,
        params.reference ? { reference: params.reference } : {},
      );
      return { verdict: j.verdict, stop: j.ready && j.verdict.status === 'passed' };
    },
  });
  return result.verdict;
}

/**
 * The canary watch. In sequential mode every tick is judged by the anytime-valid checks, and the
 * deadline's look is the watch's last: a check still undecided there passes when its point estimate
 * is within the margin (`lastLook`), since the e-process that would fail it never crossed; one that
 * leans beyond the margin stays inconclusive and the workflow applies onInconclusive.
 */
export function watchCanary(deps: WatchDeps, params: CanaryWatchParams): Promise<CanaryWatchResult> {
  const perTest = alphaSpent(params.analysis, params.looks);
  const mode = analysisMode(params.analysis);
  const earliestPassMs = params.startedAtMs + (params.minDurationMs ?? 0);
  return watch(deps, {
    kind: 'canary',
    params,
    intervalMs: params.analysis.interval,
    judge: (stats, nowMs, final) => {
      const lastLook = mode === 'sequential' && final;
      // The confidence sequences' ends are evidence, not decisions, and cost a bisection each: a tick
      // that goes on needs none, and the look that ends the watch judges again with them.
      const verdict = judgeCanary(stats, perTest, { mode, lastLook, sequential: { bounds: false } });
      const stop =
        params.stopWhenConclusive === true && verdict.status === 'passed' && nowMs >= earliestPassMs;
      const ends = stop || final || verdict.status === 'failed';
      if (!ends || mode !== 'sequential') return { verdict, stop };
      return { verdict: judgeCanary(stats, perTest, { mode, lastLook }), stop };
    },
  });
}

interface LoopSpec {
  readonly kind: 'shadow' | 'canary';
  readonly params: WatchParamsBase;
  readonly intervalMs: number;
  /** `final`: this is the look at (or past) the deadline, the watch's last. */
  judge(stats: StatsSnapshot, nowMs: number, final: boolean): { verdict: GateVerdict; stop: boolean };
}

async function watch(deps: WatchDeps, spec: LoopSpec): Promise<CanaryWatchResult> {
  const { kind, params } = spec;
  const { model, generation } = params;
  const resumed = resumeState(deps.resumeFrom, kind, model, generation);
  const deadlineMs = resumed?.deadlineMs ?? deps.now() + params.durationMs;
  let ticks = resumed?.tick ?? 0;
  let last: { status: VerdictStatus; summary: string } | undefined = resumed?.lastVerdict;
  let timeline = resumedTicks(resumed?.ticks);
  const beat = (): void =>
    deps.heartbeat({
      kind,
      model,
      generation,
      tick: ticks,
      deadlineMs,
      ...(last !== undefined ? { lastVerdict: last } : {}),
      ...(timeline.length > 0 ? { ticks: timeline } : {}),
    });
  const cancelled = (): WatchCancelledError => new WatchCancelledError(kind, model, generation, ticks);

  beat();
  for (;;) {
    if (deps.signal?.aborted) throw cancelled();
    const stats = await untilAborted(
      deps.admin.stats(model, { generation, sinceMs: params.startedAtMs }),
      deps.signal,
      cancelled,
    );
    const nowMs = deps.now();
    const judged = spec.judge(stats, nowMs, nowMs >= deadlineMs);
    const { stop } = judged;
    ticks += 1;
    timeline = appendTick(timeline, tickOf(stats, judged.verdict, nowMs, ticks));
    const source = deps.admin.kind;
    const verdict = {
      ...judged.verdict,
      ...(source !== undefined && source !== 'gateway'
        ? { summary: `${judged.verdict.summary} (metrics from ${source})` }
        : {}),
      ticks: timeline,
    };
    last = { status: verdict.status, summary: verdict.summary };
    beat();
    const result = { verdict, ticks, elapsedMs: nowMs - params.startedAtMs };
    if (verdict.status === 'failed' || stop) return { ...result, endedEarly: nowMs < deadlineMs };
    if (nowMs >= deadlineMs) return { ...result, endedEarly: false };
    await untilAborted(
      deps.sleep(Math.min(spec.intervalMs, deadlineMs - nowMs), deps.signal),
      deps.signal,
      cancelled,
    );
  }
}

function resumeState(
  details: unknown,
  kind: 'shadow' | 'canary',
  model: string,
  generation: number,
): WatchHeartbeat | undefined {
  const parsed = WatchHeartbeat.safeParse(details);
  if (!parsed.success) return undefined;
  const d = parsed.data;
  // Details of another phase or generation describe a different deadline: start afresh.
  return d.kind === kind && d.model === model && d.generation === generation ? d : undefined;
}

/** Settles with `work`, or rejects with `cancelled()` as soon as `signal` aborts. */
async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  cancelled: () => Error,
): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    throw cancelled();
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } catch (e) {
    if (signal.aborted) {
      work.catch(() => undefined);
      throw cancelled();
    }
    throw e;
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** A `sleep` for `WatchDeps`: resolves after `ms`, or early (without error) when `signal` aborts. */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
