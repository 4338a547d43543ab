import type { Role } from './routing';

/**
 * Per-variant traffic statistics of one routing generation, kept in a ring of time buckets so a
 * window query touches only the buckets it spans and memory stays bounded whatever the traffic.
 * Counts are exact; latencies, scores and shadow pairs are reservoir samples per bucket.
 */
export interface WindowStatsOptions {
  readonly bucketMs: number;
  readonly retentionMs: number;
  /** Per bucket and variant: sampled latencies / scores / shadow pairs kept. */
  readonly samplesPerBucket: number;
  /**
   * Per window query: at most this many latencies / scores returned per variant. They are the window's
   * EARLIEST samples, cut at one bucket for every variant: the sequential canary tests are e-processes
   * over the stream from the step's start, and a growing prefix that stops growing is that process
   * stopped (still valid), while the most recent samples would restart it at every look. Cutting all
   * variants at the same time keeps them comparable; request and error counts are never cut.
   */
  readonly maxSamples: number;
}

export const DEFAULT_WINDOW_STATS: WindowStatsOptions = {
  bucketMs: 1000,
  retentionMs: 3_600_000,
  samplesPerBucket: 1000,
  maxSamples: 20_000,
};

class Reservoir<T> {
  readonly items: T[] = [];
  seen = 0;
  constructor(private readonly cap: number) {}
  add(item: T): void {
    this.seen += 1;
    if (this.items.length < this.cap) this.items.push(item);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.cap) this.items[j] = item;
    }
  }
}

interface VariantBucket {
  version: string;
  requests: number;
  errors: number;
  readonly latencies: Reservoir<number>;
  readonly scores: Reservoir<number>;
}

interface Bucket {
  readonly start: number;
  readonly variants: Map<Role, VariantBucket>;
  /** [primary score, shadow score] per compared row. */
  readonly pairs: Reservoir<readonly [number, number]>;
}

export interface VariantWindow {
  readonly version: string;
  readonly requests: number;
  readonly errors: number;
  readonly latencyMs: number[];
  readonly scores: number[];
}

export interface ShadowComparison {
  /** Rows compared (a sample when traffic overflowed a bucket's reservoir; see observedPairs). */
  readonly pairs: number;
  readonly observedPairs: number;
  /** Finite pairs on the same side of the threshold. */
  readonly agreements: number;
  readonly threshold: number;
  /** Over finite pairs; null when there are none. */
  readonly meanAbsDiff: number | null;
  readonly maxAbsDiff: number | null;
  /** Pairs where either score is NaN or infinite: never an agreement. */
  readonly nanCount: number;
}

export interface WindowSnapshot {
  readonly variants: Partial<Record<Role, VariantWindow>>;
  readonly shadowComparison: ShadowComparison;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
}

export class WindowStats {
  private readonly ring: (Bucket | undefined)[];
  private readonly createdAt: number;

  constructor(
    private readonly options: WindowStatsOptions = DEFAULT_WINDOW_STATS,
    now: number = Date.now(),
  ) {
    this.ring = new Array<Bucket | undefined>(Math.max(1, Math.ceil(options.retentionMs / options.bucketMs)));
    this.createdAt = now;
  }

  private bucketAt(now: number): Bucket {
    const start = now - (now % this.options.bucketMs);
    const index = Math.floor(start / this.options.bucketMs) % this.ring.length;
    const current = this.ring[index];
    if (current?.start === start) return current;
    const fresh: Bucket = { start, variants: new Map(), pairs: new Reservoir(this.options.samplesPerBucket) };
    this.ring[index] = fresh;
    return fresh;
  }

  private variantAt(role: Role, version: string, now: number): VariantBucket {
    const bucket = this.bucketAt(now);
    let v = bucket.variants.get(role);
    if (!v) {
      v = {
        version,
        requests: 0,
        errors: 0,
        latencies: new Reservoir(this.options.samplesPerBucket),
        scores: new Reservoir(this.options.samplesPerBucket),
      };
      bucket.variants.set(role, v);
    }
    return v;
  }

