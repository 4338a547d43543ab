import { InvalidInputError } from '../errors';
import { joinArtifactPath, normaliseRelative, proxiedArtifactPath } from './artifact-path';
import type { MlflowClient } from './client';
import type { ModelVersion } from './schemas';

/** A `models:/…` or `runs:/…` URI, parsed. */
export type ModelUri =
  | { readonly kind: 'version'; readonly name: string; readonly version: string }
  | { readonly kind: 'alias'; readonly name: string; readonly alias: string }
  | { readonly kind: 'logged-model'; readonly modelId: string }
  | { readonly kind: 'run'; readonly runId: string; readonly path: string };

const LOGGED_MODEL_ID = /^m-[0-9a-f]+$/;

function invalid(uri: string, why: string): InvalidInputError {
  return new InvalidInputError(
    `Model URI ${JSON.stringify(uri)} ${why}; expected models:/<name>/<version>, models:/<name>@<alias>, models:/m-<id> or runs:/<run_id>/<path>`,
    { uri },
  );
}

export function parseModelUri(uri: string): ModelUri {
  if (uri.startsWith('runs:/')) {
    const rest = uri.slice('runs:/'.length).replace(/^\/+/, '');
    const slash = rest.indexOf('/');
    const runId = slash < 0 ? rest : rest.slice(0, slash);
    if (!/^[0-9a-zA-Z]+$/.test(runId)) throw invalid(uri, 'has no run id');
    return { kind: 'run', runId, path: normaliseRelative(slash < 0 ? '' : rest.slice(slash + 1), uri) };
  }
  if (!uri.startsWith('models:/')) throw invalid(uri, 'is not a models:/ or runs:/ URI');
  const rest = uri.slice('models:/'.length);
  if (rest === '') throw invalid(uri, 'names no model');
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const name = rest.slice(0, at);
    const alias = rest.slice(at + 1);
    if (name === '' || alias === '' || alias.includes('/')) throw invalid(uri, 'has an empty name or alias');
    return { kind: 'alias', name, alias };
  }
  const slash = rest.lastIndexOf('/');
  if (slash < 0) {
    if (LOGGED_MODEL_ID.test(rest)) return { kind: 'logged-model', modelId: rest };
    throw invalid(uri, 'names a model but no version or alias');
  }
  const name = rest.slice(0, slash);
  const version = rest.slice(slash + 1);
  if (name === '' || !/^[1-9]\d*$/.test(version))
    throw invalid(uri, `has version ${JSON.stringify(version)}, not a positive number`);
  return { kind: 'version', name, version };
}

export function formatModelUri(uri: ModelUri): string {
  switch (uri.kind) {
    case 'version':
      return `models:/${uri.name}/${uri.version}`;
    case 'alias':
      return `models:/${uri.name}@${uri.alias}`;
    case 'logged-model':
      return `models:/${uri.modelId}`;
    case 'run':
      return `runs:/${uri.runId}/${uri.path}`;
  }
}

/** The registered version a URI names; logged-model and run URIs name no registered version. */
export async function resolveModelVersion(
  client: MlflowClient,
  uri: string | ModelUri,
): Promise<ModelVersion> {
  const parsed = typeof uri === 'string' ? parseModelUri(uri) : uri;
  switch (parsed.kind) {
    case 'version':
      return client.getModelVersion(parsed.name, parsed.version);
    case 'alias':
      return client.getModelVersionByAlias(parsed.name, parsed.alias);
    default:
      throw invalid(formatModelUri(parsed), 'names no registered model version');
  }
}

/**
 * Proxied artifact path of the files a URI names. Registered versions go through get-download-uri,
 * never through `source`, which in MLflow 3 is often `models:/m-<id>`.
 */
export async function resolveArtifactPath(client: MlflowClient, uri: string | ModelUri): Promise<string> {
  const parsed = typeof uri === 'string' ? parseModelUri(uri) : uri;
  switch (parsed.kind) {
    case 'version':
      return proxiedArtifactPath(await client.getModelVersionDownloadUri(parsed.name, parsed.version));
    case 'alias': {
      const mv = await client.getModelVersionByAlias(parsed.name, parsed.alias);
      return proxiedArtifactPath(await client.getModelVersionDownloadUri(mv.name, mv.version));
    }
    case 'logged-model':
      return proxiedArtifactPath((await client.getLoggedModel(parsed.modelId)).artifactUri);
    case 'run':
      return joinArtifactPath(
        proxiedArtifactPath((await client.getRun(parsed.runId)).artifactUri),
        parsed.path,
      );
  }
}
