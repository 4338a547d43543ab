import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentRunId,
  decide,
  operate,
  promotionStatus,
  startPromotion,
  type PromotionHandle,
} from '../../src/client/promotions';
import { signDecision } from '../../src/client/signing';
import { TRUST_FILE_ENV } from '../../src/config/trust';
import { repoRoot } from '../../src/devstack/tools';
import { canonicalStatement, newStatement, type DecisionAction } from '../../src/identity';
import { DECISION_TAG_PREFIX } from '../../src/records/decisions';
import { TAG } from '../../src/records/outcome';
import type { PromotionSpecInput } from '../../src/spec/schema';
import { approveSignal } from '../../src/workflows/messages';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { keyDir, writeIn, type KeyDir, type TestKey } from '../support/ssh-keys';
import { stack } from '../support/stack';
import { untilStatus } from '../support/wait';

/**
 * Signed decisions end to end: keys made by the real ssh-keygen, a trust file the worker reads, the
 * workflow's validators on a real Temporal server, the record on a real MLflow version, and
 * `prograde approve` / `prograde verify` as a person runs them. Each refusal of issue 9 has its case.
 */
describe('signed decisions', () => {
  let h: Harness;
  let keys: KeyDir;
  let alice: TestKey; // may approve signed-* models
  let ops: TestKey; // may operate signed-* models
  let carol: TestKey; // trusted, but only for other models
  let eve: TestKey; // in no trust file
  let trustFile: string;
  const before = process.env[TRUST_FILE_ENV];

  beforeAll(async () => {
    keys = keyDir();
    [alice, ops, carol, eve] = ['alice', 'ops', 'carol', 'eve'].map((n) => keys.key(n)) as [
      TestKey,
      TestKey,
      TestKey,
      TestKey,
    ];
    trustFile = writeIn(
      keys.dir,
      'trust.yaml',
      [
        'people:',
        `  alice: ["${alice.publicLine}"]`,
        `  ops: ["${ops.publicLine}"]`,
        `  carol: ["${carol.publicLine}"]`,
        'models:',
        '  - model: "signed-*"',
        '    approvers: [alice]',
        '    operators: [ops]',
        '  - model: "elsewhere"',
        '    approvers: [carol]',
        '',
      ].join('\n'),
    );
    // The worker runs in this process and reads the trust file at each promotion start.
    process.env[TRUST_FILE_ENV] = trustFile;
    h = await createHarness();
    await h.startWorker();
  });
  afterAll(async () => {
    await h?.close();
    keys?.close();
    if (before === undefined) delete process.env[TRUST_FILE_ENV];
    else process.env[TRUST_FILE_ENV] = before;
  });

  const verifiedSpec = (model: string, overrides: Partial<PromotionSpecInput> = {}): PromotionSpecInput =>
    sampleSpec(model, {
      gates: { performance: [{ metric: 'auc', min: 0.7 }] },
      identity: 'verified',
      approval: { required: true, approvers: ['alice'], timeout: '1h' },
      operators: ['ops'],
      ...overrides,
    });

  async function awaitingApproval(
    overrides: Partial<PromotionSpecInput> = {},
  ): Promise<{ handle: PromotionHandle; model: string; version: string; runId: string }> {
    const model = uniqueModel('signed');
    const version = await h.register(model, 'good');
    const { handle } = await startPromotion(
      h.client,
      h.input(verifiedSpec(model, overrides), version),
      h.taskQueue,
    );
    await untilStatus(handle, (s) => s.phase === 'approval', 'phase approval');
    return { handle, model, version, runId: await currentRunId(handle) };
  }

  /** A statement signed by `key` through ssh-keygen, with any field overridden. */
  function signedBy(
    key: TestKey,
    fields: { workflowId: string; runId: string; action: DecisionAction; reason: string },
    issuedAtMs = Date.now(),
    lifetimeMs?: number,
  ): { statement: string; signature: string } {
    const statement = canonicalStatement(newStatement(fields, issuedAtMs, lifetimeMs));
    return { statement, signature: keys.sign(key, statement) };
  }

  const cliEnv = () => ({
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress(),
    MLFLOW_TRACKING_URI: stack.mlflowUri(),
    [TRUST_FILE_ENV]: trustFile,
  });
  // Asynchronous on purpose: the worker runs in this process and must keep serving while the CLI runs.
  const cli = (args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/prograde.js', ...args],
        { cwd: repoRoot, env: cliEnv(), encoding: 'utf8' },
        (error, stdout, stderr) =>
          resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });

  let acceptedElsewhere: { statement: string; signature: string } | undefined;

  it('prograde approve signs with the key; the version records it and prograde verify checks it', async () => {
    const { handle, model, version } = await awaitingApproval();
    const approved = await cli([
      'approve',
      `${model}@${version}`,
      '--key',
      alice.privatePath,
      '--reason',
      'metrics reviewed',
    ]);
    expect(approved.stderr).toBe('');
    expect(approved.status).toBe(0);
    expect(approved.stdout).toMatch(/approve: promote\/.* by alice, signed with SHA256:/);

    const final = await handle.result();
    expect(final.outcome).toBe('promoted');
    expect(final.approval.decision).toMatchObject({
      decision: 'approve',
      by: 'alice',
      reason: 'metrics reviewed',
    });
    expect(final.decisions).toHaveLength(1);
    const first = final.decisions?.[0];
    if (first) acceptedElsewhere = { statement: first.statement, signature: first.signature };

    const mv = await h.mlflow.getModelVersion(model, version);
    expect(mv.tags[TAG.approvedBy]).toMatch(
      /^alice \(update, signed by key SHA256:.*\) at .*: metrics reviewed$/,
    );
    const decisionTags = Object.keys(mv.tags).filter((k) => k.startsWith(DECISION_TAG_PREFIX));
    expect(decisionTags).toHaveLength(1);

    const verified = await cli(['verify', `${model}@${version}`]);
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/✓ approve by alice \(SHA256:.*\) at .*: metrics reviewed/);
    expect(verified.stdout).toMatch(/all 1 verified/);

    // Someone with registry write access edits the recorded reason: verify says so, exit 1.
    const [tag] = decisionTags as [string];
    const original = mv.tags[tag] ?? '';
    await h.mlflow.setModelVersionTag(
      model,
      version,
      tag,
      original.replace('metrics reviewed', 'rubber stamp'),
    );
    const tampered = await cli(['verify', `${model}@${version}`]);
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toMatch(/✗ approve .*rubber stamp\n\s+bad signature/);
    await h.mlflow.setModelVersionTag(model, version, tag, original);

    // A trust file that no longer trusts alice for this model: the record no longer verifies.
    const narrower = writeIn(
      keys.dir,
      'trust-narrow.yaml',
      `people:\n  alice: ["${alice.publicLine}"]\nmodels: []\n`,
    );
    const untrusted = await cli(['verify', `${model}@${version}`, '--trust', narrower]);
    expect(untrusted.status).toBe(1);
    expect(untrusted.stdout).toMatch(/alice is not trusted to approve/);

    expect((await cli(['verify', `${model}@${version}`, '--trust', '/nonexistent/trust.yaml'])).status).toBe(
      2,
    );
    expect((await cli(['verify', `${model}@999`])).status).toBe(2);
    // Seven CLI processes, each starting tsx: a budget for a loaded 2-core machine, not a speed claim.
  }, 300_000);

  it('refuses each bad decision with its reason, and records nothing for it', async () => {
    const { handle, model, version, runId } = await awaitingApproval();
    const workflowId = handle.workflowId;
    const good = { workflowId, runId, action: 'approve' as const, reason: 'ok' };
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );

    // A typed name, as anyone who reaches the namespace could send with `temporal workflow update`.
    expect(await refused(decide(handle, 'approve', { approver: 'alice', reason: 'trust me' }))).toMatch(
      /takes signed decisions only \(identity: verified\)/,
    );
    // An unknown key.
    expect(await refused(decide(handle, 'approve', signedBy(eve, good)))).toMatch(
      /key SHA256:.* is not trusted/,
    );
    // A key trusted for another model only (carol is no approver of signed-* models, so not in this run).
    expect(await refused(decide(handle, 'approve', signedBy(carol, good)))).toMatch(/is not trusted/);
    // A statement made for another run of the same promotion.
    expect(
      await refused(decide(handle, 'approve', signedBy(alice, { ...good, runId: 'another-run' }))),
    ).toMatch(/for run another-run, not this run/);
    // A statement accepted by another promotion, replayed here.
    expect(acceptedElsewhere).toBeDefined();
    expect(await refused(decide(handle, 'approve', acceptedElsewhere ?? signedBy(eve, good)))).toMatch(
      /the statement is for workflow 'promote\/signed-.*', not/,
    );
    // Expired: issued 20 minutes ago for 5 minutes.
    expect(await refused(decide(handle, 'approve', signedBy(alice, good, Date.now() - 20 * 60_000)))).toMatch(
      /expired at/,
    );
    // A modified reason: the signature no longer covers the text.
    const signed = signedBy(alice, good);
    const modified = { ...signed, statement: signed.statement.replace('"reason":"ok"', '"reason":"okay"') };
    expect(await refused(decide(handle, 'approve', modified))).toMatch(/bad signature/);
    // A statement for one action sent as another.
    expect(await refused(decide(handle, 'reject', signed))).toMatch(/for 'approve', not 'reject'/);
    // An approver is no operator: without her in `operators` an abort is refused.
    expect(
      await refused(operate(handle, 'abort', signedBy(alice, { ...good, action: 'abort', reason: 'stop' }))),
    ).toMatch(/'alice' may not abort/);

    const state = await promotionStatus(handle);
    expect(state.phase).toBe('approval');
    expect(state.decisions).toEqual([]);
    expect(state.approval.decision).toBeUndefined();

    // The good one, by signal; the same statement signalled again is a replay and is ignored.
    await handle.signal(approveSignal, signed);
    await handle.signal(approveSignal, signed);
    const final = await handle.result();
    expect(final.outcome).toBe('promoted');
    expect(final.decisions?.map((d) => `${d.action}:${d.by}:${d.via}`)).toEqual(['approve:alice:signal']);
    expect(
      final.audit.some((a) => a.kind === 'ignored-signal' && /already used in this run/.test(a.message)),
    ).toBe(true);
    const mv = await h.mlflow.getModelVersion(model, version);
    expect(Object.keys(mv.tags).filter((k) => k.startsWith(DECISION_TAG_PREFIX))).toHaveLength(1);
  });

  it('without operators in the spec, operator actions are denied, also to trusted people', async () => {
    const { handle, runId } = await awaitingApproval({ operators: [] });
    const abort = signedBy(alice, {
      workflowId: handle.workflowId,
      runId,
      action: 'abort',
      reason: 'stop it',
    });
    await expect(operate(handle, 'abort', abort)).rejects.toThrow(/no operators are configured/);
    // The same holds in unverified mode: "nobody" aborting a rollout with a typed name is refused.
    const model = uniqueModel('unverified-noop');
    const version = await h.register(model, 'good');
    const { handle: open } = await startPromotion(
      h.client,
      h.input(
        sampleSpec(model, {
          gates: { performance: [{ metric: 'auc', min: 0.7 }] },
          identity: 'unverified',
          operators: [],
          approval: { required: true, approvers: ['alice'], timeout: '1h' },
        }),
        version,
      ),
      h.taskQueue,
    );
    await untilStatus(open, (s) => s.phase === 'approval', 'phase approval');
    await expect(operate(open, 'abort', { operator: 'nobody', reason: 'x' })).rejects.toThrow(
      /no operators are configured/,
    );
    // A signed abort by a listed operator ends the promotion, recorded with the key.
    const withOps = await awaitingApproval();
    const signed = await signDecision(
      { workflowId: withOps.handle.workflowId, runId: withOps.runId, action: 'abort', reason: 'superseded' },
      ops.privatePath,
    );
    await operate(withOps.handle, 'abort', signed);
    const final = await withOps.handle.result();
    expect(final.outcome).toBe('aborted');
    expect(final.reason).toBe('aborted by ops: superseded');
    expect(final.decisions?.map((d) => `${d.action}:${d.by}`)).toEqual(['abort:ops']);
    await decide(
      handle,
      'reject',
      signedBy(alice, { workflowId: handle.workflowId, runId, action: 'reject', reason: 'done' }),
    );
    await decide(open, 'reject', { approver: 'alice', reason: 'done' });
    expect((await open.result()).outcome).toBe('rejected');
    expect((await handle.result()).outcome).toBe('rejected');
  }, 180_000);

  it('a spec naming someone the trust file does not trust is refused before any gate runs', async () => {
    const model = uniqueModel('signed');
    const version = await h.register(model, 'good');
    const { handle } = await startPromotion(
      h.client,
      h.input(verifiedSpec(model, { approval: { required: true, approvers: ['carol'] } }), version),
      h.taskQueue,
    );
    const final = await handle.result();
    expect(final.outcome).toBe('failed');
    expect(final.reason).toMatch(/IDENTITY_NOT_TRUSTED: .*'carol' may not approve/);
    expect(final.gates).toEqual([]);
  });

  it('the report and the UI say identity: unverified when the spec declares it', async () => {
    const model = uniqueModel('unverified');
    const version = await h.register(model, 'good');
    const { handle } = await startPromotion(
      h.client,
      h.input(sampleSpec(model, { gates: { performance: [{ metric: 'auc', min: 0.7 }] } }), version),
      h.taskQueue,
    );
    const final = await handle.result();
    expect(final.identity).toEqual({ mode: 'unverified' });
    const described = await handle.describe();
    expect(await described.staticSummary()).toMatch(/identity: unverified/);
    expect(await described.staticDetails()).toMatch(/Identity: \*\*unverified\*\*/);
    const mv = await h.mlflow.getModelVersion(model, version);
    const report = mv.tags[TAG.report] ?? '';
    const md = (await h.mlflow.downloadArtifact(report.replace(/^mlflow-artifacts:\//, ''))).toString('utf8');
    expect(md).toMatch(/Identity: \*\*unverified\*\*/);
  });
});