  /** One request served (or failed) by a variant; `scores` holds the score of each row. */
  record(
    role: Role,
    version: string,
    outcome: { latencyMs: number; error: boolean; scores?: readonly number[] },
    now: number = Date.now(),
  ): void {
    const v = this.variantAt(role, version, now);
    v.requests += 1;
    if (outcome.error) v.errors += 1;
    v.latencies.add(outcome.latencyMs);
    // Non-finite scores are already counted as errors; keeping them out leaves a clean sample for tests.
    for (const s of outcome.scores ?? []) if (Number.isFinite(s)) v.scores.add(s);
  }

  /** Row-wise scores of the answer the caller got and of the shadow, for the same rows. */
  recordPairs(primary: readonly number[], shadow: readonly number[], now: number = Date.now()): void {
    const bucket = this.bucketAt(now);
    const n = Math.min(primary.length, shadow.length);
    for (let i = 0; i < n; i++) bucket.pairs.add([primary[i] as number, shadow[i] as number]);
  }

  private sampledBuckets(buckets: readonly Bucket[]): readonly Bucket[] {
    return leadingWithin(buckets, this.options.maxSamples);
  }

  query(sinceMs: number, threshold: number, now: number = Date.now()): WindowSnapshot {
    const oldest = now - this.options.retentionMs;
    const windowStartMs = Math.max(sinceMs, oldest, this.createdAt);
    const buckets = this.ring.filter(
      (b): b is Bucket =>
        b !== undefined && b.start + this.options.bucketMs > windowStartMs && b.start <= now,
    );
    buckets.sort((a, b) => a.start - b.start);

    const sampled = this.sampledBuckets(buckets);
    const variants: Partial<Record<Role, VariantWindow>> = {};
    for (const role of ['stable', 'canary', 'shadow'] as const) {
      const parts = buckets
        .map((b) => b.variants.get(role))
        .filter((v): v is VariantBucket => v !== undefined);
      if (parts.length === 0) continue;
      const last = parts[parts.length - 1] as VariantBucket;
      const kept = sampled.map((b) => b.variants.get(role)).filter((v) => v !== undefined);
      variants[role] = {
        version: last.version,
        requests: parts.reduce((a, p) => a + p.requests, 0),
        errors: parts.reduce((a, p) => a + p.errors, 0),
        latencyMs: kept.flatMap((p) => p.latencies.items).slice(0, this.options.maxSamples),
        scores: kept.flatMap((p) => p.scores.items).slice(0, this.options.maxSamples),
      };
    }
    return { variants, shadowComparison: compare(buckets, threshold), windowStartMs, windowEndMs: now };
  }
}

/** The leading buckets whose samples fit maxSamples for every variant and both kinds of sample. */
function leadingWithin(buckets: readonly Bucket[], maxSamples: number): readonly Bucket[] {
  const totals = new Map<string, number>();
  let end = 0;
  for (const b of buckets) {
    let fits = true;
    for (const [role, v] of b.variants) {
      const n = Math.max(v.latencies.items.length, v.scores.items.length);
      if ((totals.get(role) ?? 0) + n > maxSamples) fits = false;
    }
    if (!fits) break;
    for (const [role, v] of b.variants)
      totals.set(role, (totals.get(role) ?? 0) + Math.max(v.latencies.items.length, v.scores.items.length));
    end++;
  }
  // A first bucket alone above the cap is kept and its samples truncated (query slices to the cap).
  return buckets.slice(0, Math.max(end, Math.min(1, buckets.length)));
}

function compare(buckets: readonly Bucket[], threshold: number): ShadowComparison {
  let pairs = 0;
  let observedPairs = 0;
  let agreements = 0;
  let nanCount = 0;
  let finite = 0;
  let sumAbs = 0;
  let maxAbs = 0;
  for (const b of buckets) {
    observedPairs += b.pairs.seen;
    for (const [p, s] of b.pairs.items) {
      pairs += 1;
      if (!Number.isFinite(p) || !Number.isFinite(s)) {
        nanCount += 1;
        continue;
      }
      finite += 1;
      const d = Math.abs(p - s);
      sumAbs += d;
      if (d > maxAbs) maxAbs = d;
      if (p >= threshold === s >= threshold) agreements += 1;
    }
  }
  return {
    pairs,
    observedPairs,
    agreements,
    threshold,
    meanAbsDiff: finite > 0 ? sumAbs / finite : null,
    maxAbsDiff: finite > 0 ? maxAbs : null,
    nanCount,
  };
}
