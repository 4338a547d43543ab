import { Context } from '@temporalio/activity';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GateVerdict } from '../promotion/verdict';
import { adminFor } from '../config/gateway';
import { ProgradeError } from '../errors';
import type { Evaluator } from '../evaluation/evaluator';
import { providerFor } from '../config/metrics-provider';
import type { MetricsProviderSpec } from '../spec/metrics-provider';
import {
  watchCanary as watchCanaryLoop,
  watchShadow as watchShadowLoop,
  type WatchDeps,
} from '../live/watch';
import type {
  ApplyRoutingInput,
  ApplyRoutingOutput,
  ReadRoutingInput,
  ReadRoutingOutput,
  TargetRef,
  WatchCanaryInput,
  WatchCanaryOutput,
  WatchShadowInput,
} from '../promotion/contracts';

export async function readRouting(input: ReadRoutingInput): Promise<ReadRoutingOutput> {
  const view = await adminFor(input.target).getRouting(input.model);
  if (!view) return { generation: 0, routing: null };
  return { generation: view.generation, routing: view.spec };
}

/** How often a routing PUT in flight tells Temporal its worker is alive (the heartbeat timeout is 30 s). */
const ROUTING_HEARTBEAT_MS = 5_000;

/**
 * Desired-state PUT. The workflow picked the generation, so a retry after a lost response repeats the
 * same (generation, body) and the gateway answers `applied: false` instead of changing anything.
 *
 * It heartbeats while the gateway loads and warms up the versions (which may take minutes for a big
 * model): without it, a worker killed mid-PUT left the activity waiting out its 5-minute timeout
 * before the retry, holding a canary's share of traffic (or a rollback) all that time (chaos F2).
 */
export async function applyRouting(input: ApplyRoutingInput): Promise<ApplyRoutingOutput> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), ROUTING_HEARTBEAT_MS);
  try {
    // A replicated target: every replica at once, done when the spec's quorum has it (replica-set.ts).
    const view = await adminFor(input.target).putRouting(
      input.model,
      { ...input.desired, generation: input.generation },
      input.actor,
    );
    return { applied: view.applied ?? true, generation: view.generation };
  } finally {
    clearInterval(beat);
  }
}

/** The shadow reads the gateway; a canary reads the provider its analysis names (gateway by default). */
function watchDeps(target: TargetRef, provider?: MetricsProviderSpec): WatchDeps {
  const ctx = Context.current();
  const replicated = target.replicas !== undefined || target.dns !== undefined;
  let last: unknown = ctx.info.heartbeatDetails;
  const heartbeat = (details: unknown): void => {
    last = details;
    ctx.heartbeat(details);
  };
  const admin =
    replicated && (provider === undefined || provider.type === 'gateway')
      ? holdForQuorum(
          adminFor(target, process.env, {
            onCatchUp: (e) => {
              ctx.log.info('lagging gateway replica caught up', { ...e });
            },
          }),
          ctx.cancellationSignal,
          (waiting) => ctx.heartbeat({ ...(isRecord(last) ? last : {}), waiting }),
        )
      : providerFor(target, provider);
  return {
    admin,
    heartbeat,
    sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined),
    now: () => Date.now(),
    signal: ctx.cancellationSignal,
    resumeFrom: ctx.info.heartbeatDetails,
  };
}

/**
 * The shadow watch. With a holdout reference, both models' holdout score sketches are loaded first
 * (cached scores, or scored again on this worker) for the train/serve skew check; a previous attempt's
 * heartbeat is repeated meanwhile, so a resumed watch keeps its deadline.
 */
export async function watchShadow(
  input: WatchShadowInput,
  holdout?: Pick<Evaluator, 'holdoutScores'>,
): Promise<GateVerdict> {
  const deps = watchDeps(input.target);
  const reference =
    input.reference && holdout
      ? await keepAlive(holdout.holdoutScores(input.reference), deps.resumeFrom)
      : undefined;
  return watchShadowLoop(deps, {
    model: input.model,
    generation: input.generation,
    startedAtMs: input.startedAtMs,
    durationMs: input.shadow.maxDuration,
    shadow: input.shadow,
    ...(reference ? { reference } : {}),
  });
}

async function keepAlive<T>(work: Promise<T>, details: unknown): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(details), 5_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

export function watchCanary(input: WatchCanaryInput): Promise<WatchCanaryOutput> {
  return watchCanaryLoop(watchDeps(input.target, input.analysis.provider), {
    model: input.model,
    generation: input.generation,
    startedAtMs: input.startedAtMs,
    durationMs: input.durationMs,
    analysis: input.analysis,
    looks: input.looks,
    stopWhenConclusive: input.stopWhenConclusive,
    ...(input.minDurationMs !== undefined ? { minDurationMs: input.minDurationMs } : {}),
  });
}

/** How often a watch that lacks its quorum of replicas asks them again. */
const QUORUM_RETRY_MS = 1_000;

/**
 * Statistics of a replicated target that wait while fewer replicas than the quorum report the
 * generation: the watch holds (no judgement is made, the routing stays as it is) and tells Temporal
 * it is alive, with what it waits for in the heartbeat details, until the replicas are back or the
 * activity is cancelled. A lagging replica is caught up meanwhile by the replica set itself.
 */
function holdForQuorum<T extends StatsSourceLike>(
  admin: T,
  signal: AbortSignal,
  heartbeat: (waiting: string) => void,
): StatsSourceLike {
  return {
    async stats(model, query) {
      for (;;) {
        try {
          return await admin.stats(model, query);
        } catch (e) {
          if (!(e instanceof ProgradeError) || e.code !== 'GATEWAY_QUORUM_NOT_MET' || signal.aborted) throw e;
          heartbeat(e.message);
          await sleep(QUORUM_RETRY_MS, undefined, { signal }).catch(() => undefined);
        }
      }
    },
  };
}

type StatsSourceLike = WatchDeps['admin'];

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
