/**
 * The `prograde.*` tags a judged version carries in MLflow. The unprefixed ones describe its latest
 * attempt and never contradict each other: a tag that does not hold for that attempt is deleted, not
 * left behind. `prograde.attempt.<n>` keeps every attempt (see attempts.ts).
 */
export const TAG = {
  outcome: 'prograde.outcome',
  reason: 'prograde.reason',
  workflowId: 'prograde.workflow_id',
  runId: 'prograde.run_id',
  report: 'prograde.report',
  approvedBy: 'prograde.approved_by',
  previousChampion: 'prograde.previous_champion',
  replacedBy: 'prograde.replaced_by',
  failedGate: 'prograde.failed_gate',
  /** Number of attempts recorded on the version. */
  attempts: 'prograde.attempts',
} as const;

/** Tag of attempt `n` (1-based) on a version. */
export const attemptTag = (n: number): string => `prograde.attempt.${n}`;
