import { assertSameLength, StatsInputError, type NumericArray } from './errors';
import { fairnessFromGroups, groupRates, type GroupRates } from './fairness';
import { type FairnessMetric, isFairerWhenHigher } from './metric-names';
import { quantileSorted } from './quantile';
import { addLaneSums, LANES, poissonWeights } from './resample';
import {
  contrastDeltas,
  contrastsOf,
  metricFromRates,
  type Rates,
  SimultaneousBootstrap,
} from './fairness-contrasts';

/**
 * Paired bootstrap of Δ = fairness(candidate) − fairness(champion), one sensitive column.
 *
 * Both models are judged on the same resampled rows: a resample is a Poisson(1) weight per row
 * (`./resample`, the performance gate's weights for the same seed and row count), so the rows' labels,
 * groups and both models' decisions move together and the interval reflects only the models'
 * difference. Under a weighting, every per-group count (rows, positives, selected, true and false
 * positives) is a weighted count; the rates and metrics are then Fairlearn's (`./fairness`).
 *
 * The interval judged is simultaneous over the champion's group contrasts (`./fairness-contrasts`):
 * a plain percentile interval of Δ is lenient toward the candidate when the champion is at parity. The
 * percentile interval is kept as evidence.
 *
 * The judged groups are fixed by the full data (`minGroupSize` on unweighted counts), so a resample
 * never changes which groups are compared. A resample in which a judged group has no weight at all, or
 * in which a ratio is 0/0, has no Δ: it is skipped and counted.
 *
 * Rows fall into cells of (judged group, label, candidate decision, champion decision); a resample
 * needs only each cell's weight sum, eight resamples per pass over the rows.
 */
export interface FairnessBootstrapInput {
  readonly metrics: readonly FairnessMetric[];
  readonly candidate: NumericArray;
  readonly champion: NumericArray;
  readonly labels: NumericArray;
  readonly threshold: number;
  /** The group of every row, in row order. */
  readonly groupOf: readonly string[];
  readonly minGroupSize: number;
  readonly seed: number;
  readonly resamples: number;
}

/** The resampled Δ of one metric. */
export interface FairnessDistribution {
  readonly metric: FairnessMetric;
  readonly candidate: number;
  readonly champion: number;
  /** Δ on the full data: candidate − champion. */
  readonly delta: number;
  /** Δ of every resample that had one, ascending. */
  readonly deltas: Float64Array;
  /** The champion's contrasts over the same resamples, for the simultaneous interval. */
  readonly simultaneous: SimultaneousBootstrap;
  readonly requested: number;
  readonly skipped: number;
  readonly seed: number;
  readonly n: number;
}

export type FairnessDistributionOutcome =
  | { readonly distribution: FairnessDistribution }
  /** Why the metric has no Δ on the full data (too few judged groups, a 0/0 ratio). */
  | { readonly undefined: string };

export interface FairnessBootstrap {
  /** Per-group rates of each model on the full data (the evidence tables). */
  readonly candidate: readonly GroupRates[];
  readonly champion: readonly GroupRates[];
  readonly outcomes: ReadonlyMap<FairnessMetric, FairnessDistributionOutcome>;
}

/** Cell of a row: judged group j, label y, candidate decision c, champion decision h → 8j + 4y + 2c + h. */
function cellsOf(input: FairnessBootstrapInput, judged: ReadonlyMap<string, number>) {
  const { candidate, champion, labels, threshold, groupOf } = input;
  const cells = judged.size * 8;
  const cellOfRow = new Int32Array(labels.length).fill(-1);
  const starts = new Uint32Array(cells + 1);
  for (let i = 0; i < labels.length; i++) {
    const j = judged.get(groupOf[i] as string);
    if (j === undefined) continue;
    const cell =
      8 * j +
      4 * (labels[i] as number) +
      ((candidate[i] as number) >= threshold ? 2 : 0) +
      ((champion[i] as number) >= threshold ? 1 : 0);
    cellOfRow[i] = cell;
    starts[cell + 1]! += 1;
  }
  for (let c = 1; c <= cells; c++) starts[c]! += starts[c - 1] as number;
  const rows = new Uint32Array(starts[cells] as number);
  const fill = starts.slice(0, cells);
  for (let i = 0; i < labels.length; i++) {
    const cell = cellOfRow[i] as number;
    if (cell >= 0) rows[fill[cell]!++] = i;
  }
  return { cells, starts, rows };
}

