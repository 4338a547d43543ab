/**
 * Temporal's own floor for the scale benchmark's overhead figure: a workflow that does nothing but run
 * `steps` no-op activities one after the other. The time between its activities is what the server,
 * the SDK and the worker cost per step before any promotion logic; prograde's zero-bake promotions
 * are measured against it on the same server.
 */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(step: number): Promise<number> }>({
  startToCloseTimeout: '1 minute',
});

export async function noopSteps(steps: number): Promise<number> {
  let done = 0;
  for (let i = 0; i < steps; i++) done = await noop(done);
  return done;
}
