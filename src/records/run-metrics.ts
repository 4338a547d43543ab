import type { MetricPoint } from '../mlflow/schemas';
import type { PromotionState } from '../promotion/state';
import type { CheckResult, GateVerdict } from '../promotion/verdict';
import { weightOf } from '../report/rollout-timeline';

/**
 * What an attempt's MLflow run logs, computed from the final promotion state alone: params (the
 * spec's sha256, seeds, every check's threshold) and metrics (every check's numbers, the fairness
 * groups). Pure, and deterministic in every field, timestamps and steps included: MLflow stores a
 * repeated (key, value, timestamp, step) once (checked on the 3.17 server), so a retried activity
 * that logs the same points again adds nothing, and params logged twice with one value are accepted.
 *
 * A gate judged more than once in an attempt (one canary verdict per step) is logged as a step
 * metric: step k is its k-th verdict, so MLflow charts each check across the canary's steps.
 */

export interface RunLog {
  readonly params: Readonly<Record<string, string>>;
  readonly metrics: readonly MetricPoint[];
}

/** MLflow accepts letters, digits, `_ - . : /` and space in keys; `>=`/`<=` read ge/le, anything else becomes `_`. */
export function metricKey(...parts: readonly string[]): string {
  return parts
    .map(
      (p) =>
        p
          .replace(/>=/g, 'ge')
          .replace(/<=/g, 'le')
          .replace(/[^A-Za-z0-9_\-.: ]/g, '_')
          .replace(/^[ ./]+|[ ./]+$/g, '') || '_',
    )
    .join('/')
    .slice(0, 250);
}

/** Milliseconds of an ISO time, or `fallback` when it does not parse. */
function millis(iso: string | undefined, fallback: number): number {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? t : fallback;
}

/** When the attempt began and ended, in workflow time (its audit trail), for the run's times. */
export function attemptTimes(state: PromotionState, now: number): { start: number; end: number } {
  const start = millis(state.audit[0]?.at, now);
  return { start, end: Math.max(start, millis(state.audit.at(-1)?.at, start)) };
}

const MAX_EVIDENCE_NUMBERS = 40;

/** The finite numbers inside a check's evidence (nested objects, not arrays), keyed by their path. */
function evidenceNumbers(evidence: CheckResult['evidence']): [string, number][] {
  const out: [string, number][] = [];
  const walk = (value: unknown, path: string[], depth: number): void => {
    if (out.length >= MAX_EVIDENCE_NUMBERS) return;
    if (typeof value === 'number' && Number.isFinite(value)) out.push([path.join('.'), value]);
    else if (value && typeof value === 'object' && !Array.isArray(value) && depth < 3)
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k], depth + 1);
  };
  walk(evidence ?? {}, [], 0);
  return out;
}

function checkMetrics(gate: string, c: CheckResult): [string, number][] {
  const base = (name: string): string => metricKey(gate, c.name, name);
  const out: [string, number][] = [];
  const add = (name: string, v: number | undefined): void => {
    if (v !== undefined && Number.isFinite(v)) out.push([base(name), v]);
  };
  add('value', c.value);
  add('threshold', c.threshold);
  add('ci_lower', c.interval?.lower);
  add('ci_upper', c.interval?.upper);
  add('n', c.sampleSize);
  add('passed', c.status === 'passed' ? 1 : 0);
  for (const [path, v] of evidenceNumbers(c.evidence)) add(`evidence.${path}`, v);
  return out;
}

function groupMetrics(g: GateVerdict): [string, number][] {
  const out: [string, number][] = [];
  for (const t of g.groups ?? []) {
    for (const row of t.groups) {
      const key = (name: string): string => metricKey(g.gate, 'groups', t.column, row.group, name);
      out.push([key('rows'), row.rows], [key('positives'), row.positives], [key('base_rate'), row.baseRate]);
      out.push(
        [key('selection_rate'), row.candidate.selectionRate],
        [key('tpr'), row.candidate.tpr],
        [key('fpr'), row.candidate.fpr],
      );
      if (row.champion)
        out.push(
          [key('champion_selection_rate'), row.champion.selectionRate],
          [key('champion_tpr'), row.champion.tpr],
          [key('champion_fpr'), row.champion.fpr],
        );
    }
  }
  return out.filter(([, v]) => Number.isFinite(v));
}

/** The time each verdict was recorded: the k-th `gate:<name>` audit entry is the k-th verdict of that gate. */
function verdictTimes(state: PromotionState, fallback: number): number[] {
  const seen = new Map<string, number>();
  return state.gates.map((g) => {
    const k = seen.get(g.gate) ?? 0;
    seen.set(g.gate, k + 1);
    const entry = state.audit.filter((a) => a.kind === `gate:${g.gate}`)[k];
    return millis(entry?.at, fallback);
  });
}

