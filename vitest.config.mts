import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

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
  'test/unit/serving-pool-close.test.ts',
];
/** Replays recorded promotion histories against today's workflow code: a workflow test without a server. */
const REPLAY = ['test/unit/workflow-replay.test.ts'];

/**
 * The files that took longest in a full run on 2 cores (CI, 2026-12: 216, 70, 60, 53, 50, 41, 36 s), started
 * first so that none of them is left running alone at the end. Order only: a file missing here runs after
 * these, in vitest's own order (longest first when its cache of the last run has durations, else largest).
 */
const LONGEST_FIRST = [
  'test/integration/chaos-short.test.ts',
  'test/integration/promotion-live-durability.test.ts',
  'test/integration/drift-live.test.ts',
  'test/integration/promotion-replicas.test.ts',
  'test/integration/promotion-live.test.ts',
  'test/integration/gateway-audit-killloop.test.ts',
  'test/workflow/routing-heartbeat.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.findIndex((p) => f.moduleId.endsWith(p));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    const sorted = await super.sort(files);
    return sorted
      .map((file, i) => ({ file, i }))
      .sort((a, b) => rank(a.file) - rank(b.file) || a.i - b.i)
      .map(({ file }) => file);
  }
}

// Forks, not threads: Temporal's native bridge crashes when loaded in worker threads.
// One project per tier (CONTRIBUTING.md, "How to run each test tier"):
// - `unit` (npm run test:unit): in-process tests only; no server, no Python, no subprocess CLI;
// - `slow` (npm run test:slow): the slow serverless tests above;
// - `workflow` (npm run test:workflow): the real workflows with stubbed activities on Temporal's
//   time-skipping test server or its dev server (both from the bootstrap's tools cache), and the
//   history replays;
// - `integration`: a real Temporal dev server and a real MLflow server, started once for the run
//   (test/support/global-setup.ts).
// All four tiers share one pool of forks. vitest's default on 2 cores is one fork (CPUs - 1), which ran the
// files one at a time (vitest 1192 s) while most integration files wait on servers. Two forks keep both
// cores busy; three, beside other jobs at load 20-30, ran many promotion tests past their time limits.
// Every file must be safe beside any other (CONTRIBUTING.md): free ports, its own temp folders, unique
// model names and task queues on the shared servers. VITEST_MAX_WORKERS=1 runs them one at a time again.
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    // The default output, plus the files a crashed fork left unfinished (vitest itself names none).
    reporters: ['default', './test/support/unfinished-reporter.ts'],
    sequence: { sequencer: LongestFirst },
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
          // promotion-rerun's tests take 4-6 s each when the files run one at a time, and ran past 60 s
          // beside two other files at load 25-30: a limit for a hang, not a speed check.
          testTimeout: 180_000,
        },
      },
    ],
  },
});
