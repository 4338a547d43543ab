import { describe, expect, it } from 'vitest';
import { attemptValue, attemptsOf, placeAttempt } from '../../src/records/attempts';
import { TAG, attemptTag } from '../../src/records/tags';

describe('registry attempts – parsing and numbering', () => {
  const a1 = {
    attempt: 1,
    outcome: 'rejected',
    runId: 'r1',
    report: 'mlflow-artifacts:/a/report.md',
    at: 't1',
  };
  const a2 = {
    attempt: 2,
    outcome: 'promoted',
    runId: 'r2',
    report: 'mlflow-artifacts:/b/report.md',
    at: 't2',
  };

  it('reads every attempt tag, oldest first, and skips malformed ones', () => {
    const tags = {
      [attemptTag(2)]: attemptValue(a2),
      [attemptTag(1)]: attemptValue(a1),
      [attemptTag(3)]: 'not json',
      'prograde.attempt.x': attemptValue(a1),
      [TAG.runId]: 'r2',
    };
    expect(attemptsOf(tags)).toEqual([a1, a2]);
  });

  it('turns the plain tags of a version judged before attempts were tagged into a legacy attempt 1', () => {
    const tags = { [TAG.runId]: 'old', [TAG.outcome]: 'rejected', [TAG.report]: 'mlflow-artifacts:/x' };
    expect(attemptsOf(tags)).toEqual([
      { attempt: 1, outcome: 'rejected', runId: 'old', report: 'mlflow-artifacts:/x', at: '', legacy: true },
    ]);
    expect(attemptsOf({})).toEqual([]);
  });

  it('gives a retried write the number it already has, and a new run the next one', () => {
    expect(placeAttempt([a1, a2], 'r1')).toBe(1);
    expect(placeAttempt([a1, a2], 'r3')).toBe(3);
    expect(placeAttempt([], 'r1')).toBe(1);
  });
});
