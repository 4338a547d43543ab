import { WorkflowFailedError, type Client } from '@temporalio/client';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { startPromotion, type PromotionHandle } from '../../src/client/promotions';
import type { Dataset } from '../../src/dataset/dataset';
import type { MlflowClient } from '../../src/mlflow/client';
import { registerOnnxModel } from '../../src/mlflow/register';
import type { PromotionInput, PromotionState } from '../../src/promotion/state';
import { newSegmentRows, usualRows } from '../../src/samples/segments';
import { sampleModel, type ModelVariant } from '../../src/samples/models';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { PromotionSpec, type PromotionSpecInput } from '../../src/spec/schema';
import { runTraffic, type TrafficResponse } from '../../src/traffic';
import { liveSpec, sampleSpec } from '../../test/support/specs';
import { HARNESS_ADMIN_TOKEN, type ChaosStack } from './stack';

/**
 * The load of a chaos run: promotions of four kinds, each on a model of its own (champion v1,
 * candidate v2), the live ones under `prograde traffic`'s generator (runTraffic, in this process so
 * that every answer can be inspected). Setup calls are the harness's, not the system under test's:
 * they retry through the faults.
 */

export type PromoKind = 'offline-good' | 'offline-bad' | 'live-good' | 'live-bad';

export interface TrafficTally {
  sent: number;
  ok: number;
  /** Errors the stable variant answered: a caller failed because of the rollout. Must stay 0. */
  stableErrors: number;
  /** Errors the canary answered (a bad candidate's NaNs are expected). */
  canaryErrors: number;
  /** No answer: refused connection or timeout while a fault held the gateway down or frozen. */
  network: number;
  /** Other non-2xx answers without a variant (e.g. 503 while a restarted gateway restores). */
  otherErrors: number;
  samples: string[];
}

export interface Promo {
  readonly id: number;
  readonly kind: PromoKind;
  readonly model: string;
  readonly champion: string;
  readonly candidate: string;
  readonly gateway: number | undefined;
  readonly workflowId: string;
  readonly startedAt: number;
  readonly handle: PromotionHandle;
  endedAt?: number;
  final?: PromotionState;
  runId?: string;
  /** Why no outcome was recorded (workflow failed, terminated, or still running at the deadline). */
  lost?: string;
  traffic?: TrafficTally;
  stopTraffic?: () => Promise<void>;
}

const CANDIDATE: Record<PromoKind, ModelVariant> = {
  'offline-good': 'good',
  'offline-bad': 'regressed',
  'live-good': 'good',
  'live-bad': 'nan',
};

