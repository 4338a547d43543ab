import { describe, expect, it } from 'vitest';
import type { HistoryAnalysis, StepGap } from '../../bench/lib/scale-history';
import { overheadComparisonTable } from '../../bench/lib/scale-report';

const gap = (totalMs: number, queueMs: number, runMs: number): StepGap => ({
  after: 'a',
  before: 'b',
  decideMs: totalMs,
  dispatchMs: 0,
  totalMs,
  reactMs: 0,
  queueMs,
  runMs,
});

function run(gaps: StepGap[], activityMs: number[]): HistoryAnalysis {
  return {
    events: 0,
    eventsByType: {},
    startedMs: 0,
    closedMs: undefined,
    endToEndMs: undefined,
    activityScheduleToStartMs: [],
    workflowTaskScheduleToStartMs: [],
    workflowTaskRunMs: [],
    activityRunMs: activityMs.map((ms) => ({ name: 'x', ms })),
    gaps,
    waits: 0,
  };
}

describe('overhead comparison table', () => {
  it('gives each sample its gap quantiles, the deciding task split, and per-run totals', () => {
    const table = overheadComparisonTable([
      {
        server: 'wal',
        workflow: 'promotion',
        analyses: [run([gap(10, 2, 7), gap(30, 4, 20)], [100, 200]), run([gap(20, 3, NaN)], [50])],
      },
      { server: 'default', workflow: 'no-op', analyses: [] },
    ]);
    expect(table.columns).toHaveLength(9);
    // Gaps 10, 20, 30: p50 20, p95 29; queued 2, 3, 4; ran 7 and 20 (the unknown one left out).
    // Per run between activities 40 and 20 (p50 30), in activities 300 and 50 (p50 175).
    expect(table.rows[0]).toEqual(['wal', 'promotion', '2', '3', '20', '29', '3', '14', '30 / 175']);
    expect(table.rows[1]).toEqual(['default', 'no-op', '0', '0', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a / n/a']);
  });
});
