import type { FairnessGroupTable } from '../promotion/fairness-groups';
import type { CheckResult, GateVerdict, VerdictStatus } from '../promotion/verdict';
import { coord, esc, fmt } from './html-escape';
import type { RolloutTimeline } from './rollout-timeline';

/**
 * Inline SVG charts of the HTML report: no script, no external resource. Every label is escaped text;
 * every coordinate is a finite number computed here.
 */

export const STATUS_COLOUR: Readonly<Record<VerdictStatus, string>> = {
  passed: '#1a7f37',
  failed: '#cf222e',
  inconclusive: '#9a6700',
};

const LABEL_W = 260;
const PLOT_W = 420;
const ROW_H = 28;

/** A linear scale over the values given, padded a little so points never sit on the frame. */
function scale(values: readonly number[], x0: number, width: number): (v: number) => number {
  const finite = values.filter((v) => Number.isFinite(v));
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo === hi) [lo, hi] = [lo - Math.max(1, Math.abs(lo)) * 0.1, hi + Math.max(1, Math.abs(hi)) * 0.1];
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  return (v) => x0 + ((v - lo) / (hi - lo)) * width;
}

const chartable = (c: CheckResult): boolean =>
  c.value !== undefined &&
  Number.isFinite(c.value) &&
  (c.threshold !== undefined || c.interval !== undefined);

/**
 * Each check's value against its threshold, with its interval: one row per check, each on its own
 * scale (an AUC and a latency ratio share no axis). The threshold is a dark tick, the interval a bar,
 * the value a dot in the check's status colour.
 */
export function gateChart(g: GateVerdict): string {
  const rows = g.checks.filter(chartable);
  if (rows.length === 0) return '';
  const height = rows.length * ROW_H + 10;
  const parts = rows.map((c, i) => {
    const y = 14 + i * ROW_H;
    const value = c.value ?? 0;
    const xs = [value, c.threshold ?? value, c.interval?.lower ?? value, c.interval?.upper ?? value];
    const x = scale(xs, LABEL_W, PLOT_W);
    const colour = STATUS_COLOUR[c.status];
    const ci = c.interval
      ? `<line class="ci" x1="${coord(x(c.interval.lower))}" x2="${coord(x(c.interval.upper))}" y1="${y}" y2="${y}" stroke="${colour}" stroke-width="4" stroke-opacity="0.35"><title>${esc(`${Math.round(c.interval.confidence * 100)}% interval [${fmt(c.interval.lower)}, ${fmt(c.interval.upper)}]`)}</title></line>`
      : '';
    const threshold =
      c.threshold === undefined
        ? ''
        : `<line class="threshold" x1="${coord(x(c.threshold))}" x2="${coord(x(c.threshold))}" y1="${y - 9}" y2="${y + 9}" stroke="#24292f" stroke-width="2"><title>${esc(`threshold ${c.comparator ?? ''} ${fmt(c.threshold)}`)}</title></line>`;
    return [
      `<text x="0" y="${y + 4}" font-size="12">${esc(c.name.slice(0, 40))}</text>`,
      `<line x1="${LABEL_W}" x2="${LABEL_W + PLOT_W}" y1="${y}" y2="${y}" stroke="#d0d7de"/>`,
      ci,
      threshold,
      `<circle class="value ${c.status}" cx="${coord(x(value))}" cy="${y}" r="5" fill="${colour}"><title>${esc(`${c.name}: ${fmt(value)} (${c.status})`)}</title></circle>`,
      `<text x="${LABEL_W + PLOT_W + 8}" y="${y + 4}" font-size="11">${esc(fmt(value))}${c.threshold === undefined ? '' : esc(` ${c.comparator ?? ''} ${fmt(c.threshold)}`)}</text>`,
    ].join('');
  });
  return svg(`gate-chart gate-${g.gate}`, LABEL_W + PLOT_W + 120, height, parts.join(''), `${g.gate} checks`);
}

