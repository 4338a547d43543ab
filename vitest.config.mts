import { defineConfig } from 'vitest/config';

// Forks, not threads: Temporal's native bridge crashes when loaded in worker threads.
// Three projects, one per tier (CONTRIBUTING.md, "How to run each test tier"):
// - `unit` (npm run test:unit) needs no server and no tool beyond node_modules;
// - `workflow` (npm run test:workflow) runs the real workflows with stubbed activities, each file on
//   its own Temporal test server (time-skipping) or dev server, both from the bootstrap's tools cache;
// - `integration` starts a real Temporal dev server and a real MLflow server once for the run
//   (test/support/global-setup.ts).
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'workflow', include: ['test/workflow/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          // Browser tests of the Temporal Web UI share the integration run's servers.
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
