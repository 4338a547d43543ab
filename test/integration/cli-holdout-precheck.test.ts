import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../src/promotion/state';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { prograde, specFile } from '../support/cli';

/**
 * A holdout a newcomer exports by hand (labels yes/no, a missing value) is refused by `prograde promote`
 * with exit 2 and the file's line and column, before any workflow starts or MLflow is written. It used
 * to start the workflow, fail at the format gate with exit 3, and record a `failed` outcome on the version.
 */
describe('promote reads a local holdout before starting', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function expectNothingStarted(model: string, version: string): Promise<void> {
    const handle = h.client.workflow.getHandle(workflowIdFor(model, version));
    await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const mv = await h.mlflow.getModelVersion(model, version);
    expect(Object.keys(mv.tags ?? {}).filter((k) => k.startsWith('prograde.'))).toEqual([]);
  }

  it.each([
    [
      'labels written yes/no',
      (rows: string[][], label: number) =>
        rows.forEach((r, i) => i > 0 && (r[label] = r[label] === '1' ? 'yes' : 'no')),
      /line 2: label column 'is_fraud' has '(yes|no)', expected 0 or 1 \(write the positive class as 1/,
    ],
    [
      'an empty feature cell',
      (rows: string[][]) => void ((rows[4] as string[])[0] = ''),
      /line 5: column '[^']+' has '', which is not a finite number/,
    ],
  ] as const)('%s: exit 2, no workflow, no MLflow write', async (_name, spoil, message) => {
    const model = uniqueModel('cli-holdout');
    const version = await h.register(model, 'good');
    const file = specFile(h, sampleSpec(model));
    const csv = join(dirname(file), 'holdout.csv');
    const rows = readFileSync(csv, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => l.split(','));
    spoil(rows, (rows[0] as string[]).indexOf('is_fraud'));
    writeFileSync(csv, rows.map((r) => r.join(',')).join('\n') + '\n');

    const r = await prograde(h, ['promote', '--spec', file, '--version', version, '--wait']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('[DATASET_INVALID]');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain('started');
    await expectNothingStarted(model, version);
  });
});
