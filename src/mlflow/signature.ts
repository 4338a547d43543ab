import { z } from 'zod';

/**
 * An MLflow model signature as prograde reads it from `MLmodel`, in every form the Python client
 * writes: tensor-based schemas with named specs (`infer_signature({"X": x}, …)`) or unnamed ones
 * (`infer_signature(x_numpy, …)`, matched to the graph by position), and column-based (DataFrame)
 * schemas. Inputs and outputs are separate schemas and need not be of the same kind.
 *
 * Plain data: it travels from the fetch activity through the workflow to the format gate.
 */

/** One tensor of a tensor-based schema. */
export const SignatureTensor = z.object({
  /** Absent when MLflow describes positional arrays. */
  name: z.string().optional(),
  /** prograde's dtype name when it knows the numpy one (float32, int64…), else the numpy name as written. */
  dtype: z.string(),
  shape: z.array(z.number().int()),
});
export type SignatureTensor = z.infer<typeof SignatureTensor>;

/** One column of a column-based (DataFrame) schema. */
export const SignatureColumn = z.object({
  /** Absent for a pandas Series without a name. */
  name: z.string().optional(),
  /** MLflow's column type: double, float, long, integer, boolean, string, binary, datetime, array, object… */
  type: z.string(),
});
export type SignatureColumn = z.infer<typeof SignatureColumn>;

export const SignatureSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('tensor'), tensors: z.array(SignatureTensor) }),
  z.object({ kind: z.literal('columns'), columns: z.array(SignatureColumn) }),
]);
export type SignatureSchema = z.infer<typeof SignatureSchema>;

export const MlflowSignature = z.object({
  inputs: SignatureSchema,
  /** Absent when MLflow recorded no output schema. */
  outputs: SignatureSchema.optional(),
});
export type MlflowSignature = z.infer<typeof MlflowSignature>;

/** The shape older workers put on the wire: named tensor specs only (unnamed ones got `inputs_0`-style names). */
const LegacyTensors = z.array(z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.number()) }));
const LegacySignature = z.object({ inputs: LegacyTensors, outputs: LegacyTensors });

/**
 * Reads a signature from an activity payload, also in the shape workers before this one wrote, so a
 * promotion that was in flight across an upgrade keeps its signature. Anything else reads as none.
 */
export function signatureFromPayload(payload: unknown): MlflowSignature | undefined {
  if (payload === null || payload === undefined) return undefined;
  const current = MlflowSignature.safeParse(payload);
  if (current.success) return current.data;
  const legacy = LegacySignature.safeParse(payload);
  if (!legacy.success) return undefined;
  // Those workers named an unnamed spec `<field>_<position>`; give it its positional meaning back.
  const unname = (field: string) => (t: z.infer<typeof LegacyTensors>[number], i: number) =>
    t.name === `${field}_${i}` ? { dtype: t.dtype, shape: t.shape } : t;
  return {
    inputs: { kind: 'tensor', tensors: legacy.data.inputs.map(unname('inputs')) },
    outputs: { kind: 'tensor', tensors: legacy.data.outputs.map(unname('outputs')) },
  };
}

/** `float64 [-1,4]`, `'X' float32 [-1,4]`. */
export function describeSignatureTensor(t: SignatureTensor): string {
  return `${t.name !== undefined ? `'${t.name}' ` : ''}${t.dtype} [${t.shape.join(',')}]`;
}
