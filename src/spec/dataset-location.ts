import path from 'node:path';
import { datasetUriScheme, type PromotionSpec } from './schema';

/** Where the evaluation dataset comes from: a local file, or a URI MLflow can download. */
export type DatasetLocation = { kind: 'file'; path: string } | { kind: 'uri'; uri: string };

/** Resolves `evaluation.dataset`: URIs stay as they are, paths are taken relative to the spec's directory. */
export function resolveDatasetLocation(
  spec: Pick<PromotionSpec, 'evaluation'>,
  baseDir: string,
): DatasetLocation {
  const location = spec.evaluation.dataset;
  if (datasetUriScheme(location) !== undefined) return { kind: 'uri', uri: location };
  return { kind: 'file', path: path.resolve(baseDir, location) };
}
