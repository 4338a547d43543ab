/**
 * The AUC and paired bootstrap as they were before issue 14 (commit e6ba152, src/stats/metrics.ts and
 * bootstrap.ts), frozen here so `npm run bench -- gates-speed` measures before and after side by side
 * on the same machine, data and load. Benchmark-only: nothing in src/ imports it.
 */
import { type PerformanceMetric } from '../../src/spec/gates-schema';
import { StatisticUndefinedError, type NumericArray } from '../../src/stats/errors';
import { validateScoresAndLabels } from '../../src/stats/metrics';
import { quantileSorted } from '../../src/stats/quantile';
import { createRng } from '../../src/stats/rng';

type Weights = Int32Array;
type Prepared = (weights?: Weights) => number;

const w = (weights: Weights | undefined, i: number): number =>
  weights === undefined ? 1 : (weights[i] as number);

/** Sorted with a JS comparator: the cost issue 14 measured. */
function scoreOrder(scores: NumericArray): Uint32Array {
  const idx = new Uint32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  const s = Float64Array.from(scores);
  idx.sort((a, b) => (s[a] as number) - (s[b] as number));
  return idx;
}

function aucOrdered(
  scores: NumericArray,
  labels: NumericArray,
  order: Uint32Array,
  weights?: Weights,
): number {
  let negBelow = 0;
  let numerator = 0;
  let pos = 0;
  let k = 0;
  while (k < order.length) {
    const value = scores[order[k] as number] as number;
    let groupPos = 0;
    let groupNeg = 0;
    while (k < order.length && scores[order[k] as number] === value) {
      const i = order[k] as number;
      const wi = w(weights, i);
      if (labels[i] === 1) groupPos += wi;
      else groupNeg += wi;
      k++;
    }
    numerator += groupPos * (negBelow + 0.5 * groupNeg);
    negBelow += groupNeg;
    pos += groupPos;
  }
  if (pos === 0 || negBelow === 0) throw new StatisticUndefinedError('auc', 'only one class is present');
  return numerator / (pos * negBelow);
}

const EPS = 2.220446049250313e-16;

function logLossWeighted(scores: NumericArray, labels: NumericArray, weights?: Weights): number {
  let sum = 0;
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const wi = w(weights, i);
    if (wi === 0) continue;
    const p = Math.min(Math.max(scores[i] as number, EPS), 1 - EPS);
    sum += wi * (labels[i] === 1 ? -Math.log(p) : -Math.log(1 - p));
    total += wi;
  }
  if (total === 0) throw new StatisticUndefinedError('log_loss', 'no rows');
  return sum / total;
}

function prepare(metric: 'auc' | 'log_loss', scores: NumericArray, labels: NumericArray): Prepared {
  validateScoresAndLabels(metric, scores, labels);
  if (metric === 'log_loss') return (wt) => logLossWeighted(scores, labels, wt);
  const order = scoreOrder(scores);
  return (wt) => aucOrdered(scores, labels, order, wt);
}

export function aucBefore(scores: NumericArray, labels: NumericArray): number {
  return prepare('auc', scores, labels)();
}

/** The multinomial paired bootstrap: n draws of rng.int(n) per resample, metrics through closures. */
export function pairedBootstrapBefore(input: {
  metric: PerformanceMetric & ('auc' | 'log_loss');
  candidate: NumericArray;
  champion: NumericArray;
  labels: NumericArray;
  seed: number;
  resamples: number;
  confidence: number;
}): { delta: number; lower: number; upper: number; resamples: number } {
  const cand = prepare(input.metric, input.candidate, input.labels);
  const champ = prepare(input.metric, input.champion, input.labels);
  const delta = cand() - champ();
  const n = input.labels.length;
  const rng = createRng(input.seed);
  const counts = new Int32Array(n);
  const deltas = new Float64Array(input.resamples);
  let kept = 0;
  for (let r = 0; r < input.resamples; r++) {
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[rng.int(n)]! += 1;
    try {
      deltas[kept] = cand(counts) - champ(counts);
      kept++;
    } catch (e) {
      if (!(e instanceof StatisticUndefinedError)) throw e;
    }
  }
  const sorted = deltas.subarray(0, kept).sort();
  const alpha = (1 - input.confidence) / 2;
  return {
    delta,
    lower: quantileSorted(sorted, alpha),
    upper: quantileSorted(sorted, 1 - alpha),
    resamples: kept,
  };
}
