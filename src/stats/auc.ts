import { StatisticUndefinedError, type NumericArray } from './errors';

/**
 * ROC AUC (= Mann–Whitney U / (n₊·n₋), tied scores counted ½, as `roc_auc_score`) through typed-array
 * sorts: `Float64Array.prototype.sort` without a comparator is V8's native numeric sort, several
 * times faster than sorting with a JS comparator (issue 14). Inputs are assumed validated (finite
 * scores, labels 0/1): see `validateScoresAndLabels`.
 */

export type Weights = Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

function oneClass(positives: number, negatives: number): StatisticUndefinedError {
  return new StatisticUndefinedError(
    'auc',
    `only one class is present (${positives} positive, ${negatives} negative)`,
    { positives, negatives },
  );
}

/**
 * Unweighted AUC: the scores of each class sorted natively, then one merge walk counting, for every
 * positive, the negatives below it and half those tied with it. Exact: every count is an integer or a
 * half, far below 2⁵³.
 */
export function aucOf(scores: NumericArray, labels: NumericArray): number {
  const n = scores.length;
  let positives = 0;
  for (let i = 0; i < n; i++) if (labels[i] === 1) positives++;
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) throw oneClass(positives, negatives);
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (labels[i] === 1) pos[p++] = scores[i] as number;
    else neg[q++] = scores[i] as number;
  }
  pos.sort();
  neg.sort();
  let numerator = 0;
  let below = 0; // negatives strictly below the current positive score
  let i = 0;
  while (i < positives) {
    const value = pos[i] as number;
    let group = 0;
    while (i < positives && pos[i] === value) {
      group++;
      i++;
    }
    while (below < negatives && (neg[below] as number) < value) below++;
    let tied = below;
    while (tied < negatives && neg[tied] === value) tied++;
    numerator += group * (below + 0.5 * (tied - below));
  }
  return numerator / (positives * negatives);
}

const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // word holding a double's sign

/** A 32-bit IEEE-754 pattern mapped so that unsigned integer order is numeric order. */
function orderedBits(bits: number): number {
  return bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/**
 * Row indices ordered by ascending score, ties ordered negatives first (the layout the resample
 * kernels rely on), computed with one native sort of packed keys:
 *
 *   key = (top bits of the score's order-preserving bit pattern · 2 + label) · 2^b + row,  b = ⌈log₂ n⌉
 *
 * exact integers below 2⁵³. Float32 scores (what ONNX models emit) fit whole up to 2²⁰ rows; for
 * float64 scores, or more rows, rows whose keys keep the same truncated score are re-sorted by their
 * full score afterwards (short runs in practice).
 */
export function scoreOrder(scores: NumericArray, labels: NumericArray): Uint32Array {
  const n = scores.length;
  const rowBits = Math.max(1, Math.ceil(Math.log2(Math.max(n, 2))));
  const rowScale = 2 ** rowBits;
  const scoreBits = 52 - rowBits; // 53 bits in all, one of them the label
  const keys = new Float64Array(n);
  let exact: boolean;
  if (scores instanceof Float32Array) {
    const bits = new Uint32Array(scores.buffer, scores.byteOffset, n);
    const drop = Math.max(0, 32 - scoreBits);
    exact = drop === 0;
    for (let i = 0; i < n; i++) {
      const b = bits[i] === 0x80000000 ? 0 : (bits[i] as number); // −0 sorts with +0
      const key = orderedBits(b) / 2 ** drop;
      keys[i] = ((key - (key % 1)) * 2 + (labels[i] as number)) * rowScale + i;
    }
  } else {
    const copy = new Float64Array(n);
    for (let i = 0; i < n; i++) copy[i] = (scores[i] as number) + 0; // −0 + 0 = +0
    const words = new Uint32Array(copy.buffer);
    const extra = Math.min(20, scoreBits - 32); // low-word bits that still fit
    exact = false;
    for (let i = 0; i < n; i++) {
      const hi = words[2 * i + HI] as number;
      const lo = words[2 * i + 1 - HI] as number;
      const negative = (hi & 0x80000000) !== 0;
      let key: number;
      if (extra > 0) {
        const loBits = (negative ? ~lo >>> 0 : lo) >>> (32 - extra);
        key = orderedBits(hi) * 2 ** extra + loBits;
      } else {
        const k = orderedBits(hi) / 2 ** -extra;
        key = k - (k % 1);
      }
      keys[i] = (key * 2 + (labels[i] as number)) * rowScale + i;
    }
  }
  keys.sort();
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = (keys[k] as number) % rowScale;
  if (!exact) resortCollisions(keys, order, scores, labels, rowScale * 2);
  return order;
}

/** Re-sorts runs whose keys share the truncated score, by (full score, label). */
function resortCollisions(
  keys: Float64Array,
  order: Uint32Array,
  scores: NumericArray,
  labels: NumericArray,
  scoreScale: number,
): void {
  const n = order.length;
  let start = 0;
  while (start < n) {
    const bucket = Math.floor((keys[start] as number) / scoreScale);
    let end = start + 1;
    while (end < n && Math.floor((keys[end] as number) / scoreScale) === bucket) end++;
    if (end - start > 1) {
      const first = scores[order[start] as number];
      let distinct = false;
      for (let k = start + 1; k < end && !distinct; k++) distinct = scores[order[k] as number] !== first;
      if (distinct) {
        order
          .subarray(start, end)
          .sort(
            (a, b) =>
              (scores[a] as number) - (scores[b] as number) || (labels[a] as number) - (labels[b] as number),
          );
      }
    }
    start = end;
  }
}

/** Weighted AUC over rows in `order` (any order that keeps tied scores together); O(n). */
export function aucOrdered(
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
      const wi = weights === undefined ? 1 : (weights[i] as number);
      if (labels[i] === 1) groupPos += wi;
      else groupNeg += wi;
      k++;
    }
    numerator += groupPos * (negBelow + 0.5 * groupNeg);
    negBelow += groupNeg;
    pos += groupPos;
  }
  if (pos === 0 || negBelow === 0) throw oneClass(pos, negBelow);
  return numerator / (pos * negBelow);
}
