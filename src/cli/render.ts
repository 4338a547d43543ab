import type { GateVerdict } from '../promotion/verdict';
import type { PromotionState } from '../promotion/state';

const MARK: Record<GateVerdict['status'], string> = { passed: '✔', failed: '✘', inconclusive: '?' };

/** One line per gate check, the way a CI log should show a verdict. */
export function renderGate(g: GateVerdict): string[] {
  return [
    `  ${MARK[g.status]} ${g.gate} gate ${g.status}: ${g.summary}`,
    ...g.checks.map((c) => `      ${MARK[c.status]} ${c.name}: ${c.message}`),
  ];
}

/** A compact multi-line view of a promotion, used by `status` and the live `--wait` view. */
export function renderState(s: PromotionState, link?: string): string {
  const champion = s.champion
    ? `champion v${s.champion.version}`
    : s.champion === null
      ? 'no champion yet'
      : 'champion ?';
  const lines = [
    `${s.workflowId}  (${champion})`,
    `  phase: ${s.phase}${s.outcome ? `   outcome: ${s.outcome.toUpperCase()}` : ''}`,
  ];
  if (s.waitingFor && !s.outcome) lines.push(`  waiting for: ${s.waitingFor}`);
  for (const g of s.gates) lines.push(...renderGate(g));
  const d = s.approval.decision;
  if (d) lines.push(`  approval: ${d.decision} by ${d.by} (${d.via}) at ${d.at}: ${d.reason}`);
  if (s.reason && s.outcome) lines.push(`  reason: ${s.reason}`);
  if (s.reportUri) lines.push(`  report: ${s.reportUri}`);
  if (link) lines.push(`  ${link}`);
  return lines.join('\n');
}
