import type { CheckResult, GateVerdict, LiveVariantTick } from '../promotion/verdict';
import {
  fairnessChart,
  gateChart,
  lineChart,
  STATUS_COLOUR,
  timelineChart,
  type Series,
} from './html-charts';
import { esc, fmt } from './html-escape';
import { NO_CHECKS, type PromotionReport } from './report';
import { rolloutTimeline } from './rollout-timeline';

/**
 * The evidence report as one self-contained HTML page (an artifact of the attempt's MLflow run): each
 * gate's checks against their thresholds with intervals, fairness by group, the rollout timeline and
 * the approvals. No script and nothing loaded from elsewhere; the Content-Security-Policy says so to
 * the browser too, so even a mistake in escaping could not run anything.
 */

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #1f2328; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: 8px 0 16px; } td, th { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } .status { font-weight: 600; } .reason { background: #f6f8fa; border-left: 4px solid #8c959f; padding: 8px 12px; white-space: pre-wrap; }
.passed { color: ${STATUS_COLOUR.passed}; } .failed { color: ${STATUS_COLOUR.failed}; } .inconclusive { color: ${STATUS_COLOUR.inconclusive}; }
svg { display: block; margin: 8px 0; max-width: 100%; height: auto; } .muted { color: #656d76; }
`;

export interface HtmlLinks {
  readonly mlflowRun?: string;
  readonly temporal?: string;
}

function row(cells: readonly string[], header = false): string {
  const tag = header ? 'th' : 'td';
  return `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
}

function checkRow(c: CheckResult): string {
  const interval = c.interval
    ? `[${fmt(c.interval.lower)}, ${fmt(c.interval.upper)}] @${fmt(c.interval.confidence)}`
    : '';
  return row([
    `<span class="status ${c.status}">${esc(c.status)}</span>`,
    esc(c.name),
    esc(c.metric),
    esc(fmt(c.value)),
    esc(c.threshold === undefined ? '' : `${c.comparator ?? ''} ${fmt(c.threshold)}`),
    esc(interval),
    esc(c.sampleSize === undefined ? '' : String(c.sampleSize)),
    esc(c.message),
  ]);
}

function gateSection(g: GateVerdict, index: number): string {
  const head = `<h3 class="gate" id="gate-${index}"><span class="status ${g.status}">${esc(g.gate)} gate: ${esc(g.checks.length === 0 ? NO_CHECKS : g.status)}</span></h3>`;
  if (g.checks.length === 0) return head;
  const table = `<table class="checks">${row(['status', 'check', 'compares', 'value', 'threshold', 'interval', 'n', 'message'], true)}${g.checks.map(checkRow).join('')}</table>`;
  const groups = (g.groups ?? []).map((t) => {
    const champion = t.groups.some((x) => x.champion !== undefined);
    const header = ['group', 'rows', 'positives', 'base rate', 'selection rate', 'TPR', 'FPR'];
    const rows = t.groups.map((x) =>
      row([
        esc(x.judged ? x.group : `${x.group} (not judged)`),
        esc(x.rows),
        esc(x.positives),
        esc(fmt(x.baseRate)),
        esc(fmt(x.candidate.selectionRate)),
        esc(fmt(x.candidate.tpr)),
        esc(fmt(x.candidate.fpr)),
        ...(champion
          ? [esc(fmt(x.champion?.selectionRate)), esc(fmt(x.champion?.tpr)), esc(fmt(x.champion?.fpr))]
          : []),
      ]),
    );
    const perfect = t.perfectClassifier
      ? `<p class="muted">A perfect classifier would score demographic parity ratio ${esc(fmt(t.perfectClassifier.demographicParityRatio))} on these base rates. Groups under ${esc(t.minGroupSize)} rows are listed, not judged.</p>`
      : '';
    return `<h4 class="fairness-groups">Groups of ${esc(t.column)}</h4>${perfect}${fairnessChart(t)}<p class="muted">Bars: selection rate (blue: candidate${champion ? ', grey: champion' : ''}); red tick: base rate.</p><table class="groups">${row([...header, ...(champion ? ['champion selection rate', 'champion TPR', 'champion FPR'] : [])], true)}${rows.join('')}</table>`;
  });
  return `${head}<p>${esc(g.summary)}</p>${gateChart(g)}${table}${groups.join('')}`;
}

function approvals(r: PromotionReport): string {
  const rows: string[] = [];
  const d = r.approval.decision;
  if (d) {
    rows.push(
      row([
        esc(d.decision),
        esc(d.by),
        esc(d.at),
        esc(d.signedBy ? `${d.via}, signed by ${d.signedBy}` : d.via),
        esc(d.reason),
      ]),
    );
  }
  for (const s of r.decisions ?? [])
    rows.push(row([esc(s.action), esc(s.by), esc(s.at), esc(`signed ${s.fingerprint}`), '']));
  for (const a of r.audit)
    if (a.by && !a.kind.startsWith('gate:') && a.kind !== 'approved' && a.kind !== 'rejected')
      rows.push(row([esc(a.kind), esc(a.by), esc(a.at), 'operator', esc(a.message)]));
  const required = r.approval.required
    ? `<p>Approval required from ${esc(r.approval.approvers.join(', ') || 'nobody named')}${r.approval.deadline ? ` until ${esc(r.approval.deadline)}` : ''}.</p>`
    : '<p class="muted">The spec requires no approval.</p>';
  const identity =
    r.identity === 'unverified'
      ? '<p><strong>Identity unverified</strong>: the spec says so; names were typed and nothing proves who decided.</p>'
      : r.identity === 'verified'
        ? '<p>Identity verified: decisions are signed with SSH keys the worker trust file pins.</p>'
        : '';
  if (rows.length === 0) return `${required}${identity}<p class="muted">No decisions.</p>`;
  return `${required}${identity}<table class="approvals">${row(['decision', 'who', 'when', 'how', 'why'], true)}${rows.join('')}</table>`;
}

