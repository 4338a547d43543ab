import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../../src/devstack/tools';
import type { PromotionSpecInput } from '../../src/spec/schema';
import type { Harness } from './harness';
import { GATEWAY_TOKEN } from './live';
import { stack } from './stack';

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `prograde …` as CI would: its own process, environment only. Asynchronous, so the in-process worker keeps serving. */
export function prograde(
  h: Harness,
  args: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<CliResult> {
  const env = {
    ...process.env,
    ...extraEnv,
    CI: 'true',
    TEMPORAL_ADDRESS: stack.temporalAddress(),
    MLFLOW_TRACKING_URI: stack.mlflowUri(),
    PROGRADE_TASK_QUEUE: h.taskQueue,
    PROGRADE_GATEWAY_TOKEN: GATEWAY_TOKEN,
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/prograde.js', ...args],
      { cwd: repoRoot, env, encoding: 'utf8' },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Writes `spec` as promotion.yaml in a folder of its own, beside a copy of the holdout set it names. */
export function specFile(h: Harness, spec: PromotionSpecInput): string {
  const dir = mkdtempSync(join(h.dir, 'spec-'));
  copyFileSync(h.datasetPath, join(dir, 'holdout.csv'));
  const file = join(dir, 'promotion.yaml');
  writeFileSync(file, stringify(spec));
  return file;
}
