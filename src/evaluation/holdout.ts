import { loadDatasetCsv, type ReadDatasetCsvOptions } from '../dataset/csv';
import type { Dataset } from '../dataset/dataset';
import type { Evaluation, Task } from '../spec/schema';

/**
 * How a spec's holdout is read: one definition for the worker's gates and for `prograde promote`, which
 * reads a local holdout before it starts anything so a bad file is exit 2 with nothing written.
 */
export function holdoutReadOptions(evaluation: Evaluation, task: Task | undefined): ReadDatasetCsvOptions {
  return {
    label: evaluation.label,
    features: evaluation.features,
    sensitive: evaluation.sensitive,
    // A regression holdout has continuous labels; only classification needs them 0/1.
    task: task === 'regression' ? 'regression' : 'classification',
    ...(evaluation.maxRows === undefined ? {} : { maxRows: evaluation.maxRows }),
  };
}

/** The holdout at `path` and the sha256 of the bytes read; `DATASET_INVALID` (exit 2) names file, line and column. */
export function loadHoldout(
  path: string,
  evaluation: Evaluation,
  task: Task | undefined,
): Promise<{ dataset: Dataset; sha256: string }> {
  return loadDatasetCsv(path, holdoutReadOptions(evaluation, task));
}
