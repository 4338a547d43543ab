/** Tables and derived figures of the scale benchmark, from the measured runs only. */
import type { Table } from './report';
import { percentile, type HistoryAnalysis } from './scale-history';
import type { LiveRun } from './scale-live';
import type { LoadResult, Quantiles } from './scale-load';

const GIB = 1024 ** 3;
/** Temporal's default limit: a workflow whose history passes it is terminated. */
export const HISTORY_EVENT_LIMIT = 51_200;
/** A day of analysis at a 1 s interval. */
const DAY_TICKS = 86_400;
/** A realistic 24-hour canary: four weights, each followed by a 6-hour bake. */
const DAY_STEPS = 4;

const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : 'n/a');
const ms0 = (ms: number): string => (Number.isFinite(ms) ? ms.toFixed(0) : 'n/a');
const q = (x: Quantiles, f: (v: number) => string): string => `${f(x.p50)} / ${f(x.p95)} / ${f(x.max)}`;

export function loadTable(loads: readonly LoadResult[]): Table {
  return {
    title: 'Concurrent promotions with offline gates, all started at once',
    columns: [
      'point',
      'workers',
      'settings (per worker)',
      'promotions (outcomes)',
      'promotions / min',
      'end to end p50 / p95 / max, s',
      'activity schedule-to-start p50 / p95 / max, s',
      'workflow task schedule-to-start p50 / p95 / max, s',
      'peak RSS per worker (VmHWM), GiB',
      'CPU s: worker(s) / Temporal / MLflow',
      'load average mean (max)',
    ],
    rows: loads.map((l) => [
      l.name,
      String(l.workers),
      Object.entries(l.tuning)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ') || 'SDK defaults',
      `${l.promotions} (${Object.entries(l.outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
      l.promotionsPerMinute.toFixed(0),
      q(l.endToEndMs, s),
      q(l.activityScheduleToStartMs, s),
      q(l.workflowTaskScheduleToStartMs, s),
      l.usage.map((u) => (u.peakRssBytes / GIB).toFixed(2)).join(' / '),
      `${l.usage.map((u) => (u.cpuMs / 1000).toFixed(0)).join(' + ')} / ${l.serverCpuSec.temporal.toFixed(0)} / ${l.serverCpuSec.mlflow.toFixed(0)}`,
      `${l.loadAverage.mean} (${l.loadAverage.max})`,
    ]),
  };
}

export function overheadTables(runs: readonly LiveRun[]): Table[] {
  const gaps = runs.flatMap((r) => r.analysis.gaps);
  const byBoundary = new Map<string, number[][]>();
  for (const g of gaps) {
    const key = `${g.after} → ${g.before}`;
    const entry = byBoundary.get(key) ?? [[], [], [], [], []];
    entry[0]?.push(g.totalMs);
    entry[1]?.push(g.decideMs);
    entry[2]?.push(g.dispatchMs);
    entry[3]?.push(g.queueMs);
    entry[4]?.push(g.runMs);
    byBoundary.set(key, entry);
  }
  const own = new Map<string, number[]>();
  for (const r of runs)
    for (const a of r.analysis.activityRunMs) own.set(a.name, [...(own.get(a.name) ?? []), a.ms]);
  const p50 = (v: readonly number[] | undefined): string => ms0(percentile(v ?? [], 0.5));
  const p95 = (v: readonly number[] | undefined): string => ms0(percentile(v ?? [], 0.95));
  const all = gaps.map((g) => g.totalMs);
  const totals = runs.map((r) => ({
    gaps: r.analysis.gaps.reduce((sum, g) => sum + g.totalMs, 0),
    activities: r.analysis.activityRunMs.reduce((sum, a) => sum + a.ms, 0),
  }));
  return [
    {
      title: `Engine overhead per step: zero-bake live promotions (${runs.length}, one at a time), ms`,
      columns: [
        'boundary',
        'n',
        'gap p50',
        'gap p95',
        'deciding p50',
        'of which the workflow task queued p50',
        'of which it ran (worker + round trip) p50',
        'activity dispatch p50',
      ],
      rows: [
        ...[...byBoundary].map(([key, [total, decide, dispatch, queue, run]]) => [
          key,
          String(total?.length ?? 0),
          p50(total),
          p95(total),
          p50(decide),
          p50(queue?.filter(Number.isFinite)),
          p50(run?.filter(Number.isFinite)),
          p50(dispatch),
        ]),
        [
          'all boundaries',
          String(all.length),
          p50(all),
          p95(all),
          p50(gaps.map((g) => g.decideMs)),
          p50(gaps.map((g) => g.queueMs).filter(Number.isFinite)),
          p50(gaps.map((g) => g.runMs).filter(Number.isFinite)),
          p50(gaps.map((g) => g.dispatchMs)),
        ],
      ],
    },
    {
      title: 'Activities’ own time in the same runs (start to close), ms',
      columns: ['activity', 'n', 'p50', 'p95'],
      rows: [
        ...[...own].map(([name, v]) => [name, String(v.length), p50(v), p95(v)]),
        [
          'per promotion: all gaps vs all activity time',
          String(totals.length),
          `${p50(totals.map((t) => t.gaps))} vs ${p50(totals.map((t) => t.activities))}`,
          '',
        ],
      ],
    },
  ];
}

/** Runs of one workflow on one server, for the overhead comparison. */
export interface OverheadSample {
  readonly server: string;
  readonly workflow: string;
  readonly analyses: readonly HistoryAnalysis[];
}

/**
 * The time between activities of prograde's zero-bake promotions beside a no-op workflow's on the same
 * server, on each server setting measured: what Temporal itself costs per step and what prograde adds.
 */
export function overheadComparisonTable(samples: readonly OverheadSample[]): Table {
  const p50 = (v: readonly number[]): string => ms0(percentile(v.filter(Number.isFinite), 0.5));
  const p95 = (v: readonly number[]): string => ms0(percentile(v.filter(Number.isFinite), 0.95));
  return {
    title: 'Time between activities: prograde against a no-op workflow on the same dev server, ms',
    columns: [
      'Temporal dev server SQLite',
      'workflow',
      'runs',
      'step boundaries',
      'gap p50',
      'gap p95',
      'workflow task queued p50',
      'workflow task ran p50',
      'per run: between activities / in activities, p50',
    ],
    rows: samples.map((x) => {
      const gaps = x.analyses.flatMap((a) => a.gaps);
      const between = x.analyses.map((a) => a.gaps.reduce((sum, g) => sum + g.totalMs, 0));
      const inside = x.analyses.map((a) => a.activityRunMs.reduce((sum, r) => sum + r.ms, 0));
      return [
        x.server,
        x.workflow,
        String(x.analyses.length),
        String(gaps.length),
        p50(gaps.map((g) => g.totalMs)),
        p95(gaps.map((g) => g.totalMs)),
        p50(gaps.map((g) => g.queueMs)),
        p50(gaps.map((g) => g.runMs)),
        `${p50(between)} / ${p50(inside)}`,
      ];
    }),
  };
}

/** Least-squares slope of y on x; NaN when x does not vary. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return sxx > 0 ? sxy / sxx : NaN;
}

export function historyTables(runs: readonly LiveRun[]): { tables: Table[]; interpretation: string[] } {
  const rows = runs.map((r) => [
    r.label,
    r.outcome,
    String(r.watches),
    String(r.extensions),
    String(r.ticks),
    r.steps
      .map((st) => `${st.events} (${st.watches} watch${st.watches === 1 ? '' : 'es'}, ${st.ticks} ticks)`)
      .join('; '),
    String(r.analysis.events),
    (r.historyBytes / 1024).toFixed(1),
  ]);
  const tables: Table[] = [
    {
      title: 'History growth: live promotions under traffic (analysis every 1 s)',
      columns: [
        'canary',
        'outcome',
        'watch activities',
        'extensions',
        'ticks judged',
        'events per step (watches, ticks of its last watch)',
        'events',
        'history, KiB',
      ],
      rows,
    },
  ];
  const interpretation: string[] = [];
  const single = runs.flatMap((r) => r.steps.filter((st) => st.watches === 1));
  const extended = runs.flatMap((r) => r.steps.filter((st) => st.watches === 2));
  if (single.length < 2) return { tables, interpretation };
  const perStep = percentile(
    single.map((st) => st.events),
    0.5,
  );
  const perExtension =
    extended.length > 0
      ? percentile(
          extended.map((st) => st.events),
          0.5,
        ) - perStep
      : NaN;
  const perTick = slope(single.map((st) => [st.ticks, st.events] as const));
  const ticksSeen = single.map((st) => st.ticks);
  // Everything outside the canary steps (offline gates, lock, promotion, outcome): the same for any canary.
  const bases = runs.map((r) => r.analysis.events - r.steps.reduce((a, st) => a + st.events, 0));
  const base = percentile(bases, 0.5);
  const tickEvents = Math.max(0, perTick) * DAY_TICKS;
  const day = Math.round(base + DAY_STEPS * perStep + tickEvents);
  const extensions = Number.isFinite(perExtension) ? perExtension : perStep;
  const worst = Math.round(day + DAY_STEPS * 3 * extensions);
  tables.push({
    title: 'History growth: per step, per tick, and a 24-hour canary at 1 s analysis',
    columns: ['figure', 'value'],
    rows: [
      ['events outside the canary steps (median over the runs)', base.toFixed(0)],
      [
        `events per canary step (setWeight + bake, one watch), median of ${single.length} steps`,
        perStep.toFixed(1),
      ],
      [
        `events per extension of a step (${extended.length} steps had one)`,
        Number.isFinite(perExtension) ? perExtension.toFixed(1) : 'none seen',
      ],
      [
        `events per analysis tick: slope over steps of ${Math.min(...ticksSeen)}–${Math.max(...ticksSeen)} ticks`,
        perTick.toFixed(3),
      ],
      [
        `24 h canary (${DAY_STEPS} weights, 6 h bakes, ${DAY_TICKS} ticks): base + ${DAY_STEPS} × per step + ${DAY_TICKS} × max(0, per tick)`,
        `${day} events`,
      ],
      [`the same with every step extended 3 times (the spec's default maxExtensions)`, `${worst} events`],
      ['Temporal limit / goal', `${HISTORY_EVENT_LIMIT} / < 10,000`],
    ],
  });
  const stepEvents = single.map((st) => st.events);
  interpretation.push(
    `History: ${perStep.toFixed(1)} events per canary step${Number.isFinite(perExtension) ? `, ${perExtension.toFixed(1)} per extension` : ''}. A step's events did not follow its ticks: ${Math.min(...stepEvents)}–${Math.max(...stepEvents)} events for steps of ${Math.min(...ticksSeen)}–${Math.max(...ticksSeen)} ticks (a difference of one event is how the server batches workflow tasks), because each step's ticks run inside one heartbeating watch activity and heartbeats are not history events. Taking the fitted ${perTick.toFixed(3)} events per tick at face value anyway, a 24-hour canary of ${DAY_STEPS} steps at 1 s analysis projects to ${day} events, ${worst} with every step extended 3 times; at 0 per tick it is ${Math.round(base + DAY_STEPS * perStep)}. Goal < 10,000: ${worst < 10_000 ? 'met' : 'NOT met'} (Temporal's limit ${HISTORY_EVENT_LIMIT}).`,
  );
  return { tables, interpretation };
}