/**
 * Fairness by group: each group's selection rate (candidate, and champion when compared) as bars,
 * its base rate as a tick, its size in the label.
 */
export function fairnessChart(t: FairnessGroupTable): string {
  if (t.groups.length === 0) return '';
  const x = (v: number): number => LABEL_W + Math.max(0, Math.min(1, v)) * PLOT_W;
  const rowH = 34;
  const parts = t.groups.map((g, i) => {
    const y = 8 + i * rowH;
    const label = `${g.group.slice(0, 28)} (n=${g.rows}${g.judged ? '' : ', not judged'})`;
    const bars = [
      `<rect class="candidate" x="${LABEL_W}" y="${y}" width="${coord(x(g.candidate.selectionRate) - LABEL_W)}" height="11" fill="#0969da"><title>${esc(`candidate selection rate ${fmt(g.candidate.selectionRate)}`)}</title></rect>`,
      g.champion
        ? `<rect class="champion" x="${LABEL_W}" y="${y + 13}" width="${coord(x(g.champion.selectionRate) - LABEL_W)}" height="11" fill="#8c959f"><title>${esc(`champion selection rate ${fmt(g.champion.selectionRate)}`)}</title></rect>`
        : '',
      `<line class="base-rate" x1="${coord(x(g.baseRate))}" x2="${coord(x(g.baseRate))}" y1="${y - 2}" y2="${y + 26}" stroke="#cf222e" stroke-width="2"><title>${esc(`base rate ${fmt(g.baseRate)} (${g.positives} of ${g.rows})`)}</title></line>`,
    ];
    return `<text x="0" y="${y + 15}" font-size="12">${esc(label)}</text>${bars.join('')}`;
  });
  const axis = [0, 0.25, 0.5, 0.75, 1]
    .map((v) => {
      const y = 8 + t.groups.length * rowH;
      return `<text x="${coord(x(v))}" y="${y + 4}" font-size="10" text-anchor="middle">${v}</text>`;
    })
    .join('');
  return svg(
    'fairness-chart',
    LABEL_W + PLOT_W + 20,
    t.groups.length * rowH + 20,
    parts.join('') + axis,
    `selection rate by ${t.column}`,
  );
}

/**
 * The rollout over time: the candidate's traffic weight as a step line, each live verdict as a dot
 * in its status colour, rollbacks as red dashed lines, pauses and extensions as grey ones.
 */
export function timelineChart(t: RolloutTimeline): string {
  if (t.weights.length === 0 && t.verdicts.length === 0) return '';
  const W = 760;
  const H = 220;
  const left = 44;
  const top = 14;
  const plotH = 150;
  const times = [
    ...t.weights.map((w) => w.at),
    ...t.verdicts.map((v) => v.at),
    ...t.markers.map((m) => m.at),
  ];
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1000);
  const x = (at: number): number => left + ((at - t0) / (t1 - t0)) * (W - left - 20);
  const y = (w: number): number => top + plotH - (Math.max(0, Math.min(100, w)) / 100) * plotH;
  let path = '';
  let prev: number | undefined;
  for (const w of t.weights) {
    path +=
      prev === undefined
        ? `M${coord(x(w.at))},${coord(y(w.weight))}`
        : ` H${coord(x(w.at))} V${coord(y(w.weight))}`;
    prev = w.weight;
  }
  if (prev !== undefined) path += ` H${coord(x(t1))}`;
  const grid = [0, 25, 50, 75, 100]
    .map(
      (w) =>
        `<line x1="${left}" x2="${W - 20}" y1="${coord(y(w))}" y2="${coord(y(w))}" stroke="#eaeef2"/><text x="${left - 6}" y="${coord(y(w) + 4)}" font-size="10" text-anchor="end">${w}%</text>`,
    )
    .join('');
  const markers = t.markers
    .map(
      (m) =>
        `<line class="marker ${m.kind}" x1="${coord(x(m.at))}" x2="${coord(x(m.at))}" y1="${top}" y2="${top + plotH}" stroke="${m.kind === 'rollback' ? '#cf222e' : '#8c959f'}" stroke-dasharray="4 3" stroke-width="2"><title>${esc(`${m.kind}: ${m.text}`)}</title></line>`,
    )
    .join('');
  const verdicts = t.verdicts
    .map(
      (v) =>
        `<circle class="verdict ${v.status}" cx="${coord(x(v.at))}" cy="${coord(y(v.weight))}" r="6" fill="${STATUS_COLOUR[v.status]}"><title>${esc(`${v.gate} ${v.status}: ${v.summary}`)}</title></circle>`,
    )
    .join('');
  const span = Math.round((t1 - t0) / 1000);
  const axis = `<text x="${left}" y="${top + plotH + 18}" font-size="10">0 s</text><text x="${W - 20}" y="${top + plotH + 18}" font-size="10" text-anchor="end">${span} s</text>`;
  return svg(
    'timeline-chart',
    W,
    H,
    `${grid}<path class="weight" d="${path}" fill="none" stroke="#0969da" stroke-width="2"/>${markers}${verdicts}${axis}`,
    'candidate traffic weight over time, with verdicts and rollbacks',
  );
}

