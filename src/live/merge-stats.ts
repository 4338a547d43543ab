import type { StatsSnapshot } from '../promotion/stats-snapshot';

/**
 * One window of statistics from the windows of several gateway replicas, exactly as one gateway that
 * had served all their requests would report it:
 *
 * - request and error counts add up;
 * - latency and score samples are the union of the replicas' samples (each replica keeps every
 *   sample up to its cap, so the union is the whole traffic's sample: the judges' quantiles, KS tests
 *   and histograms over it are those of the whole traffic, not an average of per-replica results);
 * - the shadow comparison adds its counts, takes the largest difference, and weighs each replica's
 *   mean difference by its finite pairs (pairs − nanCount);
 * - the window spans from the earliest start to the latest end.
 *
 * Pure and order-independent up to the order of samples (which no judge reads). The snapshots must be
 * of one model and one generation: merging two generations would judge a mixture of routings.
 */
export function mergeStats(parts: readonly StatsSnapshot[]): StatsSnapshot {
  const first = parts[0];
  if (!first) throw new Error('mergeStats needs at least one snapshot');
  for (const p of parts) {
    if (p.model !== first.model || p.generation !== first.generation)
      throw new Error(
        `mergeStats: ${p.model} g${p.generation} cannot be merged with ${first.model} g${first.generation}`,
      );
  }
  const variants: StatsSnapshot['variants'] = {};
  for (const role of ['stable', 'canary', 'shadow'] as const) {
    const windows = parts.map((p) => p.variants[role]).filter((v) => v !== undefined);
    const last = windows[windows.length - 1];
    if (!last) continue;
    const merged = {
      // Every replica runs the generation's routing, so the version is the same on each.
      version: last.version,
      requests: sum(windows.map((w) => w.requests)),
      errors: sum(windows.map((w) => w.errors)),
      latencyMs: windows.flatMap((w) => w.latencyMs),
      scores: windows.flatMap((w) => w.scores),
      ...histograms(windows as readonly WithHistograms[]),
    };
    variants[role] = merged;
  }
  return {
    model: first.model,
    generation: first.generation,
    variants,
    shadowComparison: mergeComparison(parts.map((p) => p.shadowComparison)),
    windowStartMs: Math.min(...parts.map((p) => p.windowStartMs)),
    windowEndMs: Math.max(...parts.map((p) => p.windowEndMs)),
  };
}

type Comparison = StatsSnapshot['shadowComparison'];

interface Buckets {
  bounds: number[];
  counts: number[];
}
/** Windows from a provider that reports bucket counts (Prometheus) carry these beside the samples. */
interface WithHistograms {
  readonly latencyHistogram?: Buckets;
  readonly scoreHistogram?: Buckets;
}

/** Bucket counts add up when every window has the histogram, with the same bounds; otherwise none. */
function histograms(windows: readonly WithHistograms[]): WithHistograms {
  const out: { latencyHistogram?: Buckets; scoreHistogram?: Buckets } = {};
  for (const key of ['latencyHistogram', 'scoreHistogram'] as const) {
    const hs = windows.map((w) => w[key]);
    const first = hs[0];
    if (!first || hs.some((h) => !h || !sameBounds(h.bounds, first.bounds))) continue;
    out[key] = {
      bounds: [...first.bounds],
      counts: first.counts.map((_, i) => sum(hs.map((h) => h?.counts[i] ?? 0))),
    };
  }
  return out;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function mergeComparison(parts: readonly Comparison[]): Comparison {
  let finite = 0;
  let weighted = 0;
  let max: number | null = null;
  for (const c of parts) {
    const n = c.pairs - c.nanCount;
    if (c.meanAbsDiff !== null && n > 0) {
      finite += n;
      weighted += c.meanAbsDiff * n;
    }
    if (c.maxAbsDiff !== null) max = max === null ? c.maxAbsDiff : Math.max(max, c.maxAbsDiff);
  }
  return {
    pairs: sum(parts.map((c) => c.pairs)),
    observedPairs: sum(parts.map((c) => c.observedPairs)),
    agreements: sum(parts.map((c) => c.agreements)),
    threshold: parts[0]?.threshold ?? 0.5,
    meanAbsDiff: finite > 0 ? weighted / finite : null,
    maxAbsDiff: max,
    nanCount: sum(parts.map((c) => c.nanCount)),
  };
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
