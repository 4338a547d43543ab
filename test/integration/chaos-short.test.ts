import { describe, expect, it } from 'vitest';
import { SHORT } from '../../bench/chaos/config';
import { runChaos } from '../../bench/chaos/run';

/**
 * The short chaos run (bench/chaos, `npm run chaos` at full size): its own Temporal dev server,
 * MLflow server, gateway and two worker processes, about ten faults among eight promotions in
 * flight under live traffic, then every invariant counted. It starts its own servers because it
 * kills and restarts them; the run's shared servers are never touched.
 */
describe('chaos (short)', () => {
  it('every promotion ends with one recorded outcome, no caller fails, every history replays', async () => {
    const r = await runChaos({
      ...SHORT,
      seed: Number(process.env['PROGRADE_CHAOS_SEED'] ?? '7'),
      log: (line) => console.log(`[chaos] ${line}`),
    });
    console.log(
      `[chaos] short run: ${r.faults.length} faults (${JSON.stringify(r.faultsByKind)}), ${r.promotions} promotions ${JSON.stringify(r.outcomes)}, ${r.durationSec.toFixed(0)} s; invariants ${JSON.stringify(r.invariants.counts)}`,
    );
    expect(r.invariants.details).toEqual([]);
    expect(r.invariants.counts).toEqual({
      lost: 0,
      duplicated: 0,
      auditRoutingDisagree: 0,
      callerFailures: 0,
      championWrong: 0,
      replayFailures: 0,
      crashed: 0,
    });
    // A run that injected nothing or judged nothing proves nothing. About ten faults are planned; on a
    // loaded machine some planned moments (a phase boundary, a rollback) pass before the run reaches them.
    expect(r.faults.length).toBeGreaterThanOrEqual(SHORT.minFaults);
    expect(r.promotions).toBeGreaterThanOrEqual(SHORT.concurrency);
    expect(r.invariants.replayed).toBeGreaterThanOrEqual(r.promotions);
  }, 600_000);
});
