import { IllegalStateError } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';

/**
 * Promotions run for hours; a worker deployed mid-rollout replays each open promotion's history
 * against the new workflow code. These histories were recorded from real runs
 * (test/fixtures/histories/record.ts); replaying them here makes a non-deterministic edit of
 * src/workflows fail CI instead of wedging promotions in flight.
 */
const HISTORIES_DIR = join(repoRoot, 'test', 'fixtures', 'histories');
const WORKFLOWS_DIR = join(repoRoot, 'src', 'workflows');

// Every recorded path through the workflow; a missing file must fail, never shrink the suite.
const RECORDED = [
  'first-model-promoted',
  'fairness-rejected',
  'approval-by-update',
  'live-shadow-canary-pause-resume',
  'live-nan-rollback',
  // Recorded with the rollout lock, validated messages and prompt controls (patched in, see run.ts).
  'live-queued-behind-another',
  'hostile-signals-then-approved',
  'abort-during-timed-pause',
  'already-promoted',
] as const;

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (m: string) => console.error(m),
};

function loadHistory(name: string): ReturnType<typeof historyFromJSON> {
  return historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, `${name}.json`), 'utf8')));
}

function bundle(workflowsDir: string): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: join(workflowsDir, 'index.ts'),
    payloadConverterPath: join(workflowsDir, 'payload-converter.ts'),
    logger: quietBundlerLogger,
  });
}

/**
 * A copy of src/workflows whose promoteModel starts with a 1 ms timer: the smallest edit that changes
 * the command sequence. Imports of the rest of src point back at the repository; node_modules is linked
 * so the copy bundles against the same SDK.
 */
function nonDeterministicCopy(root: string): string {
  const dir = join(root, 'workflows');
  cpSync(WORKFLOWS_DIR, dir, { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const path = join(dir, file);
    writeFileSync(path, readFileSync(path, 'utf8').replaceAll("from '../", `from '${repoRoot}/src/`));
  }
  const promotePath = join(dir, 'promote.ts');
  const source = readFileSync(promotePath, 'utf8');
  const entry = /export async function promoteModel\([^)]*\)[^{]*\{/;
  if (!entry.test(source)) throw new Error(`promoteModel's signature not found in ${promotePath}`);
  writeFileSync(
    promotePath,
    `import { sleep as replayTestSleep } from '@temporalio/workflow';\n` +
      source.replace(entry, (head) => `${head}\n  await replayTestSleep(1);`),
  );
  return dir;
}

describe('workflow replay of recorded histories', () => {
  let current: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    // The expected determinism failures below would otherwise flood the output with core warnings.
    try {
      Runtime.install({
        logger: new DefaultLogger('ERROR'),
        telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, console: {} } },
      });
    } catch (e) {
      // Installed once per process; if another file in this fork got there first, keep its settings.
      if (!(e instanceof IllegalStateError)) throw e;
    }
    current = await bundle(WORKFLOWS_DIR);
  }, 120_000);

  it('has every recorded history and nothing unlisted', () => {
    const files = readdirSync(HISTORIES_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/\.json$/, ''))
      .sort();
    expect(files).toEqual([...RECORDED].sort());
  });

  it.each(RECORDED)(
    'replays %s deterministically with the current workflow code',
    async (name) => {
      const history = loadHistory(name);
      // Only finished runs are recorded, so the whole workflow is replayed, its result included.
      expect(history.events?.at(-1)?.eventType).toBe(
        temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
      );
      await Worker.runReplayHistory({ workflowBundle: current }, history, `replay-${name}`);
    },
    60_000,
  );

  describe('with a non-deterministic edit', () => {
    let root: string;
    let edited: WorkflowBundleWithSourceMap;

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'prograde-replay-'));
      edited = await bundle(nonDeterministicCopy(root));
    }, 120_000);
    afterAll(() => {
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('fails every recorded history with a DeterminismViolationError', async () => {
      const histories = RECORDED.map((name) => ({
        workflowId: `replay-${name}`,
        history: loadHistory(name),
      }));
      const failures: Record<string, string> = {};
      for await (const result of Worker.runReplayHistories({ workflowBundle: edited }, histories)) {
        failures[result.workflowId] =
          result.error instanceof DeterminismViolationError ? 'determinism' : String(result.error);
      }
      expect(failures).toEqual(Object.fromEntries(RECORDED.map((name) => [`replay-${name}`, 'determinism'])));
    }, 120_000);
  });
});
