import { ProgradeError } from '../errors';
import type { MlflowClient } from '../mlflow/client';
import type { GatewayAdminClient } from '../serving/admin-client';
import { TAG } from './tags';

export interface RollbackRequest {
  readonly model: string;
  readonly championAlias: string;
  readonly operator: string;
  readonly reason: string;
}

export interface RollbackResult {
  readonly from: string;
  readonly to: string;
  readonly generation: number;
}

/**
 * `prograde rollback <model>`: the champion before the last promotion serves again. Instant while
 * that version is still retained on the gateway (the promotion keeps it loaded for
 * `rollback.keepPreviousFor`); otherwise the gateway loads it first. The gateway changes before the
 * registry, so the alias never names a version that does not serve. The restored champion loses its
 * `prograde.replaced_by` tag, and the version rolled back from is tagged `rolled-back`.
 */
export async function rollbackToPrevious(
  mlflow: MlflowClient,
  gateway: GatewayAdminClient,
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
  const routing = await gateway.getRouting(req.model);
  const generation = (routing?.generation ?? 0) + 1;
  await gateway.putRouting(
    req.model,
    { generation, stable: { version: previous }, retain: [current.version] },
    `${req.operator} (prograde rollback): ${req.reason}`,
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
    `rolled back to v${previous} by ${req.operator}: ${req.reason}`,
  );
  return { from: current.version, to: previous, generation };
}