type LaneVisitor = (resample: number, candidate: Rates, champion: Rates) => void;

/**
 * Calls `visit` for every resample in which every judged group has weight, with both models' rates;
 * the same seed gives the same resamples, so a second pass sees the first pass's resamples again.
 */
function eachResample(
  input: FairnessBootstrapInput,
  judged: ReadonlyMap<string, number>,
  visit: LaneVisitor,
): void {
  const { cells, starts, rows } = cellsOf(input, judged);
  const groups = judged.size;
  const sums = new Float64Array(cells * LANES);
  const rates = (): Rates => ({
    sel: new Float64Array(groups),
    tpr: new Float64Array(groups),
    fpr: new Float64Array(groups),
  });
  const c = rates();
  const h = rates();
  const weights = poissonWeights(input.seed);
  const packed = new Uint32Array(input.labels.length);
  for (let block = 0; block < input.resamples; block += LANES) {
    weights.next(packed);
    sums.fill(0);
    for (let cell = 0; cell < cells; cell++)
      addLaneSums(packed, rows, starts[cell] as number, starts[cell + 1] as number, sums, cell * LANES);
    const lanes = Math.min(LANES, input.resamples - block);
    for (let l = 0; l < lanes; l++) {
      let empty = false;
      for (let j = 0; j < groups; j++) {
        const w = (k: number): number => sums[(8 * j + k) * LANES + l] as number;
        // k = 4y + 2c + h
        const neg = w(0) + w(1) + w(2) + w(3);
        const pos = w(4) + w(5) + w(6) + w(7);
        if (neg + pos === 0) empty = true;
        c.sel[j] = (w(2) + w(3) + w(6) + w(7)) / (neg + pos);
        h.sel[j] = (w(1) + w(3) + w(5) + w(7)) / (neg + pos);
        c.tpr[j] = pos === 0 ? 0 : (w(6) + w(7)) / pos;
        h.tpr[j] = pos === 0 ? 0 : (w(5) + w(7)) / pos;
        c.fpr[j] = neg === 0 ? 0 : (w(2) + w(3)) / neg;
        h.fpr[j] = neg === 0 ? 0 : (w(1) + w(3)) / neg;
      }
      if (!empty) visit(block + l, c, h);
    }
  }
}

const metricOf = (metric: FairnessMetric, r: Rates): number => metricFromRates(metric, r.sel, r.tpr, r.fpr);

function fullRates(groups: readonly GroupRates[]): Rates {
  const judged = groups.filter((g) => g.judged);
  return {
    sel: Float64Array.from(judged, (g) => g.selectionRate),
    tpr: Float64Array.from(judged, (g) => g.tpr),
    fpr: Float64Array.from(judged, (g) => g.fpr),
  };
}