function svg(cls: string, width: number, height: number, body: string, label: string): string {
  return `<svg class="${esc(cls)}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">${body}</svg>`;
}

export interface Series {
  readonly name: string;
  readonly colour: string;
  readonly points: readonly { readonly at: number; readonly value: number }[];
}

/**
 * A small line chart of live numbers over time (error rate or latency per variant, tick by tick),
 * with the rollout's rollbacks as red dashed lines.
 */
export function lineChart(
  title: string,
  series: readonly Series[],
  rollbacks: readonly number[] = [],
): string {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.value));
  if (all.length === 0) return '';
  const W = 760;
  const H = 190;
  const left = 56;
  const top = 22;
  const plotH = 130;
  const t0 = Math.min(...all.map((p) => p.at));
  const t1 = Math.max(...all.map((p) => p.at), t0 + 1000);
  const vmax = Math.max(...all.map((p) => p.value), 0) || 1;
  const x = (at: number): number => left + ((at - t0) / (t1 - t0)) * (W - left - 120);
  const y = (v: number): number => top + plotH - (v / vmax) * plotH;
  const lines = series
    .filter((s) => s.points.length > 0)
    .map((s, i) => {
      const d = s.points
        .filter((p) => Number.isFinite(p.value))
        .map((p, k) => `${k === 0 ? 'M' : 'L'}${coord(x(p.at))},${coord(y(p.value))}`)
        .join(' ');
      return `<path class="series" d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"/><text x="${W - 110}" y="${top + 12 + i * 14}" font-size="11" fill="${s.colour}">${esc(s.name)}</text>`;
    })
    .join('');
  const marks = rollbacks
    .filter((at) => at >= t0 && at <= t1)
    .map(
      (at) =>
        `<line class="marker rollback" x1="${coord(x(at))}" x2="${coord(x(at))}" y1="${top}" y2="${top + plotH}" stroke="#cf222e" stroke-dasharray="4 3"/>`,
    )
    .join('');
  const axis = `<text x="${left - 6}" y="${top + 4}" font-size="10" text-anchor="end">${esc(fmt(vmax))}</text><text x="${left - 6}" y="${top + plotH}" font-size="10" text-anchor="end">0</text><text x="${left}" y="${top + plotH + 16}" font-size="10">0 s</text><text x="${coord(x(t1))}" y="${top + plotH + 16}" font-size="10" text-anchor="end">${Math.round((t1 - t0) / 1000)} s</text><text x="${left}" y="12" font-size="12" font-weight="600">${esc(title)}</text>`;
  return svg(
    'tick-chart',
    W,
    H,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#d0d7de"/>${lines}${marks}${axis}`,
    title,
  );
}
