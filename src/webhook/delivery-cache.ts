/**
 * Delivery ids already acted on, kept as long as a replay of them could still pass the timestamp
 * check (beyond that the timestamp refuses it), and bounded in number so a flood cannot grow it.
 * MLflow retries a delivery with the same id, so a retry after a success is answered from here.
 */
export class DeliveryCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  has(id: string, nowMs: number): boolean {
    const at = this.seen.get(id);
    return at !== undefined && nowMs - at <= this.ttlMs;
  }

  add(id: string, nowMs: number): void {
    this.seen.delete(id);
    this.seen.set(id, nowMs);
    // Map keeps insertion order: the oldest entries go first.
    for (const [key, at] of this.seen) {
      if (this.seen.size <= this.maxEntries && nowMs - at <= this.ttlMs) break;
      this.seen.delete(key);
    }
  }
}
