/**
 * Bounds the log lines of repeated server faults. A canary that answers NaN fails every request it
 * gets, and one warn line per request would bury the log (and cost the event loop) at the very moment
 * someone reads it. Each key (e.g. the error code) may log `burst` lines at once and `perSec` after
 * that; what is held back is counted and handed to `onSuppressed` once per `summaryEveryMs`, so the
 * log still says how many happened.
 */
export interface LogThrottleOptions {
  readonly burst: number;
  readonly perSec: number;
  readonly summaryEveryMs: number;
  /** Keys tracked at once; past it the table starts over. */
  readonly maxKeys: number;
}

export const DEFAULT_LOG_THROTTLE: LogThrottleOptions = {
  burst: 10,
  perSec: 1,
  summaryEveryMs: 10_000,
  maxKeys: 256,
};

interface Bucket {
  tokens: number;
  lastMs: number;
  suppressed: number;
}

export class LogThrottle {
  private readonly buckets = new Map<string, Bucket>();
  private lastSummaryMs: number;

  constructor(
    private readonly onSuppressed: (counts: Readonly<Record<string, number>>) => void,
    private readonly options: LogThrottleOptions = DEFAULT_LOG_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSummaryMs = now();
  }

  /** True when a line for `key` may be written now; false counts it as suppressed. */
  allow(key: string): boolean {
    const t = this.now();
    this.summarise(t);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.options.maxKeys) this.buckets.clear();
      bucket = { tokens: this.options.burst, lastMs: t, suppressed: 0 };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((t - bucket.lastMs) / 1000) * this.options.perSec,
    );
    bucket.lastMs = t;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    bucket.suppressed += 1;
    return false;
  }

  private summarise(t: number): void {
    if (t - this.lastSummaryMs < this.options.summaryEveryMs) return;
    this.lastSummaryMs = t;
    const counts: Record<string, number> = {};
    for (const [key, bucket] of this.buckets) {
      if (bucket.suppressed > 0) counts[key] = bucket.suppressed;
      bucket.suppressed = 0;
    }
    if (Object.keys(counts).length > 0) this.onSuppressed(counts);
  }
}