/** Retries a harness-side call through an outage of the service it needs. */
export async function retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String(e)}`);
      await sleep(Math.min(500 * 2 ** i, 3000));
    }
  }
}

export function specFor(kind: PromoKind, model: string, gatewayUrl: string): PromotionSpecInput {
  if (kind === 'offline-good' || kind === 'offline-bad') {
    return sampleSpec(model, {
      gates: {
        performance: [
          { metric: 'auc', min: 0.7 },
          { metric: 'auc', maxDropVsChampion: 0.02 },
        ],
      },
    });
  }
  // Bad candidates skip shadow so that they reach the canary and are rolled back there. Five 3 s
  // extensions, not the test default two: a 25 % canary of 12 rps expects about 30 samples in the
  // 10 s a step had, against minSamples 20, and a fault or a starved traffic generator took the rest
  // (11 of the 16 good candidates rolled back in run 95622 were short of samples at the deadline).
  return liveSpec(model, gatewayUrl, {
    shadow: kind === 'live-good',
    weights: [25, 50],
    bake: '4s',
    maxExtensions: 5,
  });
}

export interface LoadContext {
  readonly stack: ChaosStack;
  readonly client: Client;
  readonly mlflow: MlflowClient;
  readonly dir: string;
  readonly datasetPath: string;
  readonly trafficRps: number;
  readonly log: (line: string) => void;
}

async function register(
  ctx: LoadContext,
  model: string,
  variant: ModelVariant,
  seed: number,
  alias?: string,
) {
  return retrying(`register ${model}`, async () => {
    const r = await registerOnnxModel(ctx.mlflow, {
      name: model,
      onnxBytes: sampleModel(variant, { seed }),
      ...(alias ? { alias } : {}),
    });
    return r.version;
  });
}

function inputOf(ctx: LoadContext, spec: PromotionSpecInput, version: string): PromotionInput {
  const parsed = PromotionSpec.parse(spec);
  const specFile = join(ctx.dir, `${parsed.model}.promotion.yaml`);
  writeFileSync(specFile, stringify(spec));
  return {
    spec: parsed,
    specFile,
    specSha256: 'chaos',
    candidateVersion: version,
    dataset: { kind: 'file', path: ctx.datasetPath },
    requestedBy: 'chaos',
  };
}

/** Registers champion and candidate, serves the champion (live kinds), starts traffic and the promotion. */
export async function launch(ctx: LoadContext, id: number, kind: PromoKind, seed: number): Promise<Promo> {
  const model = `chaos-${kind}-${id}-${seed.toString(36)}`;
  const champion = await register(ctx, model, 'good', seed, 'champion');
  const candidate = await register(ctx, model, CANDIDATE[kind], seed + 1);
  const live = kind === 'live-good' || kind === 'live-bad';
  const gateway = live ? id % ctx.stack.gateways.length : undefined;
  const gatewayUrl = gateway === undefined ? 'http://127.0.0.1:1' : ctx.stack.gateway(gateway).url;
  let tally: TrafficTally | undefined;
  let stopTraffic: (() => Promise<void>) | undefined;
  if (gateway !== undefined) {
    const admin = new GatewayAdminClient({
      baseUrl: gatewayUrl,
      token: HARNESS_ADMIN_TOKEN,
      timeoutMs: 10_000,
    });
    await retrying(`serve ${model} v1`, () =>
      admin.putRouting(model, { generation: 1, stable: { version: champion } }, 'chaos setup'),
    );
    const rows: Dataset = kind === 'live-bad' ? newSegmentRows(2000, seed) : usualRows(3000, seed);
    ({ tally, stop: stopTraffic } = startTraffic(gatewayUrl, model, rows, ctx.trafficRps));
  }
  const input = inputOf(ctx, specFor(kind, model, gatewayUrl), candidate);
  const started = await retrying(`start ${model}`, () =>
    startPromotion(ctx.client, input, ctx.stack.taskQueue),
  );
  return {
    id,
    kind,
    model,
    champion,
    candidate,
    gateway,
    workflowId: started.workflowId,
    startedAt: Date.now(),
    handle: started.handle,
    ...(tally ? { traffic: tally } : {}),
    ...(stopTraffic ? { stopTraffic } : {}),
  };
}

function startTraffic(
  gatewayUrl: string,
  model: string,
  dataset: Dataset,
  rps: number,
): { tally: TrafficTally; stop: () => Promise<void> } {
  const tally: TrafficTally = {
    sent: 0,
    ok: 0,
    stableErrors: 0,
    canaryErrors: 0,
    network: 0,
    otherErrors: 0,
    samples: [],
  };
  const onResponse = (r: TrafficResponse): void => {
    if (r.outcome === 'aborted') return;
    tally.sent += 1;
    if (r.outcome === 'ok') return void (tally.ok += 1);
    if (r.status === undefined) return void (tally.network += 1);
    if (r.variant === 'stable') {
      tally.stableErrors += 1;
      if (tally.samples.length < 5)
        tally.samples.push(`${r.status} stable v${r.version ?? '?'}: ${r.error ?? ''}`);
    } else if (r.variant === 'canary') tally.canaryErrors += 1;
    else tally.otherErrors += 1;
  };
  const abort = new AbortController();
  const done = runTraffic({
    gatewayUrl,
    model,
    rps,
    durationMs: 29 * 60_000,
    dataset,
    signal: abort.signal,
    requestTimeoutMs: 15_000,
    onResponse,
  }).catch(() => undefined);
  return {
    tally,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

/**
 * Waits for the promotion's result through server restarts. It polls `describe` rather than holding
 * a long poll open, so nothing is left waiting on the connection when the run gives up and closes it.
 * Only a failed or terminated workflow (no recorded outcome) or the deadline ends it without one.
 */
export async function settle(p: Promo, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const d = await p.handle.describe();
      if (d.status.name !== 'RUNNING') {
        p.endedAt = Date.now();
        p.runId = d.runId;
        if (d.status.name !== 'COMPLETED') {
          p.lost = `workflow ${d.status.name.toLowerCase()}`;
          return;
        }
        p.final = await p.handle.result();
        return;
      }
    } catch (e) {
      if (e instanceof WorkflowFailedError) {
        p.lost = `workflow failed: ${e.cause?.message ?? e.message}`;
        return;
      }
      // Temporal is down for a fault: ask again.
    }
    await sleep(2000);
  }
  p.lost ??= 'no outcome by the deadline';
}
