import { describe, expect, it } from 'vitest';
import { combine } from '../../src/promotion/verdict';
import { buildReport, renderMarkdown } from '../../src/report/report';
import type { PromotionState } from '../../src/promotion/state';

const state = (gates: PromotionState['gates']): PromotionState => ({
  workflowId: 'promote/m/2',
  model: 'm',
  candidate: { version: '2', sha256: 'a'.repeat(64) },
  champion: null,
  phase: 'done',
  outcome: 'promoted',
  reason: 'passed all gates',
  gates,
  approval: { required: false, approvers: [] },
  audit: [{ at: '2026-12-01T00:00:00.000Z', kind: 'recorded', message: 'ok' }],
  operators: [],
  specFile: 'promotion.yaml',
  specSha256: 'b'.repeat(64),
  requestedBy: 'ci',
});

describe('evidence report', () => {
  it('says "no checks configured" for a gate with no checks, never "all 0 checks passed"', () => {
    const report = buildReport(state([combine('performance', []), combine('fairness', [])]), 'run-1');
    expect(report.gates.map((g) => g.summary)).toEqual([
      'performance: no checks configured',
      'fairness: no checks configured',
    ]);
    const md = renderMarkdown(report);
    expect(md).toContain('## ✅ performance gate: no checks configured');
    expect(md).toContain('No checks are configured for the fairness gate');
    expect(md).not.toMatch(/all 0 checks/);
  });

  it('numbers the attempt and links every earlier attempt report', () => {
    const report = buildReport(state([]), 'run-2', {
      attempt: 2,
      earlier: [
        { attempt: 1, outcome: 'rejected', runId: 'run-1', report: 'mlflow-artifacts:/r1/report.md' },
      ],
    });
    expect(report.attempt).toBe(2);
    expect(report.earlierAttempts).toEqual([
      { attempt: 1, outcome: 'rejected', runId: 'run-1', report: 'mlflow-artifacts:/r1/report.md' },
    ]);
    expect(renderMarkdown(report)).toContain(
      '- Attempt 2 on this version; earlier attempts:\n  - #1 rejected, run `run-1`: `mlflow-artifacts:/r1/report.md`',
    );
    expect(buildReport(state([]), 'run-1').attempt).toBe(1);
  });
});
