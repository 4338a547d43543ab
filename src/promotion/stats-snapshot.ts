import { z } from 'zod';

/**
 * One window of live statistics as a metrics provider returns it (src/live/providers): the gateway's
 * admin API (`GET /admin/models/{m}/stats`), or Prometheus. The live judges read it and the providers
 * build it; it lives here, not beside the HTTP clients, so the pure judges depend on the data and not on
 * the code that fetches it.
 *
 * Latencies and scores come in one of two forms per variant:
 * - raw samples (`latencyMs`, `scores`): the gateway's own statistics, a reservoir sample of the window;
 * - fixed-bucket histograms (`latencyHistogram`, `scoreHistogram`): a provider that only has bucket
 *   counts (Prometheus) leaves the arrays empty and fills these. The judges read both forms through
 *   `latencySamples` / `scoreSamples` below, which rebuild samples from the buckets; the sequential
 *   score check uses the buckets themselves as its bins (`scoreBins`). What is lost: see `fromHistogram`.
 */

/**
 * A fixed-bucket histogram, not cumulative: `counts[i]` observations fell in (bounds[i−1], bounds[i]]
 * (the first bucket is everything ≤ bounds[0]), and `counts[bounds.length]` above the last bound.
 */
export const Histogram = z
  .object({
    bounds: z.array(z.number()).max(1000),
    counts: z.array(z.number().int().min(0)),
  })
  .refine((h) => h.counts.length === h.bounds.length + 1, {
    message: 'a histogram has one more count than bounds (the last is above the last bound)',
  })
  .refine(
    (h) => h.bounds.every((b, i) => Number.isFinite(b) && (i === 0 || b > (h.bounds[i - 1] as number))),
    {
      message: 'histogram bounds must be finite and increasing',
    },
  );
export type Histogram = z.infer<typeof Histogram>;

const VariantWindow = z.object({
  version: z.string(),
  requests: z.number().int(),
  errors: z.number().int(),
  latencyMs: z.array(z.number()),
  scores: z.array(z.number()),
  latencyHistogram: Histogram.optional(),
  scoreHistogram: Histogram.optional(),
  /**
   * What the provider does not measure at all for this variant (a model server that exports no score
   * histogram, say): the canary judge leaves that check out instead of waiting for samples.
   */
  unmeasured: z.array(z.enum(['latency', 'scores'])).optional(),
});
export type VariantWindow = z.infer<typeof VariantWindow>;

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

/** The comparison of a window without shadow traffic: nothing compared (threshold: the default 0.5). */
export const NO_SHADOW_COMPARISON: StatsSnapshot['shadowComparison'] = {
  pairs: 0,
  observedPairs: 0,
  agreements: 0,
  threshold: 0.5,
  meanAbsDiff: null,
  maxAbsDiff: null,
  nanCount: 0,
};

/** At most this many samples are rebuilt from a histogram per variant (the gateway's own window cap). */
export const MAX_REBUILT_SAMPLES = 20_000;

/** The window's latencies: its raw samples, or samples rebuilt from its latency histogram. */
export function latencySamples(w: Pick<VariantWindow, 'latencyMs' | 'latencyHistogram'>): number[] {
  if (w.latencyMs.length > 0 || !w.latencyHistogram) return w.latencyMs;
  return fromHistogram(w.latencyHistogram, 0);
}

/** The window's scores: its raw samples, or samples rebuilt from its score histogram. */
export function scoreSamples(w: Pick<VariantWindow, 'scores' | 'scoreHistogram'>): number[] {
  if (w.scores.length > 0 || !w.scoreHistogram) return w.scores;
  return fromHistogram(w.scoreHistogram);
}

/**
 * Samples rebuilt from bucket counts, spread evenly inside each bucket: the assumption Prometheus's
 * own histogram_quantile makes (linear interpolation within a bucket). Exact at the bucket bounds —
 * the share of samples at or below any bound is the histogram's — and interpolated between them, so a
 * statistic of the rebuilt samples is known to the bucket's resolution only (a median to within its
 * bucket, a latency ratio to about the ratio of adjacent bounds). The first bucket starts at `floor`
 * (0 for latencies) or, without one, all its samples sit half a bucket below its bound; samples above
 * the last bound sit half a bucket above it (a heavy tail beyond it is invisible). Above MAX_REBUILT_SAMPLES the
 * counts are scaled down in proportion (largest remainders), a thinning like the gateway's reservoir.
 */
export function fromHistogram(h: Histogram, floor?: number): number[] {
  const total = h.counts.reduce((a, c) => a + c, 0);
  const counts = total > MAX_REBUILT_SAMPLES ? scaleCounts(h.counts, MAX_REBUILT_SAMPLES) : h.counts;
  const out: number[] = [];
  const b = h.bounds;
  const last = b.length;
  if (last === 0) return out;
  // Outside the bounds: half a neighbouring bucket's width beyond them, so the share at or below every
  // bound stays exact.
  const firstWidth = last > 1 ? (b[1] as number) - (b[0] as number) : 1;
  const lastWidth = last > 1 ? (b[last - 1] as number) - (b[last - 2] as number) : 1;
  counts.forEach((n, i) => {
    if (n <= 0) return;
    let lo: number;
    let hi: number;
    if (i === last) {
      lo = hi = (b[last - 1] as number) + lastWidth / 2;
    } else if (i === 0) {
      hi = b[0] as number;
      lo = floor !== undefined && floor < hi ? floor : hi - firstWidth / 2;
      if (floor === undefined) hi = lo; // no floor: all at one point below the first bound
    } else {
      lo = b[i - 1] as number;
      hi = b[i] as number;
    }
    for (let j = 0; j < n; j++) out.push(lo + ((hi - lo) * (j + 0.5)) / n);
  });
  return out;
}

/** `counts` scaled to sum to `target`, by largest remainders (deterministic). */
function scaleCounts(counts: readonly number[], target: number): number[] {
  const total = counts.reduce((a, c) => a + c, 0);
  const exact = counts.map((c) => (c * target) / total);
  const floors = exact.map(Math.floor);
  let left = target - floors.reduce((a, c) => a + c, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left <= 0) break;
    floors[i] = (floors[i] as number) + 1;
    left -= 1;
  }
  return floors;
}
