import { z } from 'zod';

/** ONNX element types prograde understands, named as MLflow signatures and ORT name them. */
export const TensorDtype = z.enum([
  'float32',
  'float64',
  'int32',
  'int64',
  'bool',
  'string',
  'float16',
  'int8',
  'uint8',
]);
export type TensorDtype = z.infer<typeof TensorDtype>;

/** A named tensor with a shape; -1 is a free (batch or symbolic) dimension. */
export const TensorSpec = z.strictObject({
  name: z.string().min(1),
  dtype: TensorDtype,
  shape: z.array(z.number().int().min(-1)),
});
export type TensorSpec = z.infer<typeof TensorSpec>;
