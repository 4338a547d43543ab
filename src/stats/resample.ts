// Over 350 lines on purpose: the Poisson weights and the eight-lane kernels of every metric are
// one hot loop tuned together (bench/RESULTS.md) and share the lane layout.
import { type PerformanceMetric } from './metric-names';
import { scoreOrder } from './auc';
import { type NumericArray } from './errors';
import { absoluteErrorTerm, logLossTerm, squaredErrorTerm, validateScoresAndLabels } from './metrics';
import { createRng, type Rng } from './rng';

/**
 * Poisson bootstrap weights and the metrics of eight resamples computed in one pass (issue 14).
 *
 * A resample is a row weighting: every row gets an independent Poisson(1) count instead of the
 * multinomial counts of drawing n rows with replacement (Oza & Russell 2001; Hanley & MacGibbon 2006,
 * "Creating non-parametric bootstrap samples using Poisson frequencies"; Chamandy et al. 2012). Both
 * give each row mean 1 and variance 1 (multinomial: 1 − 1/n), and the intervals agree (see the
 * bootstrap tests); Poisson counts need no scatter over n rows, so they are drawn in bulk.
 *
 * Eight resamples share one Uint32 per row, 4 bits each (resample l in bits 4l…4l+3). A Poisson(1)
 * count is drawn by inversion at 2⁻³² resolution, so it never exceeds 12 and fits. The kernels below
 * read a row's word once for all eight resamples and sum packed lanes with integer adds (SWAR); every
 * sum they form is an integer (or a half) below 2⁵³, so AUC is exact whatever the order of summation.
 */

export const LANES = 8;

/** round(P(X ≤ k) · 2³²) for X ~ Poisson(1), k = 0…12; the last is 2³², so no count exceeds 12. */
export const POISSON_ONE_CDF_2_32: readonly number[] = [
  1580030169, 3160060337, 3950075422, 4213413783, 4279248374, 4292415292, 4294609778, 4294923276, 4294962463,
  4294966817, 4294967253, 4294967292, 4294967296,
];

/** Marks a 16-bit bucket that straddles a threshold: its count needs 16 more random bits. */
const STRADDLES = 15;

/** Poisson count of every 16-bit prefix of a uniform 32-bit draw, or STRADDLES. */
const PREFIX_COUNT = ((): Uint8Array => {
  const table = new Uint8Array(65536);
  const count = (u: number): number => {
    let k = 0;
    while (u >= (POISSON_ONE_CDF_2_32[k] as number)) k++;
    return k;
  };
  for (let prefix = 0; prefix < 65536; prefix++) {
    const low = count(prefix * 65536);
    table[prefix] = low === count(prefix * 65536 + 65535) ? low : STRADDLES;
  }
  return table;
})();

/** Rows drawn per RNG fill: the random words of a chunk (4 a row) stay in the L1/L2 cache. */
const CHUNK_ROWS = 4096;

/** Seeded source of packed Poisson(1) weights, eight resamples per `next` call. */
export interface PoissonWeights {
  /** Fills `packed` (one word per row) with the weights of the next eight resamples. */
  next(packed: Uint32Array): void;
}

export function poissonWeights(seed: number): PoissonWeights {
  const rng = createRng(seed);
  const words = new Uint32Array(4 * CHUNK_ROWS);
  return {
    next(packed: Uint32Array): void {
      for (let start = 0; start < packed.length; start += CHUNK_ROWS) {
        const rows = Math.min(CHUNK_ROWS, packed.length - start);
        const bits = rows === CHUNK_ROWS ? words : words.subarray(0, 4 * rows);
        rng.fillUint32(bits);
        for (let r = 0; r < rows; r++) {
          const u0 = bits[4 * r] as number;
          const u1 = bits[4 * r + 1] as number;
          const u2 = bits[4 * r + 2] as number;
          const u3 = bits[4 * r + 3] as number;
          let word =
            (PREFIX_COUNT[u0 & 0xffff] as number) |
            ((PREFIX_COUNT[u0 >>> 16] as number) << 4) |
            ((PREFIX_COUNT[u1 & 0xffff] as number) << 8) |
            ((PREFIX_COUNT[u1 >>> 16] as number) << 12) |
            ((PREFIX_COUNT[u2 & 0xffff] as number) << 16) |
            ((PREFIX_COUNT[u2 >>> 16] as number) << 20) |
            ((PREFIX_COUNT[u3 & 0xffff] as number) << 24) |
            ((PREFIX_COUNT[u3 >>> 16] as number) << 28);
          // A lane equal to 15 straddles: rare (12 of 65536 prefixes), so the slow path is cold.
          if ((word & (word >>> 1) & (word >>> 2) & (word >>> 3) & 0x11111111) !== 0) {
            word = refineStraddling(word, bits, 4 * r, rng);
          }
          packed[start + r] = word;
        }
      }
    },
  };
}

