import type { CheckResult, GateVerdict } from '../promotion/verdict';
import type { PromotionState } from '../promotion/state';
import { renderFairnessGroups } from './fairness-groups';

/** An earlier attempt on the same version, as the report links to it. */
export interface EarlierAttempt {
  readonly attempt: number;
  readonly outcome: string;
  readonly runId: string;
  readonly report: string;
}

/** Where this attempt stands among the version's attempts. */
export interface AttemptHistory {
  /** 1 for the first attempt on the version. */
  readonly attempt: number;
  readonly earlier: readonly EarlierAttempt[];
}

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
  /** This attempt's number on the version, and every earlier attempt's report. */
  readonly attempt: number;
  readonly earlierAttempts: readonly EarlierAttempt[];
  readonly spec: { readonly file: string; readonly sha256: string };
  readonly requestedBy: string;
  readonly approval: PromotionState['approval'];
  /** verified: decisions were signed; unverified: the spec said so; legacy: before signed decisions. */
  readonly identity?: 'verified' | 'unverified' | 'legacy';
  /** Signed decisions accepted (who, what, with which key); the signatures are on the MLflow version. */
  readonly decisions?: ReadonlyArray<{ action: string; by: string; fingerprint: string; at: string }>;
  readonly gates: readonly GateVerdict[];
  readonly audit: PromotionState['audit'];
}

/** A gate with nothing to check passes vacuously; the report says so instead of "all 0 checks passed". */
export const NO_CHECKS = 'no checks configured';

function describeGate(g: GateVerdict): GateVerdict {
  return g.checks.length === 0 ? { ...g, summary: `${g.gate}: ${NO_CHECKS}` } : g;
}

export function buildReport(
  state: PromotionState,
  workflowRunId: string,
  history: AttemptHistory = { attempt: 1, earlier: [] },
): PromotionReport {
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
    attempt: history.attempt,
    earlierAttempts: history.earlier.map((a) => ({
      attempt: a.attempt,
      outcome: a.outcome,
      runId: a.runId,
      report: a.report,
    })),
    spec: { file: state.specFile, sha256: state.specSha256 },
    requestedBy: state.requestedBy,
    approval: state.approval,
    identity: state.identity?.mode ?? 'legacy',
    decisions: (state.decisions ?? []).map((d) => ({
      action: d.action,
      by: d.by,
      fingerprint: d.fingerprint,
      at: d.at,
    })),
    gates: state.gates.map(describeGate),
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
    // What the check compares (its metric), e.g. the candidate's live scores against its own holdout.
    c.metric,
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
  if (r.attempt > 1 || r.earlierAttempts.length > 0) {
    head.push(`- Attempt ${r.attempt} on this version; earlier attempts:`);
    for (const a of r.earlierAttempts)
      head.push(
        `  - #${a.attempt} ${a.outcome}, run \`${a.runId}\`: ${a.report ? `\`${a.report}\`` : 'no report'}`,
      );
  }
  if (r.identity === 'unverified') {
    head.push('- Identity: **unverified** (the spec says so: names were typed, nothing proves who decided)');
  } else if (r.identity === 'verified') {
    head.push('- Identity: verified (decisions signed with SSH keys pinned by the worker trust file)');
  }
  for (const d of r.decisions ?? []) {
    head.push(`  - ${d.action} by **${d.by}** at ${d.at}, signed with \`${d.fingerprint}\``);
  }
  if (r.approval.required) {
    const d = r.approval.decision;
    head.push(
      `- Approval: ${d ? `${d.decision} by **${d.by}** at ${d.at} (${d.via}): ${d.reason}` : 'not decided'}`,
    );
  }
  const gates = r.gates.flatMap((g) => [
    '',
    `## ${ICON[g.status]} ${g.gate} gate: ${g.checks.length === 0 ? NO_CHECKS : g.status}`,
    '',
    ...(g.checks.length === 0
      ? [`No checks are configured for the ${g.gate} gate in the spec, so it judged nothing.`]
      : [
          g.summary,
          '',
          '| | check | compares | value | threshold | interval | n | message |',
          '|---|---|---|---|---|---|---|---|',
          ...g.checks.map(checkRow),
          ...renderFairnessGroups(g.groups ?? []),
        ]),
  ]);
  const audit = [
    '',
    '## Audit trail',
    '',
    ...r.audit.map((a) => `- ${a.at} **${a.kind}**${a.by ? ` (${a.by})` : ''}: ${a.message}`),
  ];
  return [...head, ...gates, ...audit, ''].join('\n');
}
