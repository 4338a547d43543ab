import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { followPromotion, startPromotion, uiLink } from '../client/promotions';
import { dataDir, stackUp, type StackState } from '../devstack/local-stack';
import { preferredOrFreePort } from '../devstack/ports';
import { repoRoot } from '../devstack/tools';
import { ModelCache } from '../mlflow/cache';
import { MlflowClient } from '../mlflow/client';
import { isMlflowNotFound } from '../mlflow/errors';
import { registerOnnxModel } from '../mlflow/register';
import { writeDatasetCsv } from '../samples/datasets';
import { sampleModel, type ModelVariant } from '../samples/models';
import { newSegmentRows, usualRows } from '../samples/segments';
import { GatewayAdminClient } from '../serving/admin-client';
import { MlflowModelSource } from '../serving/mlflow-source';
import { startGateway, type GatewayHandle } from '../serving/server';
import { loadSpec, resolveDatasetLocation } from '../spec/load';
import { runTraffic, type TrafficSummary } from '../traffic';
import { createPromotionWorker, installRuntime } from '../worker';
import type { PromotionState } from '../promotion/state';
import { approveSigned, setUpDemoIdentity, type DemoIdentity } from './identity';

const MODEL = 'fraud-detector';
const TASK_QUEUE = 'prograde';

export interface DemoStory {
  readonly title: string;
  readonly version: string;
  readonly outcome: string;
  readonly reason: string;
  readonly temporal: string;
  readonly mlflow: string;
}

type Say = (line: string) => void;

/**
 * `npm run demo`: the whole story on the local stack. A champion serves live traffic through the
 * gateway; a better candidate earns its way through the offline gates, shadow and a staged canary
 * and is promoted; a biased candidate is stopped by the fairness gate; a candidate that is fine on
 * the holdout but answers NaN for a new customer segment is rolled back automatically from live
 * traffic. The stack stays up afterwards so every run can be inspected in the UIs.
 */
export async function runDemo(say: Say): Promise<DemoStory[]> {
  say('▶ starting the local stack (Temporal dev server + MLflow server)…');
  const stack = await stackUp(say);
  const mlflow = new MlflowClient({ baseUrl: stack.mlflow.url, timeoutMs: 60_000 });
  const logger = pino({ level: process.env.PROGRADE_LOG_LEVEL ?? 'warn' });
  installRuntime(logger);

  const demoDir = join(dataDir(), 'demo');
  const specFile = await writeDemoFiles(demoDir);
  // Before the worker starts: it reads the trust file this points it at.
  const identity = setUpDemoIdentity(demoDir, MODEL, specFile);
  say(
    identity
      ? `▶ decisions are signed: ${identity.trustFile} trusts a throwaway key of 'demo-approver' (${identity.keyPath})`
      : '▶ ssh-keygen not found: the demo spec names nobody, so no decision is asked for',
  );
  const token = process.env.PROGRADE_GATEWAY_TOKEN ?? randomBytes(16).toString('hex');
  process.env.PROGRADE_GATEWAY_TOKEN = token;

  const gatewayPort = await preferredOrFreePort(8080);
  const gateway = await startGateway({
    source: new MlflowModelSource(mlflow, new ModelCache(mlflow, join(dataDir(), 'gateway', 'model-cache'))),
    stateDir: join(dataDir(), 'gateway'),
    port: gatewayPort,
    token,
    logger,
  });
  await gateway.whenReady();
  say(`▶ gateway serving at ${gateway.url} (Open Inference Protocol v2 and /invocations)`);
  retarget(specFile, gateway.url);

  const nativeConnection = await NativeConnection.connect({ address: stack.temporal.address });
  const worker = await createPromotionWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
    mlflow,
    workDir: join(dataDir(), 'worker'),
    logger,
  });
  const workerRun = worker.run();
  const connection = await Connection.connect({ address: stack.temporal.address });
  const client = new Client({ connection, namespace: 'default' });
  say(`▶ worker polling task queue '${TASK_QUEUE}'`);

  const stories: DemoStory[] = [];
  const traffic: { stop: () => Promise<TrafficSummary> }[] = [];
  try {
    const promote = async (title: string, variant: ModelVariant, seed?: number): Promise<PromotionState> => {
      const registered = await registerOnnxModel(mlflow, {
        name: MODEL,
        onnxBytes: sampleModel(variant, seed === undefined ? {} : { seed }),
        alias: 'challenger',
        tags: { 'demo.variant': variant },
      });
      say(`\n━━ ${title}: registered ${MODEL} v${registered.version} (@challenger)`);
      const final = await promoteVersion(client, stack, specFile, registered.version, say, identity);
      stories.push({
        title,
        version: registered.version,
        outcome: final.outcome ?? 'failed',
        reason: final.reason ?? '',
        temporal: uiLink(stack.temporal.uiUrl, 'default', final.workflowId),
        mlflow: `${stack.mlflow.url}/#/models/${MODEL}/versions/${registered.version}`,
      });
      return final;
    };

    if (!(await hasChampion(mlflow))) {
      await promote("Last quarter's model, the first one (no champion yet)", 'previous');
    } else {
      await ensureServed(mlflow, gateway, token, say);
    }

    say('\n▶ live traffic: 40 req/s of usual customers plus 6 req/s from a new customer segment');
    traffic.push(background(gateway, usualRows(4000, Date.now() % 1000), 40));
    traffic.push(background(gateway, newSegmentRows(2000, (Date.now() + 1) % 1000), 6));

    await promote('A better candidate', 'good', 1 + (Date.now() % 97));
    await promote('A biased candidate', 'biased');
    await promote('A candidate that breaks on the new segment', 'nan');
  } finally {
    const summaries = await Promise.all(traffic.map((t) => t.stop()));
    const sent = summaries.reduce((n, s) => n + s.sent, 0);
    const errors = summaries.reduce((n, s) => n + s.errors, 0);
    if (sent > 0)
      say(
        `\n▶ traffic: ${sent} requests, ${errors} errors (each error a non-finite answer of a canary or shadow, never the champion's)`,
      );
    worker.shutdown();
    await workerRun;
    await nativeConnection.close();
    await connection.close();
    await gateway.close();
  }
  return stories;
}