function refineStraddling(word: number, bits: Uint32Array, at: number, rng: Rng): number {
  for (let lane = 0; lane < LANES; lane++) {
    if (((word >>> (4 * lane)) & 15) !== STRADDLES) continue;
    const source = bits[at + (lane >> 1)] as number;
    const prefix = lane & 1 ? source >>> 16 : source & 0xffff;
    const u = prefix * 65536 + (rng.nextUint32() >>> 16);
    let k = 0;
    while (u >= (POISSON_ONE_CDF_2_32[k] as number)) k++;
    word = (word & ~(15 << (4 * lane))) | (k << (4 * lane));
  }
  return word;
}

/** The weights of one resample (lane) of a packed block, e.g. for an oracle to recompute. */
export function unpackLane(
  packed: Uint32Array,
  lane: number,
  out = new Uint8Array(packed.length),
): Uint8Array {
  const shift = 4 * lane;
  for (let i = 0; i < packed.length; i++) out[i] = ((packed[i] as number) >>> shift) & 15;
  return out;
}

/**
 * A metric of one model under the eight weightings of a packed block: writes out[0…7], NaN where
 * the metric has no value under that weighting (AUC with one class left, or no weight at all).
 */
export type LaneKernel = (packed: Uint32Array, out: Float64Array) => void;

/**
 * Rows per SWAR sum: a 16-bit field then holds at most 2048 · 15 < 2¹⁵, so the packed int32 sums
 * never overflow.
 */
const SWAR_ROWS = 2048;

/**
 * Adds to acc[at…at+7] the lane sums of packed[index[k]], k in [from, to): eight resamples' weights
 * summed at once, four bits a lane in two 16-bit halves, flushed every SWAR_ROWS rows before a half
 * can overflow (15 × 2048 < 2¹⁶).
 */
export function addLaneSums(
  packed: Uint32Array,
  index: Uint32Array,
  from: number,
  to: number,
  acc: Float64Array,
  at = 0,
): void {
  for (let start = from; start < to; start += SWAR_ROWS) {
    const end = Math.min(to, start + SWAR_ROWS);
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    for (let k = start; k < end; k++) {
      const x = packed[index[k] as number] as number;
      a += x & 0x000f000f;
      b += (x >>> 4) & 0x000f000f;
      c += (x >>> 8) & 0x000f000f;
      d += (x >>> 12) & 0x000f000f;
    }
    acc[at] = (acc[at] as number) + (a & 0xffff);
    acc[at + 1] = (acc[at + 1] as number) + (b & 0xffff);
    acc[at + 2] = (acc[at + 2] as number) + (c & 0xffff);
    acc[at + 3] = (acc[at + 3] as number) + (d & 0xffff);
    acc[at + 4] = (acc[at + 4] as number) + (a >>> 16);
    acc[at + 5] = (acc[at + 5] as number) + (b >>> 16);
    acc[at + 6] = (acc[at + 6] as number) + (c >>> 16);
    acc[at + 7] = (acc[at + 7] as number) + (d >>> 16);
  }
}

/**
 * AUC lanes. Rows in score order, ties negatives first, fall into alternating runs of one label
 * (the first run negative, maybe empty). Every positive in a run has the same weight of negatives
 * below it, so a run needs only its lane sums: U += Σw(run) · neg for a positive run, neg += Σw(run)
 * for a negative one. Tied negatives were counted whole for the positives of their tie group, so each
 * group with both labels gives back ½ · P_g · N_g.
 */
