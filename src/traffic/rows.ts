import { readDatasetCsv } from '../dataset/csv';
import { type Dataset } from '../dataset/dataset';
import { InvalidInputError } from '../errors';
import { SAMPLE_FEATURES, SAMPLE_LABEL, sampleDataset } from '../samples/datasets';

/** Where the feature rows of generated traffic come from. */
export type TrafficRowSource =
  | {
      readonly kind: 'sample';
      readonly rows: number;
      readonly seed: number;
      /** Added to the feature means, e.g. f0 += 2 makes the `nan` sample model fail on ~31 % of rows. */
      readonly shift?: readonly number[];
    }
  | {
      readonly kind: 'csv';
      readonly file: string;
      readonly features: readonly string[];
      readonly label: string;
      readonly maxRows?: number;
      /** Added to each feature column, in `features` order. */
      readonly shift?: readonly number[];
    };

export async function loadTrafficRows(source: TrafficRowSource): Promise<Dataset> {
  if (source.kind === 'sample') {
    return sampleDataset({
      rows: source.rows,
      seed: source.seed,
      ...(source.shift ? { shift: source.shift } : {}),
    });
  }
  const ds = await readDatasetCsv(source.file, {
    label: source.label,
    features: source.features,
    ...(source.maxRows !== undefined ? { maxRows: source.maxRows } : {}),
  });
  return source.shift ? shifted(ds, source.shift) : ds;
}

function shifted(ds: Dataset, shift: readonly number[]): Dataset {
  const width = ds.featureNames.length;
  const features = Float32Array.from(ds.features, (v, i) => v + (shift[i % width] ?? 0));
  return { ...ds, features };
}

/**
 * Parses `f0=2,f3=-1` (per feature, by name) or `0.5` (every feature) into one shift per feature.
 */
export function parseShift(text: string, featureNames: readonly string[]): number[] {
  const trimmed = text.trim();
  const all = Number(trimmed);
  if (trimmed !== '' && Number.isFinite(all)) return featureNames.map(() => all);
  const out = featureNames.map(() => 0);
  for (const part of trimmed.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*(-?\d+(?:\.\d+)?)\s*$/.exec(part);
    const index = m ? featureNames.indexOf(m[1] ?? '') : -1;
    if (!m || index < 0) {
      throw new InvalidInputError(
        `--shift '${part.trim()}' is not <feature>=<number> with a feature among ${featureNames.join(', ')}`,
        { shift: text },
      );
    }
    out[index] = Number(m[2]);
  }
  return out;
}

export const DEFAULT_TRAFFIC_FEATURES = SAMPLE_FEATURES;
export const DEFAULT_TRAFFIC_LABEL = SAMPLE_LABEL;
