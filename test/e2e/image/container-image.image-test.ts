import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../src/devstack/tools';

const run = promisify(execFile);

/**
 * Whether podman can run here at all. Only its absence (or a podman that cannot even report on itself)
 * skips the test; a missing debootstrap, an unreachable mirror or a failing build fail it.
 */
function podmanUnusable(): string | undefined {
  const info = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (info.error) return `podman cannot be started: ${info.error.message}`;
  if (info.status !== 0) return `\`podman info\` fails: ${info.stderr.trim().slice(0, 300)}`;
  return undefined;
}

const unusable = podmanUnusable();
if (unusable) console.log(`[image] SKIPPED: ${unusable} (apt-get install podman debootstrap)`);

/**
 * Given no container registry (the base image cannot be pulled), when infra/build-image.sh assembles a
 * Debian bookworm base with this machine's node and builds the Dockerfile FROM it, then the image
 * answers `prograde --version` with the package's version and validates the example spec with the
 * TypeScript sources and native modules it carries.
 */
describe.skipIf(unusable !== undefined)('container image – built without a registry', () => {
  it('builds infra/docker/Dockerfile and runs prograde from it', async () => {
    const tag = `localhost/prograde:test-${process.pid}`;
    const started = Date.now();
    try {
      const { stdout, stderr } = await run(
        'bash',
        [join(repoRoot, 'infra', 'build-image.sh'), '--tag', tag],
        {
          cwd: repoRoot,
          maxBuffer: 64 * 1024 * 1024,
          timeout: 19 * 60_000,
        },
      );
      console.log(`[image] built and ran ${tag} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      console.log(
        stderr
          .split('\n')
          .filter((l) => l.startsWith('[build-image]'))
          .join('\n'),
      );
      const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
        version: string;
      };
      expect(stdout).toContain(`image: ${tag}`);
      expect(stdout).toContain(`image-version: ${version}`);
      expect(stderr).toMatch(/valid \(model fraud-detector/);
      expect(stderr).toContain('native modules load');

      // It runs as the unprivileged user the Dockerfile makes, and `prograde` is on its PATH.
      expect(stdout).toContain(`image-inside: uid 10001, ${version}`);
    } finally {
      await run('podman', ['rmi', '--force', tag]).catch(() => undefined);
    }
  });
});
