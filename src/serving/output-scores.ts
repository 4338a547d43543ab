import { pickScoreOutput, scoresFromValues, valuesPerRow } from '../onnx/score-output';
import { isFloating, toNumbers, type Tensor } from './tensors';

/**
 * The score of each row, by the one rule the offline gates use too (src/onnx/score-output.ts):
 * `scoreOutput` when given, else the first floating output; the row's value of [N] / [N,1], column
 * 1 — P(class 1) — of a classifier's [N,2]. An output with no score by that rule gives none.
 */
export function scoresOf(outputs: readonly Tensor[], scoreOutput?: string): number[] {
  const name = pickScoreOutput(outputs, scoreOutput);
  const scoreTensor = outputs.find((o) => o.name === name);
  if (!scoreTensor || !isFloating(scoreTensor.dtype)) return [];
  const rows = scoreTensor.dims[0] ?? 0;
  const scores = scoresFromValues(
    scoreTensor.data as Float32Array | Float64Array,
    rows,
    valuesPerRow(scoreTensor.dims),
  );
  return scores ? toNumbers(scores) : [];
}

export function hasNonFinite(outputs: readonly Tensor[]): boolean {
  for (const o of outputs) {
    if (!isFloating(o.dtype)) continue;
    // A loop: `every(Number.isFinite)` calls a function per value of every answer.
    const data = o.data as Float32Array | Float64Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return true;
  }
  return false;
}
