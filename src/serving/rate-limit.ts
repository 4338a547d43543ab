/** Token bucket: `burst` requests at once, refilled at `requestsPerSecond`. */
export interface RateLimit {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RateLimit,
    now: number = Date.now(),
  ) {
    this.tokens = limit.burst;
    this.last = now;
  }

  tryTake(now: number = Date.now()): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.limit.burst, this.tokens + elapsed * this.limit.requestsPerSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** One bucket per model, created on first use. */
export class ModelRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  constructor(private readonly limitFor: (model: string) => RateLimit | undefined) {}

  tryTake(model: string, now: number = Date.now()): boolean {
    const limit = this.limitFor(model);
    if (!limit) return true;
    let bucket = this.buckets.get(model);
    if (!bucket) {
      bucket = new TokenBucket(limit, now);
      this.buckets.set(model, bucket);
    }
    return bucket.tryTake(now);
  }
}
