import type { CheckResult, GateVerdict } from '../gates/verdict';
import type { PromotionState } from '../workflows/state';

/**
 * The evidence report written beside a judged model version: the same facts as the workflow's
 * final state, as JSON for machines and Markdown for people (MLflow UI, CI job summary).
 */
export interface PromotionReport {
  readonly kind: 'prograde/promotion-report';
  readonly schemaVersion: 1;
  readonly model: string;
  readonly candidateVersion: string;
  readonly candidateSha256?: string;
  readonly championVersion: string | null;
  readonly outcome: string;
  readonly reason: string;
  readonly workflowId: string;
  readonly workflowRunId: string;
  readonly spec: { readonly file: string; readonly sha256: string };
  readonly requestedBy: string;
  readonly approval: PromotionState['approval'];
  readonly gates: readonly GateVerdict[];
  readonly audit: PromotionState['audit'];
}

export function buildReport(state: PromotionState, workflowRunId: string): PromotionReport {
  return {
    kind: 'prograde/promotion-report',
    schemaVersion: 1,
    model: state.model,
    candidateVersion: state.candidate.version,
    ...(state.candidate.sha256 === undefined ? {} : { candidateSha256: state.candidate.sha256 }),
    championVersion: state.champion?.version ?? null,
    outcome: state.outcome ?? 'failed',
    reason: state.reason ?? '',
    workflowId: state.workflowId,
    workflowRunId,
    spec: { file: state.specFile, sha256: state.specSha256 },
    requestedBy: state.requestedBy,
    approval: state.approval,
    gates: state.gates,
    audit: state.audit,
  };
}

const ICON: Record<CheckResult['status'], string> = { passed: '✅', failed: '❌', inconclusive: '⚠️' };

function num(v: number | undefined): string {
  if (v === undefined) return '';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toFixed(4);
}

function checkRow(c: CheckResult): string {
  const ci = c.interval
    ? `[${num(c.interval.lower)}, ${num(c.interval.upper)}] @${c.interval.confidence}`
    : '';
  const threshold = c.threshold === undefined ? '' : `${c.comparator ?? ''} ${num(c.threshold)}`;
  const cells = [
    ICON[c.status],
    c.name,
    num(c.value),
    threshold,
    ci,
    c.sampleSize === undefined ? '' : String(c.sampleSize),
    c.message,
  ];
  return `| ${cells.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`;
}

export function renderMarkdown(r: PromotionReport): string {
  const head = [
    `# ${r.model} v${r.candidateVersion}: ${r.outcome.toUpperCase()}`,
    '',
    `> ${r.reason}`,
    '',
    `- Champion: ${r.championVersion === null ? 'none (first model)' : `v${r.championVersion}`}`,
    `- Candidate sha256: \`${r.candidateSha256 ?? 'not fetched'}\``,
    `- Workflow: \`${r.workflowId}\` run \`${r.workflowRunId}\``,
    `- Spec: \`${r.spec.file}\` (sha256 \`${r.spec.sha256.slice(0, 12)}\`), requested by ${r.requestedBy}`,
  ];
  if (r.approval.required) {
    const d = r.approval.decision;
    head.push(
      `- Approval: ${d ? `${d.decision} by **${d.by}** at ${d.at} (${d.via}): ${d.reason}` : 'not decided'}`,
    );
  }
  const gates = r.gates.flatMap((g) => [
    '',
    `## ${ICON[g.status]} ${g.gate} gate: ${g.status}`,
    '',
    g.summary,
    '',
    '| | check | value | threshold | interval | n | message |',
    '|---|---|---|---|---|---|---|',
    ...g.checks.map(checkRow),
  ]);
  const audit = [
    '',
    '## Audit trail',
    '',
    ...r.audit.map((a) => `- ${a.at} **${a.kind}**${a.by ? ` (${a.by})` : ''}: ${a.message}`),
  ];
  return [...head, ...gates, ...audit, ''].join('\n');
}
