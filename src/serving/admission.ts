import { overloaded, type HttpError } from './http-util';

/**
 * Budgets for the work the gateway holds at once: body bytes of big requests and rows in inference.
 * A request that does not fit is refused at once (503 with Retry-After) rather than queued, so memory
 * and queueing delay stay bounded whatever arrives. Counters are plain numbers on the event loop.
 */
export interface AdmissionLimits {
  readonly maxInflightBytes: number;
  readonly maxInflightRows: number;
  readonly smallBodyBytes: number;
  readonly retryAfterSec: number;
}

export type RefusalReason = 'bytes' | 'rows' | 'connections';

/** What one request holds; `release` gives it all back (idempotent). */
export class Ticket {
  bytes = 0;
  rows = 0;
  private released = false;

  constructor(private readonly admission: Admission) {}

  /**
   * The body has grown to `total` bytes: holds them if the body is big, or refuses. Bodies up to
   * `smallBodyBytes` hold nothing, so big bodies can never starve small requests.
   */
  growBody(total: number): HttpError | undefined {
    if (this.released || total <= this.admission.limits.smallBodyBytes || total <= this.bytes)
      return undefined;
    const extra = total - this.bytes;
    if (this.admission.bytes + extra > this.admission.limits.maxInflightBytes)
      return this.admission.refuse(
        'bytes',
        `the gateway holds ${this.admission.limits.maxInflightBytes} bytes of request bodies already; retry later`,
      );
    this.admission.bytes += extra;
    this.bytes = total;
    return undefined;
  }

  /** Holds `rows` rows for inference, or refuses. */
  takeRows(rows: number): HttpError | undefined {
    if (this.released) return undefined;
    if (this.admission.rows + rows > this.admission.limits.maxInflightRows)
      return this.admission.refuse(
        'rows',
        `the gateway has ${this.admission.limits.maxInflightRows} rows in inference already; retry later`,
      );
    this.admission.rows += rows;
    this.rows += rows;
    return undefined;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.admission.bytes -= this.bytes;
    this.admission.rows -= this.rows;
    this.bytes = 0;
    this.rows = 0;
  }
}

export class Admission {
  bytes = 0;
  rows = 0;
  readonly refused: Record<RefusalReason, number> = { bytes: 0, rows: 0, connections: 0 };

  constructor(readonly limits: AdmissionLimits) {}

  ticket(): Ticket {
    return new Ticket(this);
  }

  refuse(reason: RefusalReason, message: string): HttpError {
    this.refused[reason] += 1;
    return overloaded('SERVING_OVERLOADED', message, this.limits.retryAfterSec);
  }
}
