import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:image`: builds infra/docker/Dockerfile with podman from a base assembled locally
 * (infra/build-image.sh) and runs the image. Kept out of `npm test` (its file is not *.test.ts): a
 * first build takes about 5 minutes on a 2-core machine (debootstrap 1.5 min, npm ci in the build 3–4).
 */
export default defineConfig({
  test: {
    name: 'image',
    root: fileURLToPath(new URL('../../..', import.meta.url)),
    include: ['test/e2e/image/**/*.image-test.ts'],
    pool: 'forks',
    testTimeout: 20 * 60_000,
  },
});
