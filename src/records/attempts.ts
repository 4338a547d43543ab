import { z } from 'zod';
import { TAG, attemptTag } from './tags';

/** One recorded promotion attempt of a version: how it ended and where its report is. */
export interface Attempt {
  readonly attempt: number;
  readonly outcome: string;
  readonly runId: string;
  readonly report: string;
  /** Workflow time the attempt's last audit entry was written ('' when unknown). */
  readonly at: string;
  /** Recorded before attempts were tagged: rebuilt from the plain tags, not yet written as its own tag. */
  readonly legacy?: true;
}

const AttemptValue = z.object({
  outcome: z.string(),
  run_id: z.string(),
  report: z.string(),
  at: z.string().default(''),
});

const ATTEMPT_KEY = /^prograde\.attempt\.([1-9]\d{0,5})$/;

/** The value of an attempt's tag: compact JSON, readable in the MLflow UI. */
export function attemptValue(a: Attempt): string {
  return JSON.stringify({ outcome: a.outcome, run_id: a.runId, report: a.report, at: a.at });
}

/**
 * Every attempt a version's tags record, oldest first. A version judged before attempts were tagged
 * has only the plain tags of its one run; that run is returned as attempt 1, marked `legacy`.
 */
export function attemptsOf(tags: Readonly<Record<string, string>>): Attempt[] {
  const found: Attempt[] = [];
  for (const [key, value] of Object.entries(tags)) {
    const n = ATTEMPT_KEY.exec(key)?.[1];
    if (n === undefined) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(value);
    } catch {
      continue;
    }
    const parsed = AttemptValue.safeParse(raw);
    if (!parsed.success) continue;
    const v = parsed.data;
    found.push({ attempt: Number(n), outcome: v.outcome, runId: v.run_id, report: v.report, at: v.at });
  }
  found.sort((a, b) => a.attempt - b.attempt);
  const runId = tags[TAG.runId];
  if (found.length === 0 && runId) {
    return [
      {
        attempt: 1,
        outcome: tags[TAG.outcome] ?? 'unknown',
        runId,
        report: tags[TAG.report] ?? '',
        at: '',
        legacy: true,
      },
    ];
  }
  return found;
}

/** Where `runId`'s attempt goes: the number it already has (a retried write), else the next one. */
export function placeAttempt(earlier: readonly Attempt[], runId: string): number {
  const mine = earlier.find((a) => a.runId === runId);
  if (mine) return mine.attempt;
  return earlier.reduce((max, a) => Math.max(max, a.attempt), 0) + 1;
}

export { attemptTag };
