/**
 * Which output holds a model's score, and which value of a row is the score. The offline gates
 * (`ScoringSession.score`) and the gateway's live statistics (`scoresOf`) both read scores through
 * these functions, so an offline AUC and a live canary comparison look at the same number.
 *
 * The rule: the contract's `scoreOutput` when it names one, else the first float32/float64 output.
 * Of that output, a row of one value ([N] or [N,1]) is the score; a row of two ([N,2], a binary
 * classifier's class probabilities) is scored from column 1, P(class 1). Any other width has no
 * score: the offline scorer refuses it, the gateway records none.
 */

/** What the rule needs to know about an output. */
export interface OutputDescription {
  readonly name: string;
  readonly dtype: string;
}

/** Floating dtypes a score can be read from (onnxruntime-node hands float16 back as raw bits). */
export function isScoreDtype(dtype: string): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/**
 * Name of the output to score: `requested` when given (the caller checks that it exists and is a
 * float), else the first float32/float64 output; undefined when the model has none.
 */
export function pickScoreOutput(
  outputs: readonly OutputDescription[],
  requested?: string,
): string | undefined {
  if (requested !== undefined) return requested;
  return outputs.find((o) => isScoreDtype(o.dtype))?.name;
}

/** Values per row of a tensor with these dims: the product of every dim after the first (-1 when one is free). */
export function valuesPerRow(dims: readonly number[]): number {
  let width = 1;
  for (const d of dims.slice(1)) {
    if (d < 0) return -1;
    width *= d;
  }
  return width;
}

/** Column of a row that holds the score: 0 for one value per row, 1 for two; undefined otherwise. */
export function scoreColumn(width: number): number | undefined {
  if (width === 1) return 0;
  if (width === 2) return 1;
  return undefined;
}

/** How the score is read from an output of this shape, for messages; undefined when it cannot be. */
export function describeScoreColumn(shape: readonly number[]): string | undefined {
  if (shape.length === 1) return 'one value per row';
  if (shape.length !== 2) return undefined;
  const width = shape[1] ?? -1;
  if (width === 1) return 'one value per row';
  if (width === 2) return 'column 1 of [N,2], P(class 1)';
  return undefined;
}

/** One score per row, read from a row-major tensor's values by the rule above; undefined when the width has no score. */
export function scoresFromValues(
  values: ArrayLike<number>,
  rows: number,
  width: number,
): Float32Array | undefined {
  const column = scoreColumn(width);
  if (column === undefined) return undefined;
  const scores = new Float32Array(rows);
  for (let r = 0; r < rows; r++) scores[r] = values[r * width + column] ?? Number.NaN;
  return scores;
}
