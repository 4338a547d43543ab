import type { Command } from 'commander';
import { z } from 'zod';
import { mlflowClient } from '../../config/mlflow';
import { isTrusted, loadTrustFile, personOfKey, TRUST_FILE_ENV, type TrustFile } from '../../config/trust';
import { InvalidInputError } from '../../errors';
import { isMlflowNotFound } from '../../mlflow/errors';
import { workflowIdFor } from '../../promotion/state';
import { checkRecordedSignature, decisionsOf, type RecordedDecision } from '../../records/decisions';
import { rollbackStatementIds } from '../../records/rollback';
import { ExitCode } from '../exit-codes';
import { parseModelRef } from '../model-ref';
import { CliExit } from '../run';

const Flags = z.object({ trust: z.string().min(1).optional(), json: z.boolean().default(false) });

export interface DecisionCheck {
  readonly tag: string;
  readonly ok: boolean;
  readonly action?: string;
  readonly by?: string;
  readonly fingerprint?: string;
  readonly issuedAt?: string;
  readonly reason?: string;
  /** Why it does not verify. */
  readonly problem?: string;
}

/**
 * Checks one decision recorded on `model` v`version`: the signature over the exact statement, the
 * key among the trust file's people, that person trusted for the action on this model, and the
 * statement made about this version (a promotion of it, or a rollback from it). The `signed-by`
 * line of the tag is never believed: the signer comes from the key.
 */
export function checkDecision(
  trust: TrustFile,
  model: string,
  version: string,
  d: RecordedDecision,
): DecisionCheck {
  const base = { tag: d.tag };
  const s = d.statement;
  if (!s) return { ...base, ok: false, problem: d.unreadable ?? 'unreadable statement' };
  const about = { ...base, action: s.action, issuedAt: s.issuedAt, reason: s.reason };
  const sig = checkRecordedSignature(d);
  if (!sig.ok) return { ...about, ok: false, problem: sig.problem };
  const signed = { ...about, fingerprint: sig.fingerprint };
  const person = personOfKey(trust, sig.fingerprint);
  if (!person) return { ...signed, ok: false, problem: `key ${sig.fingerprint} is not in the trust file` };
  const by = { ...signed, by: person.name };
  const role = s.action === 'approve' || s.action === 'reject' ? 'approve' : 'operate';
  if (!isTrusted(trust, model, person.name, role)) {
    return { ...by, ok: false, problem: `${person.name} is not trusted to ${role} ${model}` };
  }
  const rollback = rollbackStatementIds(model, version);
  const forThisVersion =
    s.action === 'rollback'
      ? s.workflowId === rollback.workflowId && s.runId === rollback.runId
      : s.workflowId === workflowIdFor(model, version);
  if (!forThisVersion) {
    return {
      ...by,
      ok: false,
      problem: `the statement is about ${s.workflowId} ${s.runId}, not ${model} v${version}`,
    };
  }
  return { ...by, ok: true };
}

export function register(program: Command): void {
  program
    .command('verify <model@version>')
    .description('Check every signed decision recorded on an MLflow model version against the trust file')
    .option('--trust <file>', `trust file (default $${TRUST_FILE_ENV})`)
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      '\nExit codes: 0 every recorded decision verifies, 1 one does not (or none is recorded), 2 bad input.',
    )
    .action(async (ref: string, raw: unknown) => {
      const { model, version } = parseModelRef(ref);
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => i.message).join('; '));
      const path = parsed.data.trust ?? process.env[TRUST_FILE_ENV];
      if (!path) throw new InvalidInputError(`give --trust <file> or set ${TRUST_FILE_ENV}`);
      const trust = await loadTrustFile(path);
      let tags: Readonly<Record<string, string>>;
      try {
        tags = (await mlflowClient().getModelVersion(model, version)).tags;
      } catch (e) {
        if (isMlflowNotFound(e)) throw new InvalidInputError(`MLflow has no ${model} v${version}`);
        throw e;
      }
      const checks = decisionsOf(tags).map((d) => checkDecision(trust, model, version, d));
      const ok = checks.length > 0 && checks.every((c) => c.ok);
      if (parsed.data.json) {
        console.log(JSON.stringify({ model, version, ok, decisions: checks }, null, 2));
      } else if (checks.length === 0) {
        console.log(`${model} v${version}: no signed decisions are recorded on this version`);
      } else {
        for (const c of checks) {
          const who = c.by ? `${c.by} (${c.fingerprint})` : (c.fingerprint ?? 'unknown signer');
          const line = `${c.action ?? '?'} by ${who} at ${c.issuedAt ?? '?'}: ${c.reason ?? ''}`;
          console.log(c.ok ? `✓ ${line}` : `✗ ${line}\n    ${c.problem ?? ''}`);
        }
        console.log(
          ok
            ? `all ${checks.length} verified`
            : `${checks.filter((c) => !c.ok).length} of ${checks.length} do not verify`,
        );
      }
      if (!ok) throw new CliExit(ExitCode.rejected);
    });
}
