import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ProgradeError } from '../errors';
import { loadSpec, resolveDatasetLocation, type LoadedSpec } from '../spec/load';
import { SpecError } from '../spec/spec-error';
import type { DatasetRef } from '../promotion/state';

/** A spec the webhook may start promotions with, and its dataset as the worker will read it. */
export interface RegisteredSpec {
  readonly loaded: LoadedSpec;
  readonly dataset: DatasetRef;
}

/** At most this many spec files are read from the folder: it is configuration, not a data store. */
const MAX_SPECS = 500;

/**
 * Reads every `*.yaml` / `*.yml` in `dir` (not recursively) as a promotion spec, once, at start.
 *
 * Why a folder the operator deploys and not a registry tag naming a spec: whoever may set tags on a
 * registered model (any registry writer) could then point the next promotion at a lenient spec of
 * their own and wave a candidate through. A folder on the webhook's machine changes only through
 * whoever deploys it (a reviewed repository), like the spec `prograde promote` is run with in CI.
 * Every spec is validated before the server listens, and two specs for one model are refused, so a
 * delivery can never find a broken or ambiguous spec.
 */
export async function loadSpecRegistry(dir: string): Promise<ReadonlyMap<string, RegisteredSpec>> {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ProgradeError('WEBHOOK_SPECS_INVALID', `--specs ${dir}: not a folder`, 'terminal');
  }
  const files = readdirSync(root)
    .filter((f) => /\.ya?ml$/i.test(f))
    .sort()
    .map((f) => join(root, f));
  if (files.length === 0) {
    throw new ProgradeError(
      'WEBHOOK_SPECS_INVALID',
      `--specs ${dir}: no *.yaml promotion specs in it`,
      'terminal',
    );
  }
  if (files.length > MAX_SPECS) {
    throw new ProgradeError(
      'WEBHOOK_SPECS_INVALID',
      `--specs ${dir}: more than ${MAX_SPECS} specs`,
      'terminal',
    );
  }
  const byModel = new Map<string, RegisteredSpec & { file: string }>();
  const problems: string[] = [];
  for (const file of files) {
    let loaded: LoadedSpec;
    try {
      loaded = await loadSpec(file);
    } catch (e) {
      if (e instanceof SpecError) {
        problems.push(e.format());
        continue;
      }
      throw e;
    }
    const model = loaded.spec.model;
    const other = byModel.get(model);
    if (other) {
      problems.push(`${file}: model '${model}' already has a spec (${other.file}); one spec per model`);
      continue;
    }
    const dataset = resolveDatasetLocation(loaded.spec, loaded.baseDir);
    if (dataset.kind === 'file' && !existsSync(dataset.path)) {
      problems.push(
        `${file}: evaluation.dataset '${loaded.spec.evaluation.dataset}' not found (${dataset.path})`,
      );
      continue;
    }
    byModel.set(model, { loaded, dataset, file });
  }
  if (problems.length > 0) {
    throw new ProgradeError('WEBHOOK_SPECS_INVALID', `--specs ${dir}:\n${problems.join('\n')}`, 'terminal');
  }
  return byModel;
}
