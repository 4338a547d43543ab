import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPromotion } from '../../src/client/promotions';
import { attemptsOf } from '../../src/records/attempts';
import { PhaseAttr } from '../../src/promotion/search-attributes';
import { scanAuditLog } from '../../src/serving/audit-log';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { writeDatasetCsv } from '../../src/samples/datasets';
import { runTraffic, type TrafficResponse } from '../../src/traffic';
import { createHarness, uniqueModel, type Harness } from '../support/harness';
import { cleanRows, GATEWAY_TOKEN, liveSpec, nanTriggeringRows } from '../support/live';
import { startReplica, until, type ReplicaProcess } from '../support/replica-gateways';
import { stack } from '../support/stack';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * The gateway killed (kill -9) in the middle of a rollback (issue 11: "the gateway killed and restarted
 * mid-rollback", a moment the chaos run rarely meets because a rollback lasts seconds). A NaN candidate
 * fails its canary under traffic that reaches its NaN region; the test stalks the rollback and kills
 * the gateway process, in its own process group, at one of two moments:
 *  - the workflow's phase turns `rolling-back` (the gateway is frozen at once, so what it had applied
 *    by then is read from its audit log on disk before the kill);
 *  - the gateway's audit log on disk holds the rollback's routing, before the outcome is recorded.
 * It restarts the same command on the same port and state dir, and checks: exactly one outcome
 * (rolled-back) recorded, @champion unchanged, the champion alone serving 100 % after the restart,
 * the audit log and the routing agreeing, every generation audited once, and no caller error from
 * the stable variant; requests without an answer only inside the dead window (kill → ready).
 */
