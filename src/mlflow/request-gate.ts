/**
 * Requests one client keeps in flight at once; the rest wait their turn in order (PROGRADE_MLFLOW_MAX_REQUESTS).
 * Why a bound at all: a worker runs up to 100 activities, nearly all of them MLflow calls, and an MLflow
 * server works through a handful at a time. Unbounded, three workers put ~300 requests on one server
 * (the scale bench, bench/RESULTS.md "scale"): each one took minutes, every activity ran past its
 * start-to-close timeout and its retry redid the work on the same queue. Bounded, the excess waits
 * here, where waiting costs nothing, and the per-request timeout counts from the moment a request is
 * sent, so a busy server reads as slow rather than as down. Why 8: the benchmark's MLflow (one
 * gunicorn worker) answers no faster with more in flight; three workers then hold 24 at the server.
 */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 8;

/** A first-in, first-out counting semaphore. */
export class RequestGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** Requests sent so far, by method and endpoint path (for the scale benchmark's calls per promotion). */
  readonly sent = new Map<string, number>();
  /** The most requests that waited at once. */
  maxWaiting = 0;

  constructor(readonly limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.maxWaiting = Math.max(this.maxWaiting, this.waiting.length);
      });
    } else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next request in line, so `active` stays as it is.
      if (next) next();
      else this.active--;
    };
  }

  count(key: string): void {
    this.sent.set(key, (this.sent.get(key) ?? 0) + 1);
  }
}