/** Copies the example spec and writes its holdout set (usual customers only) under .data/demo/. */
async function writeDemoFiles(demoDir: string): Promise<string> {
  mkdirSync(join(demoDir, 'data'), { recursive: true });
  const specFile = join(demoDir, 'promotion.yaml');
  writeFileSync(specFile, readFileSync(join(repoRoot, 'examples', 'promotion.yaml')));
  await writeDatasetCsv(usualRows(2500, 42), join(demoDir, 'data', 'holdout.csv'));
  return specFile;
}

/** Points the demo spec at the gateway actually started (8080 may be taken). */
function retarget(specFile: string, url: string): void {
  const text = readFileSync(specFile, 'utf8');
  writeFileSync(specFile, text.replace(/url: http:\/\/127\.0\.0\.1:\d+/, `url: ${url}`));
}

async function hasChampion(mlflow: MlflowClient): Promise<boolean> {
  try {
    await mlflow.getModelVersionByAlias(MODEL, 'champion');
    return true;
  } catch (e) {
    if (isMlflowNotFound(e)) return false;
    throw e;
  }
}

/** After a restart the gateway restores its routing; a fresh .data/gateway needs the champion put back. */
async function ensureServed(
  mlflow: MlflowClient,
  gateway: GatewayHandle,
  token: string,
  say: Say,
): Promise<void> {
  const champion = await mlflow.getModelVersionByAlias(MODEL, 'champion');
  const admin = new GatewayAdminClient({ baseUrl: gateway.url, token });
  const routing = await admin.getRouting(MODEL);
  if (routing?.spec.stable.version === champion.version && !routing.spec.canary && !routing.spec.shadow)
    return;
  await admin.putRouting(
    MODEL,
    { generation: (routing?.generation ?? 0) + 1, stable: { version: champion.version } },
    'prograde demo',
  );
  say(`▶ gateway: champion v${champion.version} serving 100%`);
}

async function promoteVersion(
  client: Client,
  stack: StackState,
  specFile: string,
  version: string,
  say: Say,
  identity: DemoIdentity | undefined,
): Promise<PromotionState> {
  const loaded = await loadSpec(specFile);
  const started = await startPromotion(
    client,
    {
      spec: loaded.spec,
      specFile: loaded.file,
      specSha256: loaded.sha256,
      candidateVersion: version,
      dataset: resolveDatasetLocation(loaded.spec, loaded.baseDir),
      requestedBy: 'prograde demo',
    },
    TASK_QUEUE,
  );
  say(`   ${uiLink(stack.temporal.uiUrl, 'default', started.workflowId)}`);
  let lastAudit = 0;
  let approving: Promise<void> | undefined;
  const final = await followPromotion(started.handle, (state) => {
    for (const a of state.audit.slice(lastAudit)) say(`   ${a.kind.padEnd(16)} ${a.message}`);
    lastAudit = state.audit.length;
    if (identity && state.phase === 'approval' && !state.approval.decision && !approving) {
      approving = approveSigned(started.handle, identity, say);
    }
  });
  await approving;
  say(`   ⇒ ${(final.outcome ?? 'failed').toUpperCase()}: ${final.reason ?? ''}`);
  if (final.evidenceRun) say(`   evidence: ${final.evidenceRun.url} (metrics, canary charts, report.html)`);
  return final;
}

function background(gateway: GatewayHandle, rows: ReturnType<typeof usualRows>, rps: number) {
  const abort = new AbortController();
  const done = runTraffic({
    gatewayUrl: gateway.url,
    model: MODEL,
    rps,
    durationMs: 15 * 60_000,
    dataset: rows,
    signal: abort.signal,
  });
  return {
    stop: async () => {
      abort.abort();
      return done;
    },
  };
}