describe('gateway killed mid-rollback', () => {
  let h: Harness;
  const gateways: ReplicaProcess[] = [];

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.kill()));
    await h?.close();
  });

  for (const moment of ['phase', 'audit'] as const)
    it(`rolls back once and the champion serves alone after the restart (kill at the rollback ${moment === 'phase' ? 'phase' : 'PUT in the audit log'})`, async () => {
      const stateDir = mkdtempSync(join(h.dir, `gw-kill-rollback-${moment}-`));
      const start = (port: number): Promise<ReplicaProcess> =>
        startReplica({
          host: '127.0.0.1',
          port,
          stateDir,
          replicaId: `kill-rollback-${moment}`,
          env: { MLFLOW_TRACKING_URI: stack.mlflowUri(), PROGRADE_GATEWAY_TOKEN: GATEWAY_TOKEN },
        }).then((g) => (gateways.push(g), g));
      const holdout = join(h.dir, `holdout-clean-${moment}.csv`);
      await writeDatasetCsv(cleanRows(1500, 11), holdout);
      let gateway = await start(0);
      const admin = new GatewayAdminClient({ baseUrl: gateway.url, token: GATEWAY_TOKEN, timeoutMs: 15_000 });

      const model = uniqueModel(`kill-rollback-${moment}`);
      const champion = await h.register(model, 'good', 'champion');
      const candidate = await h.register(model, 'nan', undefined, 71);
      await admin.putRouting(model, { generation: 1, stable: { version: champion } }, 'test setup');

      // Traffic in this process, so every answer is seen with the time it was sent.
      const answers: (TrafficResponse & { sentAt: number; answeredAt: number })[] = [];
      const abort = new AbortController();
      const trafficDone = runTraffic({
        gatewayUrl: gateway.url,
        model,
        rps: 40,
        durationMs: 240_000,
        dataset: nanTriggeringRows(3000, 72),
        signal: abort.signal,
        requestTimeoutMs: 30_000,
        onResponse: (r) => {
          // Requests still in flight when the test stops its traffic: neither the gateway's nor the rollout's.
          if (r.outcome === 'aborted') return;
          const answeredAt = Date.now();
          answers.push({ ...r, answeredAt, sentAt: answeredAt - r.latencyMs });
        },
      }).catch(() => undefined);

      try {
        const { handle, workflowId } = await startPromotion(
          h.client,
          // Offline the candidate is fine: this holdout never reaches its NaN region.
          h.input(liveSpec(model, gateway.url, { shadow: false, weights: [25, 50], bake: '4s' }), candidate, {
            kind: 'file',
            path: holdout,
          }),
          h.taskQueue,
        );

        // Stalk the rollback: the workflow's phase (describe, no worker query), or the audit log on disk.
        const auditFile = join(stateDir, 'audit.jsonl');
        const audited = (): { generation: number; canary: boolean }[] =>
          existsSync(auditFile)
            ? scanAuditLog(readFileSync(auditFile))
                .entries.filter((e) => e.model === model)
                .map((e) => ({ generation: e.generation, canary: e.state.canary !== undefined }))
            : [];
        // The rollback's routing: a generation after one with a canary, without one.
        const rollbackAudited = (): boolean => {
          const es = audited();
          const firstCanary = es.findIndex((e) => e.canary);
          return firstCanary >= 0 && es.slice(firstCanary + 1).some((e) => !e.canary);
        };
        await stalk(
          `the rollback (${moment})`,
          async () => {
            if (moment === 'audit' && rollbackAudited()) return true;
            const d = await handle.describe();
            if (d.status.name !== 'RUNNING') {
              const s = await handle.result().catch((e: unknown) => String(e));
              throw new EndedFirst(`ended before the rollback: ${JSON.stringify(s).slice(0, 600)}`);
            }
            return moment === 'phase' && d.typedSearchAttributes.get(PhaseAttr) === 'rolling-back'
              ? true
              : undefined;
          },
          150_000,
          moment === 'audit' ? 10 : 20,
        );
        // Freeze first, so what the gateway had applied at this moment is what its disk says.
        process.kill(-(gateway.child.pid ?? 0), 'SIGSTOP');
        const killAt = Date.now();
        const appliedBeforeKill = rollbackAudited();
        const runningAtKill = (await handle.describe()).status.name === 'RUNNING';
        await gateway.kill();

        await sleep(1_500);
        gateway = await start(gateway.port);
        const readyAfterMs = await until(
          async () => (await fetch(`${gateway.url}/v2/health/ready`)).ok,
          'the restarted gateway to be ready',
          90_000,
          50,
        );
        const readyAt = Date.now();
        console.log(
          `[kill-mid-rollback] ${moment}: killed with the rollback ${appliedBeforeKill ? 'already applied' : 'not yet applied'}, workflow ${runningAtKill ? 'running' : 'ended'}; ready ${readyAfterMs} ms after the restart`,
        );
        // The moment is the rollback's: the outcome was not yet recorded when the gateway died.
        expect(runningAtKill).toBe(true);

        const final = await handle.result();
        expect(final.outcome, final.reason).toBe('rolled-back');
        // Traffic a little longer: what the champion answers after the rollback settled.
        const settledAt = Date.now();
        await sleep(2_000);
        abort.abort();
        await trafficDone;

        // Exactly one outcome: one recordOutcome, one attempt tag for this run, @champion unchanged.
        const events = (await handle.fetchHistory()).events ?? [];
        expect(completed(events, 'recordOutcome')).toBe(1);
        const tags = attemptsOf((await h.mlflow.getModelVersion(model, candidate)).tags);
        const { runId } = await handle.describe();
        expect(tags.filter((a) => a.runId === runId)).toHaveLength(1);
        expect((await h.mlflow.getModelVersionByAlias(model, 'champion')).version).toBe(champion);

        // The champion serves 100 % after the restart; the audit log agrees and holds each generation once.
        const restarted = new GatewayAdminClient({ baseUrl: gateway.url, token: GATEWAY_TOKEN });
        const served = await restarted.getRouting(model);
        expect(served?.spec).toEqual({ stable: { version: champion } });
        const audit = await restarted.audit(model);
        const generations = audit.map((e) => e.generation);
        expect(new Set(generations).size).toBe(generations.length);
        expect(generations).toEqual([...generations].sort((a, b) => a - b));
        expect(audit.at(-1)?.generation).toBe(served?.generation);
        expect(audit.at(-1)?.state).toEqual(served?.spec);
        const ours = audit.filter((e) => e.note?.includes(workflowId));
        expect(ours.map((e) => e.state.canary?.weight ?? 0)).toEqual([25, 0]);

        // Callers: the stable variant answered no error; no answer (or a 503 while restoring) only
        // inside the dead window; every answer after the rollback settled is the champion's.
        const stableErrors = answers.filter((a) => a.outcome !== 'ok' && a.variant === 'stable');
        expect(stableErrors.map((a) => `${a.status} ${a.error ?? ''}`)).toEqual([]);
        const outsideWindow = answers.filter(
          (a) =>
            a.outcome !== 'ok' && a.variant === undefined && !(a.answeredAt >= killAt && a.sentAt <= readyAt),
        );
        expect(outsideWindow.map((a) => `${a.status ?? 'no answer'} ${a.error ?? ''}`)).toEqual([]);
        const after = answers.filter((a) => a.sentAt > settledAt);
        expect(after.length).toBeGreaterThan(0);
        expect(
          after.filter((a) => a.outcome !== 'ok' || a.variant !== 'stable' || a.version !== champion),
        ).toEqual([]);
        const inWindow = answers.filter((a) => a.outcome !== 'ok' && a.variant === undefined).length;
        const canaryErrors = answers.filter((a) => a.outcome !== 'ok' && a.variant === 'canary').length;
        console.log(
          `[kill-mid-rollback] ${moment}: ${answers.length} requests, ${inWindow} without an answer in the dead window, ${canaryErrors} NaN answers of the candidate, 0 stable errors`,
        );
      } finally {
        abort.abort();
        await trafficDone;
        await gateway.kill();
      }
    }, 300_000);
});

/** The promotion ended before the moment the test waits for: no point waiting on. */
class EndedFirst extends Error {}

/** Polls `probe` until it answers true; an EndedFirst ends the wait at once, other errors are retried. */
async function stalk(
  what: string,
  probe: () => Promise<true | undefined>,
  timeoutMs: number,
  everyMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await probe()) === true) return;
    } catch (e) {
      if (e instanceof EndedFirst) throw e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Completed activities of one type in a history. */
function completed(events: readonly HistoryEvent[], activity: string): number {
  const names = new Map<string, string>();
  let n = 0;
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) names.set(String(e.eventId), name);
    const done = e.activityTaskCompletedEventAttributes;
    if (done && names.get(String(done.scheduledEventId)) === activity) n++;
  }
  return n;
}
