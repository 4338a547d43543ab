import { ProgradeError } from '../errors';
import type { MlflowClient } from '../mlflow/client';
import type { GatewayAdmin } from '../serving/admin-client';
import type { SignedDecisionRecord } from '../promotion/state';
import { decisionTag, decisionTagValue } from './decisions';
import { TAG } from './tags';

export interface RollbackRequest {
  readonly model: string;
  readonly championAlias: string;
  /** A typed name (unverified); ignored when `sign` is given. */
  readonly operator: string;
  readonly reason: string;
  /**
   * Signs the rollback once it is known which version is rolled back from (the statement names it),
   * before anything changes. Its record is written on that version as a decision tag (decisions.ts).
   */
  readonly sign?: (fromVersion: string) => Promise<SignedRollback>;
}

/** A signed rollback: who (as far as this machine knows) and the record to keep on the version. */
export interface SignedRollback {
  readonly operator: string;
  readonly record: Pick<SignedDecisionRecord, 'statement' | 'signature' | 'fingerprint' | 'digest' | 'by'>;
}

export interface RollbackResult {
  readonly from: string;
  readonly to: string;
  readonly generation: number;
}

/** What a rollback statement names: no workflow runs it, so the model and the version it leaves. */
export const rollbackStatementIds = (model: string, fromVersion: string) => ({
  workflowId: `rollback/${model}`,
  runId: `v${fromVersion}`,
});

/**
 * `prograde rollback <model>`: the champion before the last promotion serves again. Instant while
 * that version is still retained on the gateway (the promotion keeps it loaded for
 * `rollback.keepPreviousFor`); otherwise the gateway loads it first. The gateway changes before the
 * registry, so the alias never names a version that does not serve. The restored champion loses its
 * `prograde.replaced_by` tag, and the version rolled back from is tagged `rolled-back`.
 */
export async function rollbackToPrevious(
  mlflow: MlflowClient,
  gateway: GatewayAdmin,
  req: RollbackRequest,
): Promise<RollbackResult> {
  const current = await mlflow.getModelVersionByAlias(req.model, req.championAlias);
  const previous = current.tags[TAG.previousChampion];
  if (!previous) {
    throw new ProgradeError(
      'NO_PREVIOUS_CHAMPION',
      `${req.model} v${current.version} (@${req.championAlias}) has no ${TAG.previousChampion} tag: it was not promoted by prograde over an earlier champion`,
      'terminal',
      { model: req.model, version: current.version },
    );
  }
  const signed = req.sign ? await req.sign(current.version) : undefined;
  const operator = signed?.operator ?? req.operator;
  const routing = await gateway.getRouting(req.model);
  const generation = (routing?.generation ?? 0) + 1;
  await gateway.putRouting(
    req.model,
    { generation, stable: { version: previous }, retain: [current.version] },
    `${operator} (prograde rollback${signed ? `, signed ${signed.record.fingerprint}` : ', unverified name'}): ${req.reason}`,
  );
  await mlflow.setAlias(req.model, req.championAlias, previous);
  // The version serving again is nobody's replaced champion any more.
  const restored = await mlflow.getModelVersion(req.model, previous);
  if (TAG.replacedBy in restored.tags)
    await mlflow.deleteModelVersionTag(req.model, previous, TAG.replacedBy);
  await mlflow.setModelVersionTag(req.model, current.version, TAG.outcome, 'rolled-back');
  await mlflow.setModelVersionTag(
    req.model,
    current.version,
    TAG.reason,
    `rolled back to v${previous} by ${operator}: ${req.reason}`,
  );
  if (signed) {
    await mlflow.setModelVersionTag(
      req.model,
      current.version,
      decisionTag(signed.record.digest),
      decisionTagValue(signed.record),
    );
  }
  return { from: current.version, to: previous, generation };
}
