import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startMlflowServer } from '../../src/devstack/mlflow-server';
import { freePort } from '../../src/devstack/ports';
import { startTemporalServer } from '../../src/devstack/temporal-server';

/**
 * Starts a real Temporal dev server and a real MLflow server on free loopback ports in a temporary
 * folder, once for the integration run, and stops them afterwards. Tests never depend on `dev up`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'prograde-test-'));
  mkdirSync(join(dir, 'temporal'));
  mkdirSync(join(dir, 'mlflow'));
  const started = Date.now();
  // Both start in 13–31 s on a 2-core machine at load 15; the defaults (60 s for Temporal) are for
  // `dev up` on a quiet one. A CI machine under a full suite gets more room.
  const timeoutMs = 170_000;
  const [temporal, mlflow] = await Promise.all([
    startTemporalServer({ dataDir: join(dir, 'temporal'), uiPort: await freePort(), timeoutMs }),
    startMlflowServer({ dataDir: join(dir, 'mlflow'), timeoutMs }),
  ]);
  console.log(
    `[stack] Temporal dev server at ${temporal.address} (UI ${temporal.uiUrl ?? 'off'}) (pid ${temporal.process.pid}), MLflow server at ${mlflow.url} (pid ${mlflow.process.pid}), ready in ${((Date.now() - started) / 1000).toFixed(1)}s; data in ${dir}`,
  );
  project.provide('temporalAddress', temporal.address);
  project.provide('temporalNamespace', 'default');
  project.provide('temporalUiUrl', temporal.uiUrl ?? '');
  project.provide('mlflowUri', mlflow.url);
  project.provide('stackDir', dir);
  project.provide('mlflowPid', mlflow.process.pid);
  return async () => {
    await Promise.all([temporal.process.stop(), mlflow.process.stop()]);
    console.log('[stack] Temporal and MLflow servers stopped');
    if (!process.env.PROGRADE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  };
}
