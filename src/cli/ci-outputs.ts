import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PromotionState } from '../promotion/state';
import { renderJunit } from '../report/junit';
import { renderStepSummary } from '../report/step-summary';

export interface CiOutputs {
  /** `--junit FILE`: the gates and checks as JUnit XML. */
  readonly junit?: string;
  /** `GITHUB_STEP_SUMMARY`: the job summary file GitHub Actions renders. */
  readonly stepSummary?: string;
  readonly temporalLink?: string;
}

/**
 * Writes a finished promotion where CI shows it natively. A file that cannot be written is said on
 * stderr and does not change the exit code: the promotion's outcome is what the job reports.
 */
export function writeCiOutputs(state: PromotionState, out: CiOutputs): void {
  const links = {
    ...(out.temporalLink ? { temporal: out.temporalLink } : {}),
    ...(state.evidenceRun ? { mlflowRun: state.evidenceRun.url } : {}),
  };
  if (out.junit) {
    try {
      mkdirSync(dirname(out.junit), { recursive: true });
      writeFileSync(out.junit, renderJunit(state));
    } catch (e) {
      console.error(`prograde: could not write the JUnit report to ${out.junit}: ${(e as Error).message}`);
    }
  }
  if (out.stepSummary) {
    try {
      appendFileSync(out.stepSummary, renderStepSummary(state, links));
    } catch (e) {
      console.error(
        `prograde: could not append the job summary to ${out.stepSummary}: ${(e as Error).message}`,
      );
    }
  }
}
