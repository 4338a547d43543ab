import { IllegalStateError } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/worker';
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';
import { TRACING_WORKFLOW_MODULE } from '../../src/telemetry/temporal';
import { PAYLOAD_CONVERTER_PATH } from '../../src/worker';

/**
 * Turning tracing on is a worker restart with the OpenTelemetry workflow interceptors bundled in
 * (src/telemetry/workflow-interceptors.ts). Promotions in flight were recorded without them, so the
 * traced workflow code must replay every recorded history (test/fixtures/histories) exactly as the
 * untraced code does (test/unit/workflow-replay.test.ts). The reverse direction — a history recorded
 * with tracing, replayed without — is checked by test/integration/tracing-promotion.test.ts.
 */
const HISTORIES_DIR = join(repoRoot, 'test', 'fixtures', 'histories');
const recorded = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

const quiet = () => undefined;

describe('workflow replay with the OpenTelemetry interceptors bundled in', () => {
  let traced: WorkflowBundleWithSourceMap;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    try {
      Runtime.install({
        logger: new DefaultLogger('ERROR'),
        telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, console: {} } },
      });
    } catch (e) {
      if (!(e instanceof IllegalStateError)) throw e;
    }
    traced = await bundleWorkflowCode({
      workflowsPath: join(repoRoot, 'src', 'workflows', 'index.ts'),
      payloadConverterPath: PAYLOAD_CONVERTER_PATH,
      workflowInterceptorModules: [TRACING_WORKFLOW_MODULE],
      logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
  }, 180_000);

  it('has histories to replay', () => {
    expect(recorded.length).toBeGreaterThanOrEqual(9);
  });

  it('bundles the interceptor module', () => {
    expect(traced.code).toContain('RunSeededIdGenerator');
  });

  it.each(recorded)(
    'replays %s, recorded without tracing, deterministically',
    async (name) => {
      const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, `${name}.json`), 'utf8')));
      await Worker.runReplayHistory(
        {
          workflowBundle: traced,
          sinks: {
            exporter: makeWorkflowExporter(new SimpleSpanProcessor(exporter), new Resource({})),
          },
        },
        history,
        `replay-traced-${name}`,
      );
      // A replay re-creates the spans but exports none: they were (or were not) exported when recorded.
      expect(exporter.getFinishedSpans()).toEqual([]);
    },
    60_000,
  );
});
