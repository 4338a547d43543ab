import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, uniqueModel, type Harness } from '../support/harness';
import { prograde } from '../support/cli';

/** Exit codes that come from the error-code catalogue, end to end through the real CLI and MLflow. */
describe('prograde exit codes by error class', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('rollback of a champion with no previous champion is invalid input (2), and moves nothing', async () => {
    const model = uniqueModel('cli-no-previous');
    const v = await h.register(model, 'good', 'champion');
    // The gateway is never contacted: the refusal comes from MLflow's tags before any routing change.
    const r = await prograde(h, [
      'rollback',
      model,
      '--gateway',
      'http://127.0.0.1:9',
      '--as',
      'alice',
      '--reason',
      'test',
    ]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('[NO_PREVIOUS_CHAMPION]');
    expect(r.stderr).toContain('has no prograde.previous_champion tag');
    expect((await h.mlflow.getModelVersionByAlias(model, 'champion')).version).toBe(v);
  });
});
