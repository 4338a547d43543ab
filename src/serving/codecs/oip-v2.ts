import { z } from 'zod';
import { quoted } from '../http-util';
import { V2_DATATYPE, toNumbers, type Tensor } from '../tensors';
import type { ModelSignature } from '../worker/messages';
import {
  NO_LIMITS,
  bad,
  checkRowCount,
  flattenAny,
  type GivenInput,
  type GivenRequest,
  type ParseLimits,
} from './given';

/**
 * Open Inference Protocol v2 (KServe): the `/v2/models/{m}[/versions/{v}]/infer` request body, its
 * answer, and the model metadata document.
 */

const V2Input = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().min(0)).max(32),
  datatype: z.string().min(1).max(32),
  data: z.unknown(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

export const V2InferRequest = z.object({
  id: z.string().max(256).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(V2Input).min(1).max(64),
  outputs: z
    .array(z.object({ name: z.string().min(1).max(256) }))
    .max(64)
    .optional(),
});
export type V2InferRequest = z.infer<typeof V2InferRequest>;

export function parseV2(body: unknown, limits: ParseLimits = NO_LIMITS): GivenRequest {
  const parsed = V2InferRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(
      `invalid v2 inference request at ${issue ? issue.path.join('.') || '(root)' : '(root)'}: ${issue?.message ?? 'malformed'}`,
    );
  }
  const inputs = parsed.data.inputs.map((i): GivenInput => {
    const values: number[] = [];
    // Rows are checked before the data is read: a huge claimed shape is refused without work.
    checkRowCount(i.shape[0] ?? 0, limits);
    flattenAny(i.data, `input ${quoted(i.name)}`, values);
    return { name: i.name, datatype: i.datatype, shape: i.shape, values: Float64Array.from(values) };
  });
  return {
    kind: 'v2',
    format: 'v2',
    inputs,
    id: parsed.data.id,
    outputs: parsed.data.outputs?.map((o) => o.name),
  };
}

/** The answer to a v2 inference request: the outputs asked for (all when none were named). */
export function encodeV2Infer(
  model: string,
  version: string,
  given: GivenRequest,
  outputs: readonly Tensor[],
): Record<string, unknown> {
  // Requested outputs were checked against the signature before inference (checkRequest).
  const wanted = given.outputs;
  return {
    model_name: model,
    model_version: version,
    ...(given.id !== undefined ? { id: given.id } : {}),
    outputs: outputs
      .filter((o) => !wanted || wanted.includes(o.name))
      .map((o) => ({
        name: o.name,
        datatype: V2_DATATYPE[o.dtype],
        shape: o.dims,
        data: toNumbers(o.data),
      })),
  };
}

/** The v2 model metadata document of one served version. */
export function encodeV2Metadata(
  model: string,
  versions: readonly string[],
  signature: ModelSignature,
): Record<string, unknown> {
  const describe = (t: ModelSignature['inputs'][number]): unknown => ({
    name: t.name,
    datatype: V2_DATATYPE[t.dtype as keyof typeof V2_DATATYPE],
    shape: t.shape,
  });
  return {
    name: model,
    versions,
    platform: 'onnxruntime_onnx',
    inputs: signature.inputs.map(describe),
    outputs: signature.outputs.map(describe),
  };
}
