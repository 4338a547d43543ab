/**
 * Live promotions for the scale benchmark, one at a time on a quiet worker: a real gateway (in this
 * process) serving a champion, background traffic, and a candidate rolled out by the canary steps
 * given. Used for the engine's overhead per step (a zero-bake canary) and for history growth (bakes of
 * different lengths and step counts).
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { startPromotion } from '../../src/client/promotions';
import { ModelCache } from '../../src/mlflow/cache';
import type { PromotionState } from '../../src/promotion/state';
import { usualRows } from '../../src/samples/segments';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';
import { runTraffic } from '../../src/traffic';
import { analyzeHistory, type HistoryAnalysis, type HistoryEvent } from './scale-history';
import {
  liveSpec,
  promotionInput,
  registerVersion,
  type LiveSpecOptions,
  type ScaleStack,
} from './scale-setup';

/** The worker reads the gateway's admin token from its environment; forked workers inherit it. */
export const SCALE_GATEWAY_TOKEN = `scale-${randomUUID()}`;

export async function startScaleGateway(stack: ScaleStack, dir: string): Promise<GatewayHandle> {
  mkdirSync(dir, { recursive: true });
  const gateway = await startGateway({
    source: new MlflowModelSource(stack.mlflow, new ModelCache(stack.mlflow, join(dir, 'cache'))),
    stateDir: dir,
    port: 0,
    host: '127.0.0.1',
    token: SCALE_GATEWAY_TOKEN,
    logger: pino({ level: 'warn' }),
    restoreRetryMs: 500,
    shutdownGraceMs: 2_000,
  });
  await gateway.whenReady();
  return gateway;
}

export interface LiveRun {
  readonly label: string;
  readonly outcome: string;
  readonly reason: string;
  /** Analysis ticks the canary's watches took, from their verdicts ("…, N ticks: …"). */
  readonly ticks: number;
  readonly watches: number;
  readonly extensions: number;
  readonly historyBytes: number;
  readonly analysis: HistoryAnalysis;
  /** Events of each canary step, from its weight change to the next one (or to the promotion). */
  readonly steps: readonly StepEvents[];
}

export interface StepEvents {
  readonly events: number;
  /** Watch activities of the step: one, plus one per extension. */
  readonly watches: number;
  /** Ticks the step's last watch judged (from its verdict). */
  readonly ticks: number;
}

const SCHEDULED = temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED;
const activityName = (e: HistoryEvent): string | undefined =>
  e.eventType === SCHEDULED
    ? (e.activityTaskScheduledEventAttributes?.activityType?.name ?? undefined)
    : undefined;

/**
 * Splits a live history at its routing changes: the k-th canary step runs from the k-th applyRouting
 * to the next one. Only the first `count` steps (the canary's weights) are returned.
 */
export function canarySteps(
  events: readonly HistoryEvent[],
  count: number,
  ticks: readonly number[],
): StepEvents[] {
  const applies = events.flatMap((e, i) => (activityName(e) === 'applyRouting' ? [i] : []));
  const steps: StepEvents[] = [];
  for (let k = 0; k < count && k + 1 < applies.length; k++) {
    const from = applies[k] as number;
    const to = applies[k + 1] as number;
    const watches = events.slice(from, to).filter((e) => activityName(e) === 'watchCanary').length;
    steps.push({ events: to - from, watches, ticks: ticks[k] ?? 0 });
  }
  return steps;
}

export interface LiveContext {
  readonly stack: ScaleStack;
  readonly client: Client;
  readonly gateway: GatewayHandle;
  readonly taskQueue: string;
  readonly holdout: string;
  readonly dir: string;
}

/** One live promotion of a fresh model from a served champion, under `rps` requests/s of traffic. */
export async function runLivePromotion(
  ctx: LiveContext,
  label: string,
  options: LiveSpecOptions,
  rps: number,
  seed: number,
): Promise<LiveRun> {
  const model = `scale-live-${label}-${randomUUID().slice(0, 6)}`;
  const champion = await registerVersion(ctx.stack.mlflow, model, seed, 'champion');
  const admin = new GatewayAdminClient({ baseUrl: ctx.gateway.url, token: SCALE_GATEWAY_TOKEN });
  await admin.putRouting(model, { generation: 1, stable: { version: champion } }, 'bench setup');
  const candidate = await registerVersion(ctx.stack.mlflow, model, seed + 1);
  const abort = new AbortController();
  const traffic =
    rps > 0
      ? runTraffic({
          gatewayUrl: ctx.gateway.url,
          model,
          rps,
          durationMs: 15 * 60_000,
          dataset: usualRows(3000, seed),
          signal: abort.signal,
          requestTimeoutMs: 45_000,
        })
      : undefined;
  try {
    const input = promotionInput(liveSpec(model, ctx.gateway.url, options), candidate, ctx.holdout, ctx.dir);
    const { handle } = await startPromotion(ctx.client, input, ctx.taskQueue);
    const state: PromotionState = await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    const canaryVerdicts = state.gates.filter((g) => g.gate === 'canary');
    const stepTicks = canaryVerdicts.map((g) => Number(/(\d+) ticks/.exec(g.summary)?.[1] ?? 0));
    const ticks = stepTicks.reduce((sum, t) => sum + t, 0);
    const watches = events.filter((e) => activityName(e) === 'watchCanary').length;
    return {
      label,
      outcome: state.outcome ?? 'none',
      reason: state.reason ?? '',
      ticks,
      watches,
      extensions: state.audit.filter((a) => a.kind === 'canary-extended').length,
      historyBytes: temporal.api.history.v1.History.encode({ events }).finish().length,
      analysis: analyzeHistory(events),
      steps: options.bake === undefined ? [] : canarySteps(events, options.weights.length, stepTicks),
    };
  } finally {
    abort.abort();
    await traffic?.catch(() => undefined);
  }
}
