import type { PromotionState } from '../../src/promotion/state';
import type { GateVerdict, LiveTick } from '../../src/promotion/verdict';

/** Text a hostile spec, approver or dataset could put in a report: it must come out inert. */
export const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)> & ]]> "q" 'a' \u0000\u0007`;

const at = (s: number): string => new Date(Date.UTC(2026, 11, 2, 1, 0, s)).toISOString();

/**
 * A finished promotion's state with every kind of evidence: offline gates with intervals and a
 * fairness groups table, a shadow and two canary steps (the second failed), a rollback, an approval,
 * and hostile text in names, reasons and group values.
 */
export function evidenceState(
  model: string,
  version: string,
  opts: { outcome?: PromotionState['outcome'] } = {},
): PromotionState {
  const gates: GateVerdict[] = [
    {
      gate: 'performance',
      status: 'passed',
      summary: 'performance: all 1 checks passed',
      checks: [
        {
          name: 'auc >= 0.8',
          status: 'passed',
          metric: 'auc',
          value: 0.91,
          threshold: 0.8,
          comparator: '>=',
          interval: { lower: 0.89, upper: 0.93, confidence: 0.95 },
          sampleSize: 2000,
          message: 'auc 0.91 ≥ 0.8',
          evidence: { candidate: 0.91, champion: 0.9, difference: 0.01 },
        },
      ],
    },
    {
      gate: 'fairness',
      status: 'passed',
      summary: 'fairness: all 1 checks passed',
      checks: [
        {
          name: `demographic_parity_ratio[${HOSTILE}]`,
          status: 'passed',
          metric: 'demographic_parity_ratio',
          value: 0.86,
          threshold: 0.8,
          comparator: '>=',
          message: `ratio 0.86 ${HOSTILE}`,
        },
      ],
      groups: [
        {
          column: 'gender',
          minGroupSize: 30,
          groups: [
            {
              group: HOSTILE,
              rows: 900,
              positives: 90,
              baseRate: 0.1,
              judged: true,
              candidate: { selectionRate: 0.12, tpr: 0.8, fpr: 0.05 },
              champion: { selectionRate: 0.11, tpr: 0.78, fpr: 0.05 },
            },
            {
              group: 'm',
              rows: 1100,
              positives: 121,
              baseRate: 0.11,
              judged: true,
              candidate: { selectionRate: 0.14, tpr: 0.82, fpr: 0.06 },
              champion: { selectionRate: 0.13, tpr: 0.8, fpr: 0.06 },
            },
          ],
          perfectClassifier: { demographicParityRatio: 0.909, demographicParityDifference: 0.01 },
        },
      ],
    },
    {
      gate: 'shadow',
      status: 'passed',
      summary: 'shadow: all 1 checks passed',
      checks: [liveCheck(0.001, 'passed')],
    },
    {
      gate: 'canary',
      status: 'passed',
      summary: 'step 2, 5 ticks: passed',
      checks: [liveCheck(0.002, 'passed')],
      ticks: [1, 2, 3].map((k) => tick(22 + k * 2, k, 0.01, 0.01 + k * 0.001)),
    },
    {
      gate: 'canary',
      status: 'failed',
      summary: 'step 4, 3 ticks: error rate up',
      checks: [liveCheck(0.09, 'failed')],
    },
  ];
  const outcome = opts.outcome ?? 'rolled-back';
  return {
    workflowId: `promote/${model}/${version}`,
    model,
    candidate: { version, sha256: 'c'.repeat(64) },
    champion: { version: '1', sha256: 'a'.repeat(64) },
    phase: 'done',
    outcome,
    reason: `step 4: error rate up ${HOSTILE}`,
    gates,
    approval: {
      required: true,
      approvers: ['risk-officer'],
      decision: {
        decision: 'approve',
        by: `risk-officer ${HOSTILE}`,
        reason: `looks fine ${HOSTILE}`,
        at: at(8),
        via: 'update',
      },
    },
    audit: [
      { at: at(0), kind: 'resolved', message: 'candidate v2 against champion v1' },
      { at: at(2), kind: 'gate:performance', message: gates[0]?.summary ?? '' },
      { at: at(4), kind: 'gate:fairness', message: gates[1]?.summary ?? '' },
      { at: at(8), kind: 'approved', message: 'approved', by: 'risk-officer' },
      { at: at(10), kind: 'routing', message: `g1: shadow v${version} at 50% beside stable v1` },
      { at: at(20), kind: 'gate:shadow', message: 'shadow passed' },
      { at: at(21), kind: 'routing', message: `g2: canary v${version} at 20% (step 1)` },
      { at: at(31), kind: 'gate:canary', message: 'step 2 passed' },
      { at: at(32), kind: 'routing', message: `g3: canary v${version} at 50% (step 3)` },
      { at: at(40), kind: 'gate:canary', message: 'step 4 failed' },
      { at: at(41), kind: 'routing', message: 'g4: rollback to v1: error rate up' },
      { at: at(42), kind: 'rolled-back', message: 'traffic back on the champion' },
    ],
    operators: [],
    specFile: '/repo/promotion.yaml',
    specSha256: 'f'.repeat(64),
    requestedBy: `ci ${HOSTILE}`,
  };
}

function tick(second: number, k: number, stable: number, canary: number): LiveTick {
  return {
    at: Date.parse(at(second)),
    tick: k,
    status: 'passed',
    variants: {
      stable: { n: 100 * k, errorRate: stable, p50: 4, p99: 9 },
      canary: { n: 20 * k, errorRate: canary, p50: 5, p99: 11 },
    },
    checks: { 'error rate increase': canary - stable },
  };
}

function liveCheck(value: number, status: 'passed' | 'failed') {
  return {
    name: 'error rate increase',
    status,
    metric: 'canary error rate − stable error rate',
    value,
    threshold: 0.02,
    comparator: '<=' as const,
    interval: { lower: value - 0.01, upper: value + 0.01, confidence: 0.98 },
    sampleSize: 400,
    message: `error rate increase ${value}`,
    evidence: { canary: { n: 200, errorRate: value + 0.01 }, stable: { n: 200, errorRate: 0.01 } },
  };
}
