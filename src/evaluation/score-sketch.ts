import type { ScoreSketch } from '../promotion/contracts';
import { binShares, quantileEdges } from '../stats/drift';

/** Deciles: the bins the live skew check compares in (src/live/skew.ts). */
export const SKETCH_BINS = 10;

/**
 * A model's holdout scores as the live skew check needs them: decile edges (ties merged, so a model
 * with few distinct scores gets fewer bins) and the holdout's share in each bin. Non-finite scores
 * are left out; a holdout with none finite has no sketch.
 */
export function sketchScores(scores: ArrayLike<number>, bins = SKETCH_BINS): ScoreSketch | null {
  const values: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i] as number;
    if (Number.isFinite(v)) values.push(v);
  }
  if (values.length === 0) return null;
  const edges = quantileEdges(values, bins);
  return { rows: values.length, edges, shares: binShares(values, edges, 'holdout scores') };
}