function aucLanes(scores: NumericArray, labels: NumericArray): LaneKernel {
  const order = scoreOrder(scores, labels);
  const n = order.length;
  const ends: number[] = [];
  let label = 0;
  let runStart = 0;
  for (let k = 0; k <= n; k++) {
    const next = k < n ? (labels[order[k] as number] as number) : -1;
    if (next === label && k - runStart < SWAR_ROWS) continue;
    if (next === label) ends.push(k); // a long run is cut: an empty run of the other label between
    ends.push(k);
    runStart = k;
    if (next !== label) label = 1 - label;
  }
  const runEnds = Uint32Array.from(ends);
  const ties: number[] = []; // [start, first positive, end) of every tie group with both labels
  for (let k = 0; k < n;) {
    const value = scores[order[k] as number];
    let end = k + 1;
    while (end < n && scores[order[end] as number] === value) end++;
    let firstPositive = k;
    while (firstPositive < end && labels[order[firstPositive] as number] !== 1) firstPositive++;
    if (firstPositive > k && firstPositive < end) ties.push(k, firstPositive, end);
    k = end;
  }
  const tieGroups = Uint32Array.from(ties);
  const groupNeg = new Float64Array(LANES);
  const groupPos = new Float64Array(LANES);
  const pairs = new Float64Array(LANES); // Σ_g P_g · N_g per lane

  return (packed, out) => {
    let neg0 = 0,
      neg1 = 0,
      neg2 = 0,
      neg3 = 0,
      neg4 = 0,
      neg5 = 0,
      neg6 = 0,
      neg7 = 0;
    let pos0 = 0,
      pos1 = 0,
      pos2 = 0,
      pos3 = 0,
      pos4 = 0,
      pos5 = 0,
      pos6 = 0,
      pos7 = 0;
    let u0 = 0,
      u1 = 0,
      u2 = 0,
      u3 = 0,
      u4 = 0,
      u5 = 0,
      u6 = 0,
      u7 = 0;
    let k = 0;
    for (let r = 0; r < runEnds.length; r++) {
      const end = runEnds[r] as number;
      let a = 0;
      let b = 0;
      let c = 0;
      let d = 0;
      for (; k < end; k++) {
        const x = packed[order[k] as number] as number;
        a += x & 0x000f000f;
        b += (x >>> 4) & 0x000f000f;
        c += (x >>> 8) & 0x000f000f;
        d += (x >>> 12) & 0x000f000f;
      }
      const s0 = a & 0xffff,
        s1 = b & 0xffff,
        s2 = c & 0xffff,
        s3 = d & 0xffff;
      const s4 = a >>> 16,
        s5 = b >>> 16,
        s6 = c >>> 16,
        s7 = d >>> 16;
      if ((r & 1) === 0) {
        neg0 += s0;
        neg1 += s1;
        neg2 += s2;
        neg3 += s3;
        neg4 += s4;
        neg5 += s5;
        neg6 += s6;
        neg7 += s7;
      } else {
        u0 += s0 * neg0;
        u1 += s1 * neg1;
        u2 += s2 * neg2;
        u3 += s3 * neg3;
        u4 += s4 * neg4;
        u5 += s5 * neg5;
        u6 += s6 * neg6;
        u7 += s7 * neg7;
        pos0 += s0;
        pos1 += s1;
        pos2 += s2;
        pos3 += s3;
        pos4 += s4;
        pos5 += s5;
        pos6 += s6;
        pos7 += s7;
      }
    }
    out[0] = u0 / (pos0 * neg0);
    out[1] = u1 / (pos1 * neg1);
    out[2] = u2 / (pos2 * neg2);
    out[3] = u3 / (pos3 * neg3);
    out[4] = u4 / (pos4 * neg4);
    out[5] = u5 / (pos5 * neg5);
    out[6] = u6 / (pos6 * neg6);
    out[7] = u7 / (pos7 * neg7);
    if (tieGroups.length === 0) return;
    pairs.fill(0);
    for (let g = 0; g < tieGroups.length; g += 3) {
      groupNeg.fill(0);
      groupPos.fill(0);
      addLaneSums(packed, order, tieGroups[g] as number, tieGroups[g + 1] as number, groupNeg);
      addLaneSums(packed, order, tieGroups[g + 1] as number, tieGroups[g + 2] as number, groupPos);
      for (let l = 0; l < LANES; l++)
        pairs[l] = (pairs[l] as number) + (groupNeg[l] as number) * (groupPos[l] as number);
    }
    out[0] = (u0 - 0.5 * (pairs[0] as number)) / (pos0 * neg0);
    out[1] = (u1 - 0.5 * (pairs[1] as number)) / (pos1 * neg1);
    out[2] = (u2 - 0.5 * (pairs[2] as number)) / (pos2 * neg2);
    out[3] = (u3 - 0.5 * (pairs[3] as number)) / (pos3 * neg3);
    out[4] = (u4 - 0.5 * (pairs[4] as number)) / (pos4 * neg4);
    out[5] = (u5 - 0.5 * (pairs[5] as number)) / (pos5 * neg5);
    out[6] = (u6 - 0.5 * (pairs[6] as number)) / (pos6 * neg6);
    out[7] = (u7 - 0.5 * (pairs[7] as number)) / (pos7 * neg7);
  };
}

