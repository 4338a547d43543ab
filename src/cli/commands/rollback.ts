import type { Command } from 'commander';
import { z } from 'zod';
import { signDecision, signingKeyPath } from '../../client/signing';
import { adminFor } from '../../config/gateway';
import { replicasOf } from '../../promotion/contracts';
import { isTrusted, personOfKey, trustFromEnv } from '../../config/trust';
import { InvalidInputError, ProgradeError } from '../../errors';
import { statementDigest } from '../../identity';
import { mlflowClient } from '../../config/mlflow';
import { rollbackStatementIds, rollbackToPrevious, type SignedRollback } from '../../records/rollback';
import { loadSpec } from '../../spec/load';
import { withIdentityFlags } from './control';

const Flags = z.object({
  as: z.string().trim().min(1, '--as <name> must not be empty').optional(),
  key: z.string().min(1).optional(),
  reason: z.string().trim().min(1, '--reason <text> is required'),
  spec: z.string().optional(),
  gateway: z.url({ protocol: /^https?$/, error: '--gateway must be an http(s) URL' }).optional(),
  championAlias: z.string().default('champion'),
});

/**
 * Signs a rollback of `model` from `fromVersion`. No workflow checks a rollback, so the signature is
 * for the record: kept on the version and checked by `prograde verify`. When this machine has the
 * trust file too, a key it does not trust to operate the model is refused before anything changes.
 */
async function signRollback(
  model: string,
  fromVersion: string,
  reason: string,
  key: string | undefined,
): Promise<SignedRollback> {
  const signed = await signDecision(
    { ...rollbackStatementIds(model, fromVersion), action: 'rollback', reason },
    signingKeyPath(key),
  );
  const trust = await trustFromEnv();
  let operator = `key ${signed.fingerprint}`;
  if (trust) {
    const person = personOfKey(trust, signed.fingerprint);
    if (!person || !isTrusted(trust, model, person.name, 'operate')) {
      throw new ProgradeError(
        'DECISION_REFUSED',
        `rollback refused: key ${signed.fingerprint} is not trusted to operate ${model} (trust file ${trust.path})`,
        'terminal',
      );
    }
    operator = person.name;
  }
  return {
    operator,
    record: {
      statement: signed.statement,
      signature: signed.signature,
      fingerprint: signed.fingerprint,
      digest: statementDigest(signed.fingerprint, signed.statement),
      by: operator,
    },
  };
}

export function register(program: Command): void {
  withIdentityFlags(
    program
      .command('rollback <model>')
      .description(
        'Put the previous champion back on the gateway (instant while it is retained) and move @champion back; signed with your SSH key and recorded on the version',
      ),
  )
    .requiredOption('--reason <text>', 'why (part of the signed statement)')
    .option('-s, --spec <file>', 'promotion spec (gateway target and aliases)')
    .option('--gateway <url>', 'gateway URL, when not taken from --spec')
    .option('--champion-alias <alias>', 'registry alias of the champion', 'champion')
    .action(async (model: string, raw: unknown) => {
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => i.message).join('; '));
      const flags = parsed.data;
      if (flags.as !== undefined && flags.key !== undefined) {
        throw new InvalidInputError('give --key (signed) or --as (an unverified name), not both');
      }
      const spec = flags.spec ? (await loadSpec(flags.spec)).spec : undefined;
      const url = flags.gateway ?? spec?.target?.url;
      if (!url) throw new InvalidInputError('give --gateway <url> or --spec with a target');
      // A replicated target (and no --gateway): the rollback goes to every replica, with its quorum.
      const gateway = adminFor({
        url,
        ...(spec?.target?.tokenEnv ? { tokenEnv: spec.target.tokenEnv } : {}),
        ...(flags.gateway === undefined && spec?.target ? replicasOf(spec.target) : {}),
      });
      const result = await rollbackToPrevious(mlflowClient(), gateway, {
        model,
        championAlias: spec?.aliases.champion ?? flags.championAlias,
        operator: flags.as ?? '',
        reason: flags.reason,
        ...(flags.as === undefined
          ? { sign: (from: string) => signRollback(model, from, flags.reason, flags.key) }
          : {}),
      });
      console.log(
        `rolled back ${model}: v${result.from} → v${result.to} (gateway generation ${result.generation})`,
      );
    });
}
