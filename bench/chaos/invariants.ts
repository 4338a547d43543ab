import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/devstack/tools';
import type { MlflowClient } from '../../src/mlflow/client';
import { attemptsOf } from '../../src/records/attempts';
import { scanAuditLog, type AuditEntry } from '../../src/serving/audit-log';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { PAYLOAD_CONVERTER_PATH } from '../../src/worker';
import { retrying, type Promo } from './load';
import { HARNESS_ADMIN_TOKEN, type ChaosStack } from './stack';

/** The counts every chaos run reports; each must be 0. */
export interface InvariantCounts {
  /** Promotions without a terminal outcome (failed or terminated workflow, or still running). */
  lost: number;
  /** An attempt tag twice for one run, an outcome recorded twice by one run, a generation audited twice. */
  duplicated: number;
  /** A model whose newest audit record and served routing differ. */
  auditRoutingDisagree: number;
  /** Caller requests answered with an error by the stable variant. */
  callerFailures: number;
  /** @champion not the candidate after `promoted`, or not the old champion otherwise. */
  championWrong: number;
  /** Recorded histories that fail to replay against the current workflow code. */
  replayFailures: number;
  /** A gateway or worker that exited without being killed (e.g. an unhandled error). */
  crashed: number;
}

export interface InvariantReport {
  readonly counts: InvariantCounts;
  /** One line per violation, for the findings file. */
  readonly details: string[];
  readonly replayed: number;
  readonly auditRecords: number;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x && typeof x === 'object')
    return `{${Object.keys(x)
      .sort()
      .filter((k) => (x as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(x);
}

function auditOf(stateDir: string): AuditEntry[] {
  const file = join(stateDir, 'audit.jsonl');
  return existsSync(file) ? scanAuditLog(readFileSync(file)).entries : [];
}

/** recordOutcome activities a run completed: more than one means its outcome was written twice. */
function completedRecordings(events: readonly HistoryEvent[]): number {
  const names = new Map<string, string>();
  let n = 0;
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) names.set(String(e.eventId), name);
    const done = e.activityTaskCompletedEventAttributes;
    if (done && names.get(String(done.scheduledEventId)) === 'recordOutcome') n++;
  }
  return n;
}

/** Evidence runs in experiment prograde/<model> per attempt key (none when the experiment does not exist). */
async function evidenceRunsPerAttempt(mlflow: MlflowClient, model: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let experimentId: string;
  try {
    experimentId = (await mlflow.getExperimentByName(`prograde/${model}`)).experimentId;
  } catch {
    return counts;
  }
  const runs = await retrying('search evidence runs', () =>
    mlflow.searchRuns([experimentId], { maxResults: 1000 }),
  );
  for (const run of runs.items) {
    const key = run.tags['prograde.attempt_key'] ?? run.tags['prograde.workflow_run_id'];
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export async function checkInvariants(
  stack: ChaosStack,
  client: Client,
  mlflow: MlflowClient,
  promos: readonly Promo[],
  log: (line: string) => void,
): Promise<InvariantReport> {
  const t0 = Date.now();
  const took = (): string => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
  const counts: InvariantCounts = {
    lost: 0,
    duplicated: 0,
    auditRoutingDisagree: 0,
    callerFailures: 0,
    championWrong: 0,
    replayFailures: 0,
    crashed: 0,
  };
  const details: string[] = [];
  const bad = (key: keyof InvariantCounts, line: string, n = 1): void => {
    counts[key] += n;
    details.push(`${key}: ${line}`);
  };

  for (const c of stack.crashes) bad('crashed', `${c.name} exited (${c.exit}); log tail:\n${c.log}`);
  for (const p of promos) {
    if (p.final?.outcome === undefined) bad('lost', `${p.workflowId}: ${p.lost ?? 'no outcome'}`);
    if (p.traffic && p.traffic.stableErrors > 0)
      bad('callerFailures', `${p.model}: ${p.traffic.samples.join(' | ')}`, p.traffic.stableErrors);

    const version = await retrying('read candidate', () => mlflow.getModelVersion(p.model, p.candidate));
    const byRun = new Map<string, number>();
    for (const a of attemptsOf(version.tags)) byRun.set(a.runId, (byRun.get(a.runId) ?? 0) + 1);
    for (const [run, n] of byRun)
      if (n > 1) bad('duplicated', `${p.model} v${p.candidate}: ${n} attempt tags for run ${run}`, n - 1);

    // Evidence runs (issue 12): one MLflow run per attempt, found by its attempt key before one is made.
    for (const [key, n] of await evidenceRunsPerAttempt(mlflow, p.model))
      if (n > 1) bad('duplicated', `${p.model}: ${n} evidence runs for attempt ${key}`, n - 1);

    if (p.final?.outcome !== undefined) {
      const expected = p.final.outcome === 'promoted' ? p.candidate : p.champion;
      const champion = await retrying('read @champion', () =>
        mlflow.getModelVersionByAlias(p.model, 'champion'),
      );
      if (champion.version !== expected)
        bad(
          'championWrong',
          `${p.model}: @champion v${champion.version}, expected v${expected} after ${p.final.outcome}`,
        );
    }
  }

  log(`invariants: registry read (${took()})`);
  // The gateway's write-ahead audit log against the routing it serves, per model.
  let auditRecords = 0;
  for (const g of stack.gateways) {
    const entries = auditOf(g.stateDir);
    auditRecords += entries.length;
    const seen = new Map<string, AuditEntry>();
    const newest = new Map<string, AuditEntry>();
    for (const e of entries) {
      const key = `${e.model}@${e.generation}`;
      if (seen.has(key))
        bad('duplicated', `gateway-${g.index} audit: ${e.model} generation ${e.generation} twice`);
      seen.set(key, e);
      const n = newest.get(e.model);
      if (!n || e.generation > n.generation) newest.set(e.model, e);
    }
    const admin = new GatewayAdminClient({ baseUrl: g.url, token: HARNESS_ADMIN_TOKEN, timeoutMs: 10_000 });
    for (const p of promos.filter((x) => x.gateway === g.index)) {
      const audited = newest.get(p.model);
      const served = await retrying('read routing', () => admin.getRouting(p.model), 20_000).catch(
        () => undefined,
      );
      if (!audited || !served) {
        bad(
          'auditRoutingDisagree',
          `gateway-${g.index} ${p.model}: audit ${audited ? 'present' : 'missing'}, routing ${served ? 'present' : 'missing'}`,
        );
        continue;
      }
      if (audited.generation !== served.generation || canonical(audited.state) !== canonical(served.spec))
        bad(
          'auditRoutingDisagree',
          `gateway-${g.index} ${p.model}: audit g${audited.generation} ${canonical(audited.state)} vs served g${served.generation} ${canonical(served.spec)}`,
        );
    }
  }

  log(`invariants: audit logs read (${took()})`);
  // Every workflow this run's server holds (promotions and rollout locks), replayed against today's code.
  const histories: { workflowId: string; history: temporal.api.history.v1.IHistory }[] = [];
  for await (const w of client.workflow.list({ query: `TaskQueue = '${stack.taskQueue}'` })) {
    const history = await retrying('fetch history', () =>
      client.workflow.getHandle(w.workflowId, w.runId).fetchHistory(),
    );
    histories.push({ workflowId: `${w.workflowId}#${w.runId}`, history });
    if (w.type === 'promoteModel') {
      const n = completedRecordings(history.events ?? []);
      if (n > 1)
        bad('duplicated', `${w.workflowId} run ${w.runId}: recordOutcome completed ${n} times`, n - 1);
    }
  }
  log(`invariants: ${histories.length} histories fetched (${took()})`);
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: join(repoRoot, 'src', 'workflows', 'index.ts'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    },
  });
  for await (const r of Worker.runReplayHistories({ workflowBundle }, histories)) {
    if (r.error) bad('replayFailures', `${r.workflowId}: ${String(r.error)}`);
  }
  log(`invariants: histories replayed (${took()})`);
  return { counts, details, replayed: histories.length, auditRecords };
}
