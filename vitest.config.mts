import { defineConfig } from 'vitest/config';

/**
 * Tests that need no server but are slow: they check pure code against the Python oracles
 * (scikit-learn, scipy, fairlearn in the bootstrap's venv), run the CLI as subprocesses, or run
 * ESLint over the tree. They form the `slow` tier, so that `unit` stays under a minute on 2 cores.
 */
const SLOW_TIER = [
  'test/unit/stats-*.test.ts',
  'test/unit/gates-performance.test.ts',
  'test/unit/hostile-spec.test.ts',
  'test/unit/spec-cli.test.ts',
  'test/unit/lint-layers.test.ts',
  'test/unit/helm-chart.test.ts',
];
/** Replays recorded promotion histories against today's workflow code: a workflow test without a server. */
const REPLAY = ['test/unit/workflow-replay.test.ts'];

// Forks, not threads: Temporal's native bridge crashes when loaded in worker threads.
// One project per tier (CONTRIBUTING.md, "How to run each test tier"):
// - `unit` (npm run test:unit): in-process tests only; no server, no Python, no subprocess CLI;
// - `slow` (npm run test:slow): the slow serverless tests above;
// - `workflow` (npm run test:workflow): the real workflows with stubbed activities on Temporal's
//   time-skipping test server or its dev server (both from the bootstrap's tools cache), and the
//   history replays;
// - `integration`: a real Temporal dev server and a real MLflow server, started once for the run
//   (test/support/global-setup.ts).
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: [...SLOW_TIER, ...REPLAY] },
      },
      { extends: true, test: { name: 'slow', include: SLOW_TIER } },
      { extends: true, test: { name: 'workflow', include: ['test/workflow/**/*.test.ts', ...REPLAY] } },
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
