import { z } from 'zod';

/**
 * One window of live statistics as the gateway's admin API returns it (`GET /admin/models/{m}/stats`).
 * The live judges read it and the admin client parses it; it lives here, not beside the HTTP client,
 * so the pure judges depend on the data and not on the code that fetches it.
 */

const VariantWindow = z.object({
  version: z.string(),
  requests: z.number().int(),
  errors: z.number().int(),
  latencyMs: z.array(z.number()),
  scores: z.array(z.number()),
});

export const StatsSnapshot = z.object({
  model: z.string(),
  generation: z.number().int(),
  variants: z.object({
    stable: VariantWindow.optional(),
    canary: VariantWindow.optional(),
    shadow: VariantWindow.optional(),
  }),
  shadowComparison: z.object({
    pairs: z.number().int(),
    observedPairs: z.number().int(),
    agreements: z.number().int(),
    threshold: z.number(),
    meanAbsDiff: z.number().nullable(),
    maxAbsDiff: z.number().nullable(),
    nanCount: z.number().int(),
  }),
  windowStartMs: z.number(),
  windowEndMs: z.number(),
});
export type StatsSnapshot = z.infer<typeof StatsSnapshot>;
