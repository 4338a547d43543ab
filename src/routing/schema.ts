import { z } from 'zod';

/**
 * The one routing shape, from a spec's step to the gateway: the workflow builds a `RoutingSpec` from
 * the promotion spec, the activities send it unchanged, and the gateway's
 * `PUT /admin/models/{m}/routing` body is `RoutingPut` (the same schema plus the generation). A
 * neutral module with no imports but zod, so the spec, workflow code (deterministic, bundled), the
 * activities and the gateway all depend on it downward and none on another.
 */

/** Model and version names end up in file paths and metric labels: keep them to a safe alphabet. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const ModelName = z.string().regex(NAME_PATTERN, 'model names use letters, digits, . _ - (max 128)');
/** MLflow versions are strings of digits, but the wire may carry them as numbers. */
export const VersionId = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform(String)
  .pipe(z.string().regex(NAME_PATTERN, 'versions use letters, digits, . _ - (max 128)'));

/** A canary weight or a shadow sample rate, as the spec writes it and the gateway applies it. */
export const RoutingPercent = z
  .number()
  .min(0, 'must be between 0 and 100')
  .max(100, 'must be between 0 and 100');

export const RoutingSpec = z.strictObject({
  stable: z.strictObject({ version: VersionId }),
  canary: z.strictObject({ version: VersionId, weight: RoutingPercent }).optional(),
  shadow: z.strictObject({ version: VersionId, sampleRate: RoutingPercent }).optional(),
  /** Versions kept loaded without traffic, e.g. the previous champion for an instant rollback. */
  retain: z.array(VersionId).optional(),
  /**
   * The contract's `scoreOutput`: which output the gateway's live statistics score, by the same rule
   * the offline gates use (src/onnx/score-output.ts). Absent: the first floating output.
   */
  scoreOutput: z.string().min(1).max(256).optional(),
});
export type RoutingSpec = z.infer<typeof RoutingSpec>;

/** Body of `PUT /admin/models/{name}/routing`: the whole desired state, numbered by the caller. */
export const RoutingPut = RoutingSpec.extend({ generation: z.number().int().min(1) });
export type RoutingPut = z.infer<typeof RoutingPut>;
