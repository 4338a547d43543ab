import { InvalidInputError } from '../errors';
import type { MlflowClient } from '../mlflow/client';
import { isMlflowNotFound } from '../mlflow/errors';
import type { ModelVersion } from '../mlflow/schemas';
import { TAG } from './tags';

/** The version a `prograde promote` is about, as the registry says it is before anything starts. */
export interface CandidateVersion {
  readonly version: string;
  /** The alias it was found by, when no version number was given. */
  readonly viaAlias?: string;
  /**
   * Set when the version is already champion and tagged promoted by prograde: a re-run after a
   * success, which starts nothing and writes nothing.
   */
  readonly alreadyPromoted?: {
    readonly runId: string;
    readonly workflowId?: string;
    readonly reportUri?: string;
  };
}

interface CandidateRequest {
  readonly model: string;
  readonly aliases: { readonly champion: string; readonly candidate: string };
  /** The version number given on the command line; without it the candidate alias decides. */
  readonly version?: string;
}

/**
 * Finds the candidate version in MLflow: by number, or through the spec's candidate alias. A model,
 * version or alias that does not exist is invalid input (exit 2), found before any workflow starts;
 * an unreachable MLflow stays an infrastructure error.
 */
export async function findCandidate(client: MlflowClient, req: CandidateRequest): Promise<CandidateVersion> {
  const where = `in MLflow at ${client.baseUrl}`;
  let mv: ModelVersion;
  try {
    mv =
      req.version === undefined
        ? await client.getModelVersionByAlias(req.model, req.aliases.candidate)
        : await client.getModelVersion(req.model, req.version);
  } catch (e) {
    if (!isMlflowNotFound(e)) throw e;
    if (!(await registeredModelExists(client, req.model))) {
      throw new InvalidInputError(`there is no registered model '${req.model}' ${where}`, {
        model: req.model,
      });
    }
    if (req.version === undefined) {
      throw new InvalidInputError(
        `'${req.model}' has no @${req.aliases.candidate} alias ${where} (aliases.candidate in the spec): ` +
          `pass --version <n>, or point the alias at the version to promote`,
        { model: req.model, alias: req.aliases.candidate },
      );
    }
    throw new InvalidInputError(`'${req.model}' has no version ${req.version} ${where}`, {
      model: req.model,
      version: req.version,
    });
  }
  if (mv.status === 'FAILED_REGISTRATION') {
    throw new InvalidInputError(
      `'${req.model}' v${mv.version} failed registration in MLflow: ${mv.statusMessage || 'no reason given'}`,
      { model: req.model, version: mv.version },
    );
  }
  const found: CandidateVersion = {
    version: mv.version,
    ...(req.version === undefined ? { viaAlias: req.aliases.candidate } : {}),
  };
  const runId = mv.tags[TAG.runId];
  if (mv.aliases.includes(req.aliases.champion) && mv.tags[TAG.outcome] === 'promoted' && runId) {
    const workflowId = mv.tags[TAG.workflowId];
    const reportUri = mv.tags[TAG.report];
    return {
      ...found,
      alreadyPromoted: {
        runId,
        ...(workflowId ? { workflowId } : {}),
        ...(reportUri ? { reportUri } : {}),
      },
    };
  }
  return found;
}

async function registeredModelExists(client: MlflowClient, name: string): Promise<boolean> {
  try {
    await client.getRegisteredModel(name);
    return true;
  } catch (e) {
    if (isMlflowNotFound(e)) return false;
    throw e;
  }
}
