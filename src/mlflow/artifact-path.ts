import { posix } from 'node:path';
import { ProgradeError } from '../errors';

/**
 * Artifact locations as the server hands them out, mapped to paths under the proxied artifacts API
 * (`/api/2.0/mlflow-artifacts/artifacts/<path>`). The returned path is relative, '/'-separated, and
 * never contains `..`: a location that would climb out of the artifact root is refused.
 */
export function proxiedArtifactPath(location: string): string {
  if (location.startsWith('mlflow-artifacts:')) {
    const rest = location.slice('mlflow-artifacts:'.length);
    // `mlflow-artifacts://host:port/p` names the serving host; the path after it is what counts.
    const path = rest.startsWith('//') ? rest.slice(2).replace(/^[^/]*/, '') : rest;
    return normaliseRelative(decodeURIComponent(path), location);
  }
  // A server whose artifacts live on its own disk under the default `./mlartifacts` destination may
  // report plain file locations; the part below that folder is the proxied path.
  const filePath = location.startsWith('file://') ? decodeURIComponent(new URL(location).pathname) : location;
  if (filePath.startsWith('/')) {
    const segments = filePath.split('/');
    const root = segments.lastIndexOf('mlartifacts');
    if (root >= 0) return normaliseRelative(segments.slice(root + 1).join('/'), location);
  }
  throw new ProgradeError(
    'MLFLOW_ARTIFACT_URI_UNSUPPORTED',
    `Artifact location ${JSON.stringify(location)} is not served through the MLflow artifact proxy; start the server with --serve-artifacts (locations look like mlflow-artifacts:/...)`,
    'terminal',
    { location },
  );
}

/** Strips leading slashes and rejects `..`, so the path stays below the artifact root. */
export function normaliseRelative(path: string, origin: string = path): string {
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed.split('/').some((s) => s === '..') || trimmed.includes('\\') || trimmed.includes('\0')) {
    throw new ProgradeError(
      'ARTIFACT_PATH_ESCAPE',
      `Artifact path ${JSON.stringify(origin)} climbs out of its root`,
      'terminal',
      {
        path: origin,
      },
    );
  }
  return posix.normalize(trimmed === '' ? '.' : trimmed).replace(/^\.$/, '');
}

/** Joins proxied path segments with '/', skipping empty ones. */
export function joinArtifactPath(...parts: readonly string[]): string {
  return parts.filter((p) => p !== '').join('/');
}