export function renderHtml(r: PromotionReport, links: HtmlLinks = {}): string {
  const title = `${r.model} v${r.candidateVersion}: ${r.outcome}`;
  const timeline = rolloutTimeline(r);
  const chart = timelineChart(timeline);
  const linkItems = [
    links.mlflowRun
      ? `<li>MLflow run: <a href="${esc(safeUrl(links.mlflowRun))}">${esc(links.mlflowRun)}</a></li>`
      : '',
    links.temporal
      ? `<li>Temporal: <a href="${esc(safeUrl(links.temporal))}">${esc(links.temporal)}</a></li>`
      : '',
  ].join('');
  const outcomeClass = r.outcome === 'promoted' ? 'passed' : 'failed';
  const body = [
    `<h1 id="title">${esc(r.model)} v${esc(r.candidateVersion)}: <span class="status ${outcomeClass}">${esc(r.outcome.toUpperCase())}</span></h1>`,
    `<div class="reason" id="reason">${esc(r.reason)}</div>`,
    '<ul class="facts">',
    `<li>Champion: ${r.championVersion === null ? 'none (first model)' : `v${esc(r.championVersion)}`}</li>`,
    `<li>Candidate sha256: <code>${esc(r.candidateSha256 ?? 'not fetched')}</code></li>`,
    `<li>Workflow <code>${esc(r.workflowId)}</code> run <code>${esc(r.workflowRunId)}</code>, attempt ${esc(r.attempt)}</li>`,
    `<li>Spec <code>${esc(r.spec.file)}</code> sha256 <code>${esc(r.spec.sha256)}</code>, requested by ${esc(r.requestedBy)}</li>`,
    linkItems,
    '</ul>',
    '<h2 id="gates">Gates</h2>',
    ...r.gates.map(gateSection),
    '<h2 id="rollout">Rollout timeline</h2>',
    chart
      ? `${chart}<p class="muted">Blue: the candidate's share of traffic. Dots: live verdicts (green passed, red failed, amber inconclusive). Red dashed: rollback; grey dashed: pause, extension or promote --full.</p>`
      : '<p class="muted">No live rollout in this attempt.</p>',
    timeline.weights.length + timeline.markers.length > 0
      ? `<table class="timeline">${row(['when', 'what'], true)}${[
          ...timeline.weights.map((w) => ({ at: w.at, text: `weight ${w.weight}%: ${w.text}` })),
          ...timeline.markers.map((m) => ({ at: m.at, text: `${m.kind}: ${m.text}` })),
        ]
          .sort((a, b) => a.at - b.at)
          .map((e) => row([esc(new Date(e.at).toISOString()), esc(e.text)]))
          .join('')}</table>`
      : '',
    tickCharts(
      r,
      timeline.markers.filter((m) => m.kind === 'rollback').map((m) => m.at),
    ),
    '<h2 id="approvals">Approvals</h2>',
    approvals(r),
    '<h2 id="audit">Audit trail</h2>',
    `<table class="audit">${row(['when', 'what', 'who', 'message'], true)}${r.audit.map((a) => row([esc(a.at), esc(a.kind), esc(a.by ?? ''), esc(a.message)])).join('')}</table>`,
  ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
${body}
</body></html>
`;
}

const VARIANT_COLOUR = { stable: '#8c959f', canary: '#0969da', shadow: '#8250df' } as const;

/** Every judgement of the live watches, tick by tick: error rate and p99 latency per variant. */
function tickCharts(r: PromotionReport, rollbacks: readonly number[]): string {
  const ticks = r.gates.flatMap((g) => g.ticks ?? []);
  if (ticks.length === 0) return '';
  const series = (pick: (v: LiveVariantTick) => number | undefined): Series[] =>
    (['stable', 'canary', 'shadow'] as const).map((name) => ({
      name,
      colour: VARIANT_COLOUR[name],
      points: ticks.flatMap((t) => {
        const v = t.variants[name];
        const value = v ? pick(v) : undefined;
        return value === undefined ? [] : [{ at: t.at, value }];
      }),
    }));
  return [
    `<h3 id="ticks">Each judgement (${ticks.length} ticks)</h3>`,
    lineChart(
      'error rate per variant',
      series((v) => v.errorRate),
      rollbacks,
    ),
    lineChart(
      'p99 latency per variant (ms)',
      series((v) => v.p99),
      rollbacks,
    ),
  ].join('');
}

/** Only http(s) links are made clickable; anything else (javascript:, data:) becomes inert. */
function safeUrl(url: string): string {
  return /^https?:\/\//i.test(url) ? url : '#';
}