export function fairnessBootstrap(input: FairnessBootstrapInput): FairnessBootstrap {
  const { labels, threshold, groupOf, minGroupSize, seed, resamples } = input;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new StatsInputError(`resamples must be a positive integer, got ${resamples}`, { resamples });
  }
  assertSameLength('candidate scores', input.candidate, 'champion scores', input.champion);
  // Validates lengths, finiteness and 0/1 labels for both models.
  const candidate = groupRates(input.candidate, labels, threshold, groupOf, minGroupSize);
  const champion = groupRates(input.champion, labels, threshold, groupOf, minGroupSize);
  const judgedNames = candidate.filter((g) => g.judged).map((g) => g.group);
  const judged = new Map(judgedNames.map((g, j) => [g, j]));
  const outcomes = new Map<FairnessMetric, FairnessDistributionOutcome>();

  interface Job {
    readonly metric: FairnessMetric;
    readonly candidate: number;
    readonly champion: number;
    readonly deltas: Float64Array;
    readonly simultaneous: SimultaneousBootstrap;
    /** Resamples with a Δ and finite contrasts: the only ones either pass uses. */
    readonly usable: Uint8Array;
    kept: number;
  }
  const jobs: Job[] = [];
  const championRates = fullRates(champion);
  for (const metric of new Set(input.metrics)) {
    const c = fairnessFromGroups(metric, candidate);
    const h = fairnessFromGroups(metric, champion);
    if (c.status === 'inconclusive') outcomes.set(metric, { undefined: `candidate: ${c.reason}` });
    else if (h.status === 'inconclusive') outcomes.set(metric, { undefined: `champion: ${h.reason}` });
    else {
      const contrasts = contrastsOf(metric, championRates);
      const full = new Float64Array(contrasts.rate.length);
      contrastDeltas(contrasts, c.value, championRates, full);
      jobs.push({
        metric,
        candidate: c.value,
        champion: h.value,
        deltas: new Float64Array(resamples),
        simultaneous: new SimultaneousBootstrap(contrasts, full),
        usable: new Uint8Array(resamples),
        kept: 0,
      });
    }
  }

  if (jobs.length > 0) {
    eachResample(input, judged, (b, c, h) => {
      for (const job of jobs) {
        const cm = metricOf(job.metric, c);
        const delta = cm - metricOf(job.metric, h);
        if (Number.isNaN(delta) || !job.simultaneous.addMoments(cm, h)) continue;
        job.deltas[job.kept++] = delta;
        job.usable[b] = 1;
      }
    });
    for (const job of jobs) job.simultaneous.finishMoments(job.kept);
    eachResample(input, judged, (b, c, h) => {
      for (const job of jobs)
        if (job.usable[b] === 1) job.simultaneous.addExtremes(metricOf(job.metric, c), h);
    });
  }

  for (const job of jobs) {
    outcomes.set(job.metric, {
      distribution: {
        metric: job.metric,
        candidate: job.candidate,
        champion: job.champion,
        delta: job.candidate - job.champion,
        deltas: job.deltas.subarray(0, job.kept).sort(),
        simultaneous: job.simultaneous,
        requested: resamples,
        skipped: resamples - job.kept,
        seed,
        n: labels.length,
      },
    });
  }
  return { candidate, champion, outcomes };
}

export interface FairnessInterval {
  readonly lower: number;
  readonly upper: number;
  readonly confidence: number;
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) {
    throw new StatsInputError(`confidence must be in (0, 1), got ${confidence}`, { confidence });
  }
}

/**
 * The interval the relative checks judge: simultaneous over the champion's contrasts
 * (`./fairness-contrasts`), two-sided at `confidence`, valid also when the champion is at parity.
 */
export function fairnessInterval(d: FairnessDistribution, confidence: number): FairnessInterval {
  checkConfidence(confidence);
  const { lower, upper } = d.simultaneous.interval(confidence);
  return { lower, upper, confidence };
}

/** The plain two-sided percentile interval of Δ (numpy's linear interpolation); evidence only. */
export function fairnessPercentileInterval(d: FairnessDistribution, confidence: number): FairnessInterval {
  checkConfidence(confidence);
  if (d.deltas.length === 0) return { lower: NaN, upper: NaN, confidence };
  const alpha = (1 - confidence) / 2;
  return {
    lower: quantileSorted(d.deltas, alpha),
    upper: quantileSorted(d.deltas, 1 - alpha),
    confidence,
  };
}

export interface FairnessNonInferiority {
  readonly passed: boolean;
  /** The pessimistic end of the interval, and the limit it must respect. */
  readonly bound: 'lower' | 'upper';
  readonly boundValue: number;
  readonly limit: number;
}

/**
 * "No less fair than the champion by more than ε": for the ratio (fairer when higher) a loss is Δ < 0,
 * so the LOWER bound must be ≥ −ε; for a difference (fairer when lower) a loss is Δ > 0, so the UPPER
 * bound must be ≤ +ε. An interval that straddles the limit has not shown it: the candidate must.
 */
export function fairnessNonInferiority(
  metric: FairnessMetric,
  interval: FairnessInterval,
  margin: number,
): FairnessNonInferiority {
  if (isFairerWhenHigher(metric)) {
    return { passed: interval.lower >= -margin, bound: 'lower', boundValue: interval.lower, limit: -margin };
  }
  return { passed: interval.upper <= margin, bound: 'upper', boundValue: interval.upper, limit: margin };
}
