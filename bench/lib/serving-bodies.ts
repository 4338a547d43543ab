import type { ServingModel } from './serving-systems';

/**
 * Request bodies of the serving comparison: the same rows as MLflow `dataframe_split` and as an Open
 * Inference Protocol v2 request. Rows are seeded normal float32 values written as JSON writes doubles
 * (17 significant digits at most), as a Python or JS client sends them.
 */
export const BODY_ROWS = { '1 row': 1, '100 rows': 100 } as const;
export type BodyKey = keyof typeof BODY_ROWS;

function rowsOf(count: number, width: number, sample: readonly (readonly number[])[]): number[][] {
  let seed = 12345;
  const uniform = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed + 0.5) / 2 ** 32;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return Array.from({ length: count }, (_, r) =>
    r < sample.length
      ? [...(sample[r] as number[])]
      : Array.from({ length: width }, () => Math.fround(normal())),
  );
}

export function bodiesFor(model: ServingModel): Record<BodyKey, { invocations: Buffer; v2: Buffer }> {
  const make = (count: number): { invocations: Buffer; v2: Buffer } => {
    const rows = rowsOf(count, model.n_features, model.sample);
    const columns = Array.from({ length: model.n_features }, (_, i) => `f${i}`);
    return {
      invocations: Buffer.from(JSON.stringify({ dataframe_split: { columns, data: rows } })),
      v2: Buffer.from(
        JSON.stringify({
          inputs: [
            { name: model.input, shape: [count, model.n_features], datatype: 'FP32', data: rows.flat() },
          ],
        }),
      ),
    };
  };
  return { '1 row': make(BODY_ROWS['1 row']), '100 rows': make(BODY_ROWS['100 rows']) };
}
