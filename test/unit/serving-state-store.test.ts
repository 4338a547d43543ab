import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanAuditLog, type AuditEntry } from '../../src/serving/audit-log';
import type { AppliedRouting } from '../../src/serving/desired-state';
import { StateStore } from '../../src/serving/state-store';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-state-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const applied = (generation: number, weight = 10): AppliedRouting => ({
  generation,
  spec: { stable: { version: '1' }, canary: { version: '2', weight } },
  appliedAt: `2026-01-01T00:00:0${generation % 10}.000Z`,
  actor: 'ops',
});
const record = (model: string, a: AppliedRouting): AuditEntry => ({
  at: a.appliedAt,
  model,
  generation: a.generation,
  state: a.spec,
  actor: 'ops',
});
const line = (e: AuditEntry): string => JSON.stringify(e) + '\n';

const auditFile = (): string => path.join(dir, 'audit.jsonl');
const stateFile = (): string => path.join(dir, 'routing.json');
const writeState = (models: Record<string, AppliedRouting>): void =>
  writeFileSync(stateFile(), JSON.stringify({ schemaVersion: 1, models }));
const savedState = (): Record<string, AppliedRouting> =>
  (JSON.parse(readFileSync(stateFile(), 'utf8')) as { models: Record<string, AppliedRouting> }).models;

async function openStore(): Promise<StateStore> {
  const store = new StateStore(dir);
  await store.init();
  return store;
}

describe('audit log scan', () => {
  it('counts a last line without its newline as torn, not as a record', () => {
    const whole = line(record('m', applied(1)));
    const torn = line(record('m', applied(2))).slice(0, 30);
    const scan = scanAuditLog(Buffer.from(whole + torn));
    expect(scan.entries.map((e) => e.generation)).toEqual([1]);
    expect(scan.tornBytes).toBe(Buffer.byteLength(torn));
    expect(scan.validBytes).toBe(Buffer.byteLength(whole));
  });

  it('recovers a record glued behind a torn one, and skips lines that are not records', () => {
    const torn = line(record('m', applied(1))).slice(0, 25);
    const text = torn + line(record('m', applied(2))) + 'garbage\n' + line(record('m', applied(3)));
    const scan = scanAuditLog(Buffer.from(text));
    expect(scan.entries.map((e) => e.generation)).toEqual([2, 3]);
    expect(scan.salvagedLines).toEqual([1]);
    expect(scan.invalidLines).toEqual([2]);
    expect(scan.tornBytes).toBe(0);
  });
});

describe('StateStore – write-ahead audit, roll forward at boot', () => {
  it('commits the audit record and the state file together', async () => {
    const store = await openStore();
    await store.recover();
    expect(await store.commit('m', applied(1))).toEqual({});
    expect(savedState()).toEqual({ m: applied(1) });
    expect(await store.readAudit('m')).toEqual([record('m', applied(1))]);
  });

  it('rolls an audited generation the state file missed forward, and writes it back', async () => {
    writeState({ m: applied(1) });
    writeFileSync(auditFile(), line(record('m', applied(1))) + line(record('m', applied(2, 50))));
    writeFileSync(auditFile(), line(record('other', applied(4))), { flag: 'a' });
    const recovery = await (await openStore()).recover();
    expect(recovery.rolledForward).toEqual([
      { model: 'm', generation: 2, stateGeneration: 1 },
      { model: 'other', generation: 4, stateGeneration: undefined },
    ]);
    expect(recovery.models).toEqual({ m: applied(2, 50), other: applied(4) });
    expect(savedState()).toEqual(recovery.models);
    // A second boot finds nothing to do.
    const again = await (await openStore()).recover();
    expect(again.rolledForward).toEqual([]);
    expect(again.backfilled).toEqual([]);
  });

  it('takes the audit record over a state of the same generation with another spec', async () => {
    writeState({ m: applied(2, 5) });
    writeFileSync(auditFile(), line(record('m', applied(2, 50))));
    const recovery = await (await openStore()).recover();
    expect(recovery.models['m']).toEqual(applied(2, 50));
  });

  it('cuts a torn last record off, so the next append starts a line of its own', async () => {
    const torn = line(record('m', applied(2))).slice(0, 40);
    writeState({ m: applied(1) });
    writeFileSync(auditFile(), line(record('m', applied(1))) + torn);
    const store = await openStore();
    const recovery = await store.recover();
    expect(recovery.audit.tornBytes).toBe(torn.length);
    expect(recovery.models).toEqual({ m: applied(1) });
    await store.commit('m', applied(2, 30));
    expect(readFileSync(auditFile(), 'utf8')).toBe(
      line(record('m', applied(1))) + line(record('m', applied(2, 30))),
    );
    expect((await store.readAudit()).map((e) => e.generation)).toEqual([1, 2]);
  });

  it('audits, marked as backfilled, a generation the state holds without a record (older gateway)', async () => {
    writeState({ m: applied(3) });
    writeFileSync(auditFile(), line(record('m', applied(2))));
    const store = await openStore();
    const recovery = await store.recover();
    expect(recovery.backfilled).toEqual([{ model: 'm', generation: 3 }]);
    const entries = await store.readAudit('m');
    expect(entries.map((e) => e.generation)).toEqual([2, 3]);
    expect(entries[1]?.backfilledAt).toEqual(expect.any(String));
    expect((await (await openStore()).recover()).backfilled).toEqual([]);
  });

  it('applies nothing when the audit record cannot be written', async () => {
    const store = await openStore();
    await store.recover();
    await store.commit('m', applied(1));
    rmSync(auditFile());
    mkdirSync(auditFile()); // appending to a directory fails
    await expect(store.commit('m', applied(2))).rejects.toMatchObject({ code: 'SERVING_AUDIT_WRITE_FAILED' });
    expect(savedState()).toEqual({ m: applied(1) });
  });

  it('keeps a commit whose state file checkpoint failed; the next boot rolls it forward', async () => {
    const store = await openStore();
    await store.recover();
    await store.commit('m', applied(1));
    rmSync(stateFile());
    mkdirSync(stateFile()); // renaming onto a directory fails
    const result = await store.commit('m', applied(2));
    expect(result.checkpointError).toBeDefined();
    expect((await store.readAudit('m')).map((e) => e.generation)).toEqual([1, 2]);
    rmSync(stateFile(), { recursive: true });
    const recovery = await (await openStore()).recover();
    expect(recovery.models).toEqual({ m: applied(2) });
  });

  it('never loses one model’s change to another committed at the same time', async () => {
    const store = await openStore();
    await store.recover();
    await Promise.all(
      [1, 2, 3, 4, 5].flatMap((g) => [store.commit('a', applied(g)), store.commit('b', applied(g))]),
    );
    expect(savedState()).toEqual({ a: applied(5), b: applied(5) });
  });

  it('removes temporary state files a crash left, and refuses a commit before recovery', async () => {
    writeFileSync(path.join(dir, 'routing.json.123.456.tmp'), '{');
    const store = await openStore();
    await expect(store.commit('m', applied(1))).rejects.toThrow(/before recover/);
    expect((await store.recover()).staleTempFiles).toBe(1);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
