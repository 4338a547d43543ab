import type { Logger } from 'pino';

/**
 * Log lines for refused access (401, 403, a disabled admin API), with the caller's address, bounded
 * so that a flood of refused requests cannot flood the log: a token bucket per remote address and
 * one for the whole gateway. What the buckets hold back is counted and reported in one summary line
 * per interval ("N more refused requests suppressed"), with the addresses that sent the most.
 *
 * The address is the socket's peer, never a forwarded-for header: a header is the client's word.
 */

export interface RefusalFields {
  readonly remote: string;
  readonly method: string;
  /** The URL path, without the query string (which may carry anything). */
  readonly path: string;
  readonly status: number;
  readonly code: string;
  readonly requestId: string;
  /** What the caller authenticated as, when anything ("inference key ci", "admin alice"). */
  readonly caller?: string | undefined;
}

export interface RefusalLogOptions {
  /** Lines one address may log at once, and per second after that. */
  readonly perAddressBurst: number;
  readonly perAddressPerSec: number;
  /** Lines all addresses together may log at once, and per second after that. */
  readonly globalBurst: number;
  readonly globalPerSec: number;
  /** How often a summary of suppressed lines is written (only when something was suppressed). */
  readonly summaryEveryMs: number;
  /** Addresses tracked at once; past it the table starts over (the global bucket still bounds). */
  readonly maxAddresses: number;
}

export const DEFAULT_REFUSAL_LOG: RefusalLogOptions = {
  perAddressBurst: 5,
  perAddressPerSec: 0.2,
  globalBurst: 50,
  globalPerSec: 10,
  summaryEveryMs: 10_000,
  maxAddresses: 10_000,
};

class Bucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly burst: number,
    private readonly perSec: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSec);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class RefusalLog {
  private readonly options: RefusalLogOptions;
  private readonly global: Bucket;
  private readonly perAddress = new Map<string, Bucket>();
  private readonly suppressed = new Map<string, number>();
  private suppressedTotal = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    options: Partial<RefusalLogOptions> = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.options = { ...DEFAULT_REFUSAL_LOG, ...options };
    this.global = new Bucket(this.options.globalBurst, this.options.globalPerSec, now());
    this.timer = setInterval(() => this.flush(), this.options.summaryEveryMs);
    this.timer.unref();
  }

  note(fields: RefusalFields): void {
    const now = this.now();
    let bucket = this.perAddress.get(fields.remote);
    if (!bucket) {
      if (this.perAddress.size >= this.options.maxAddresses) this.perAddress.clear();
      bucket = new Bucket(this.options.perAddressBurst, this.options.perAddressPerSec, now);
      this.perAddress.set(fields.remote, bucket);
    }
    // The address's bucket first: one noisy address must not use up the global allowance.
    if (bucket.take(now) && this.global.take(now)) {
      this.logger.warn(fields, `refused ${fields.status} ${fields.code}`);
      return;
    }
    this.suppressedTotal += 1;
    if (this.suppressed.has(fields.remote) || this.suppressed.size < this.options.maxAddresses)
      this.suppressed.set(fields.remote, (this.suppressed.get(fields.remote) ?? 0) + 1);
  }

  /** Writes the summary of what was suppressed since the last one, if anything was. */
  flush(): void {
    if (this.suppressedTotal === 0) return;
    const top = [...this.suppressed.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([remote, count]) => ({ remote, count }));
    this.logger.warn(
      { suppressed: this.suppressedTotal, addresses: this.suppressed.size, top },
      `${this.suppressedTotal} more refused requests suppressed`,
    );
    this.suppressedTotal = 0;
    this.suppressed.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
