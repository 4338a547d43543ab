/**
 * Runs the no-op workflow (scale-floor-workflow.ts) on a worker in this process against the server
 * given, one run at a time, and returns each run's history analysis: the per-step cost of Temporal
 * itself on that server, beside which the promotions' gaps are read.
 */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { analyzeHistory, type HistoryAnalysis } from './scale-history';

const quiet = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (m: string) => console.error(m),
};

/** How long each no-op activity takes. */
export const FLOOR_ACTIVITY_MS = 25;

let bundle: Promise<{ code: string }> | undefined;
let runtime = false;

/** The SDK's runtime, installed once per process, logging warnings only (else every state change). */
function quietRuntime(): void {
  if (runtime) return;
  runtime = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by someone else in this process: theirs stands.
  }
}

export async function runFloor(address: string, runs: number, steps: number): Promise<HistoryAnalysis[]> {
  quietRuntime();
  bundle ??= bundleWorkflowCode({ workflowsPath: join(__dirname, 'scale-floor-workflow.ts'), logger: quiet });
  const taskQueue = `scale-floor-${randomUUID().slice(0, 8)}`;
  const native = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  try {
    const worker = await Worker.create({
      connection: native,
      taskQueue,
      workflowBundle: await bundle,
      // A short wait, like a quick call to a service: an activity that ends at once races the
      // worker's own poll for the next workflow task and measures that race instead.
      activities: {
        noop: (step: number) =>
          new Promise<number>((done) => setTimeout(() => done(step + 1), FLOOR_ACTIVITY_MS)),
      },
    });
    const client = new Client({ connection });
    const analyses: HistoryAnalysis[] = [];
    await worker.runUntil(async () => {
      // One more than asked: the first run warms the worker (bundle load, first context) and is dropped.
      for (let i = 0; i <= runs; i++) {
        const handle = await client.workflow.start('noopSteps', {
          taskQueue,
          workflowId: `${taskQueue}-${i}`,
          args: [steps],
        });
        await handle.result();
        const analysis = analyzeHistory((await handle.fetchHistory()).events ?? []);
        if (i > 0) analyses.push(analysis);
      }
    });
    return analyses;
  } finally {
    await connection.close();
    await native.close();
  }
}
