import type { PromotionState } from '../promotion/state';

/**
 * The GitHub Actions job summary of a promotion (`prograde promote --wait` with GITHUB_STEP_SUMMARY
 * set): the outcome and its reason, links to the MLflow run and the Temporal UI, and one table row
 * per gate verdict and check. GitHub renders it as Markdown with HTML allowed, so user text (names,
 * reasons, messages) is made inert: HTML special characters become entities, table pipes are
 * escaped, newlines fold, and Markdown link syntax cannot form.
 */

export interface SummaryLinks {
  readonly temporal?: string;
  readonly mlflowRun?: string;
}

const ICON: Readonly<Record<string, string>> = { passed: '✅', failed: '❌', inconclusive: '⚠️' };

/** User text inside a Markdown table cell or line. */
export function mdText(text: string | undefined, max = 300): string {
  const s = String(text ?? '')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .slice(0, max);
  return s.replace(/[&<>"'|\\`*_[\]()!#~]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function link(label: string, url: string | undefined): string | undefined {
  if (!url || !/^https?:\/\/[^\s()<>]+$/i.test(url)) return undefined;
  return `[${label}](${url})`;
}

const num = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '' : String(Number(v.toPrecision(4)));

export function renderStepSummary(state: PromotionState, links: SummaryLinks = {}): string {
  const outcome = state.outcome ?? 'failed';
  const icon = outcome === 'promoted' ? '✅' : '❌';
  const lines = [
    `## ${icon} prograde: ${mdText(state.model)} v${mdText(state.candidate.version)} ${outcome.toUpperCase()}`,
    '',
    `> ${mdText(state.reason ?? '', 1000)}`,
    '',
  ];
  const linkList = [link('MLflow run', links.mlflowRun), link('Temporal UI', links.temporal)].filter(
    (l): l is string => l !== undefined,
  );
  if (linkList.length > 0) lines.push(linkList.join(' · '), '');
  if (state.champion) lines.push(`Champion: v${mdText(state.champion.version)}`, '');
  lines.push('| gate | check | verdict | value | threshold | interval |', '|---|---|---|---|---|---|');
  const seen = new Map<string, number>();
  for (const g of state.gates) {
    const k = (seen.get(g.gate) ?? 0) + 1;
    seen.set(g.gate, k);
    const gate = state.gates.filter((x) => x.gate === g.gate).length > 1 ? `${g.gate} #${k}` : g.gate;
    if (g.checks.length === 0) {
      lines.push(`| ${gate} | (no checks) | ${ICON[g.status] ?? ''} ${g.status} | | | |`);
      continue;
    }
    for (const c of g.checks) {
      const threshold = c.threshold === undefined ? '' : `${c.comparator ?? ''} ${num(c.threshold)}`;
      const interval = c.interval ? `[${num(c.interval.lower)}, ${num(c.interval.upper)}]` : '';
      lines.push(
        `| ${gate} | ${mdText(c.name, 120)} | ${ICON[c.status] ?? ''} ${c.status} | ${num(c.value)} | ${mdText(threshold)} | ${interval} |`,
      );
    }
  }
  const d = state.approval.decision;
  if (d)
    lines.push(
      '',
      `Approval: ${mdText(d.decision)} by **${mdText(d.by, 100)}** at ${mdText(d.at)}: ${mdText(d.reason)}`,
    );
  return `${lines.join('\n')}\n\n`;
}