/** Σ w·term / Σ w per lane, for metrics that are weighted means of a per-row term. */
function meanLanes(term: Float64Array, root: boolean): LaneKernel {
  return (packed, out) => {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      s4 = 0,
      s5 = 0,
      s6 = 0,
      s7 = 0;
    let w0 = 0,
      w1 = 0,
      w2 = 0,
      w3 = 0,
      w4 = 0,
      w5 = 0,
      w6 = 0,
      w7 = 0;
    for (let i = 0; i < term.length; i++) {
      const x = packed[i] as number;
      const t = term[i] as number;
      const a = x & 15,
        b = (x >>> 4) & 15,
        c = (x >>> 8) & 15,
        d = (x >>> 12) & 15;
      const e = (x >>> 16) & 15,
        f = (x >>> 20) & 15,
        g = (x >>> 24) & 15,
        h = x >>> 28;
      s0 += a * t;
      s1 += b * t;
      s2 += c * t;
      s3 += d * t;
      s4 += e * t;
      s5 += f * t;
      s6 += g * t;
      s7 += h * t;
      w0 += a;
      w1 += b;
      w2 += c;
      w3 += d;
      w4 += e;
      w5 += f;
      w6 += g;
      w7 += h;
    }
    out[0] = s0 / w0;
    out[1] = s1 / w1;
    out[2] = s2 / w2;
    out[3] = s3 / w3;
    out[4] = s4 / w4;
    out[5] = s5 / w5;
    out[6] = s6 / w6;
    out[7] = s7 / w7;
    if (root) for (let l = 0; l < LANES; l++) out[l] = Math.sqrt(out[l] as number);
  };
}

const ratioOrZero = (num: number, den: number): number => (den === 0 ? 0 : num / den);

/** Confusion-matrix metrics: rows grouped by cell once, then lane sums of each cell. */
function confusionLanes(
  metric: 'accuracy' | 'precision' | 'recall' | 'f1',
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
): LaneKernel {
  const n = scores.length;
  const cellOf = (i: number): number =>
    (labels[i] === 1 ? 2 : 0) | ((scores[i] as number) >= threshold ? 1 : 0);
  const starts = new Uint32Array(5); // cells: 0 tn, 1 fp, 2 fn, 3 tp
  for (let i = 0; i < n; i++) starts[cellOf(i) + 1]! += 1;
  for (let c = 1; c <= 4; c++) starts[c]! += starts[c - 1] as number;
  const byCell = new Uint32Array(n);
  const fill = starts.slice(0, 4);
  for (let i = 0; i < n; i++) byCell[fill[cellOf(i)]!++] = i;
  const cells = [0, 1, 2, 3].map(() => new Float64Array(LANES));
  return (packed, out) => {
    for (let c = 0; c < 4; c++) {
      const acc = cells[c] as Float64Array;
      acc.fill(0);
      addLaneSums(packed, byCell, starts[c] as number, starts[c + 1] as number, acc);
    }
    const [tn, fp, fn, tp] = cells as [Float64Array, Float64Array, Float64Array, Float64Array];
    for (let l = 0; l < LANES; l++) {
      const TP = tp[l] as number;
      const FP = fp[l] as number;
      const FN = fn[l] as number;
      const TN = tn[l] as number;
      out[l] =
        metric === 'accuracy'
          ? (TP + TN) / (TP + TN + FP + FN) // 0/0 = NaN: no rows, no accuracy
          : metric === 'precision'
            ? ratioOrZero(TP, TP + FP)
            : metric === 'recall'
              ? ratioOrZero(TP, TP + FN)
              : ratioOrZero(2 * TP, 2 * TP + FP + FN);
    }
  };
}

function termsOf(
  scores: NumericArray,
  labels: NumericArray,
  term: (score: number, label: number) => number,
): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < out.length; i++) out[i] = term(scores[i] as number, labels[i] as number);
  return out;
}

/**
 * Validates once, does the per-dataset work (AUC's sort, per-row terms, confusion cells) and returns
 * the kernel. Agrees with `prepareMetric(...)(weights)` for every weighting: see the unit tests.
 */
export function prepareLanes(
  metric: PerformanceMetric,
  scores: NumericArray,
  labels: NumericArray,
  threshold: number,
): LaneKernel {
  validateScoresAndLabels(metric, scores, labels);
  switch (metric) {
    case 'auc':
      return aucLanes(scores, labels);
    case 'accuracy':
    case 'precision':
    case 'recall':
    case 'f1':
      return confusionLanes(metric, scores, labels, threshold);
    case 'log_loss':
      return meanLanes(termsOf(scores, labels, logLossTerm), false);
    case 'brier':
      return meanLanes(termsOf(scores, labels, squaredErrorTerm), false);
    case 'rmse':
      return meanLanes(termsOf(scores, labels, squaredErrorTerm), true);
    case 'mae':
      return meanLanes(termsOf(scores, labels, absoluteErrorTerm), false);
  }
}