/** Threshold params, one per check name and gate; the first verdict's wins (later steps repeat it). */
function thresholdParams(gates: readonly GateVerdict[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of gates)
    for (const c of g.checks) {
      if (c.threshold === undefined) continue;
      const key = metricKey('threshold', g.gate, c.name);
      out[key] ??= `${c.comparator ?? ''} ${c.threshold}`.trim();
    }
  return out;
}

/**
 * The live timeline as step metrics: every recorded judgement of every shadow and canary watch, in
 * order, one step each, at the judgement's own time. Per variant: error rate, p50 and p99 latency,
 * requests; the agreement of shadow pairs; each check's value (drift, skew, error rate increase…);
 * and the candidate's traffic weight at that moment, read from the routing entries.
 */
function tickMetrics(state: PromotionState): MetricPoint[] {
  const routing = state.audit
    .filter((a) => a.kind === 'routing')
    .map((a) => ({ at: Date.parse(a.at), weight: weightOf(a.message, state.candidate.version) }))
    .filter((r): r is { at: number; weight: number } => Number.isFinite(r.at) && r.weight !== undefined);
  const weightAt = (at: number): number | undefined => routing.filter((r) => r.at <= at).at(-1)?.weight;
  const out: MetricPoint[] = [];
  let step = 0;
  for (const g of state.gates) {
    for (const t of g.ticks ?? []) {
      const add = (key: string, value: number | undefined): void => {
        if (value !== undefined && Number.isFinite(value)) out.push({ key, value, timestamp: t.at, step });
      };
      for (const [variant, v] of Object.entries(t.variants)) {
        add(metricKey('live', variant, 'error_rate'), v.errorRate);
        add(metricKey('live', variant, 'latency_p50_ms'), v.p50);
        add(metricKey('live', variant, 'latency_p99_ms'), v.p99);
        add(metricKey('live', variant, 'requests'), v.n);
      }
      add('live/agreement', t.agreement);
      add('live/candidate_weight', weightAt(t.at));
      add(metricKey('live', g.gate, 'passed'), t.status === 'passed' ? 1 : 0);
      for (const [name, value] of Object.entries(t.checks)) add(metricKey('live', g.gate, name), value);
      step++;
    }
  }
  return out;
}

export function runLog(state: PromotionState, spec: SpecParams, now: number): RunLog {
  const { end } = attemptTimes(state, now);
  const times = verdictTimes(state, end);
  const steps = new Map<string, number>();
  const metrics: MetricPoint[] = [];
  state.gates.forEach((g, i) => {
    const step = steps.get(g.gate) ?? 0;
    steps.set(g.gate, step + 1);
    const timestamp = times[i] ?? end;
    const points = [...g.checks.flatMap((c) => checkMetrics(g.gate, c)), ...groupMetrics(g)];
    for (const [key, value] of points) metrics.push({ key, value, timestamp, step });
  });
  metrics.push(...tickMetrics(state));
  // One value per key, step and timestamp: two checks whose names sanitise alike keep the first.
  const unique = new Map<string, MetricPoint>();
  for (const m of metrics) {
    const id = `${m.key}\u0000${m.step}`;
    if (!unique.has(id)) unique.set(id, m);
  }
  const params: Record<string, string> = {
    'spec.sha256': state.specSha256,
    'spec.file': state.specFile.slice(-500),
    'evaluation.seed': String(spec.seed),
    'evaluation.bootstrap_resamples': String(spec.bootstrapResamples),
    'evaluation.decision_threshold': String(spec.decisionThreshold),
    ...thresholdParams(state.gates),
  };
  return { params, metrics: [...unique.values()] };
}

/** The spec's seeds and evaluation settings a run records beside the thresholds. */
export interface SpecParams {
  readonly seed: number;
  readonly bootstrapResamples: number;
  readonly decisionThreshold: number;
}

/**
 * Splits a log into as few calls as the server accepts: ≤ 1000 metrics, ≤ 100 params and ≤ 1000
 * items in all per call. Params ride with the first metrics, so a typical attempt (a few dozen
 * params, a few hundred metrics) is one call; it was two, params and metrics apart.
 */
export function batches(log: RunLog): { metrics: MetricPoint[]; params: Record<string, string> }[] {
  const out: { metrics: MetricPoint[]; params: Record<string, string> }[] = [];
  const params = Object.entries(log.params);
  let m = 0;
  for (let i = 0; i < params.length || (i === 0 && m < log.metrics.length); i += 100) {
    const p = params.slice(i, i + 100);
    const take = log.metrics.slice(m, m + 1000 - p.length);
    m += take.length;
    out.push({ metrics: take, params: Object.fromEntries(p) });
  }
  for (; m < log.metrics.length; m += 1000) out.push({ metrics: log.metrics.slice(m, m + 1000), params: {} });
  return out;
}
