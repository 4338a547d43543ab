import type { Dataset } from '../dataset/dataset';
import { NAN_CUTOFF } from './models';
import { sampleDataset } from './datasets';

/**
 * Traffic segments for demos and tests. The `nan` sample model answers NaN when f0 > NAN_CUTOFF,
 * which the usual population almost never reaches: a holdout drawn from `usualRows` cannot reveal
 * the defect, while `newSegmentRows` (f0 shifted up, as when a new customer segment arrives) hits it
 * on about a third of requests. That is the "fine offline, fails live" case the live gates exist for.
 */
export function usualRows(rows: number, seed: number): Dataset {
  return keepRows(
    sampleDataset({ rows, seed }),
    (r, ds) => (ds.features[r * ds.featureNames.length] ?? 0) <= NAN_CUTOFF,
  );
}

export function newSegmentRows(rows: number, seed: number): Dataset {
  return sampleDataset({ rows, seed, shift: [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
}

/** The rows of `ds` for which `keep` holds, all columns kept aligned. */
export function keepRows(ds: Dataset, keep: (row: number, ds: Dataset) => boolean): Dataset {
  const width = ds.featureNames.length;
  const rows: number[] = [];
  for (let r = 0; r < ds.rows; r++) if (keep(r, ds)) rows.push(r);
  const features = new Float32Array(rows.length * width);
  const labels = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    features.set(ds.features.subarray(r * width, (r + 1) * width), i * width);
    labels[i] = ds.labels[r] ?? 0;
  });
  const sensitive = Object.fromEntries(
    Object.entries(ds.sensitive).map(([k, values]) => [k, rows.map((r) => values[r] ?? '')]),
  );
  return { ...ds, rows: rows.length, features, labels, sensitive };
}
