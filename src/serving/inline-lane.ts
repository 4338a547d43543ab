import { concatRows, shapeKey, sliceRows } from './batcher';
import type { Tensor } from './tensors';
import type { InlineSession } from './worker/inline-runner';

interface Waiting {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
  readonly resolve: (outputs: readonly Tensor[]) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * When a version's small requests run on the event loop (worker/inline-runner.ts): one run per turn
 * of the loop, either at once or batched at the end of the turn.
 *
 * - A request that finds the lane idle runs at once, inside its own handler: no promise, no extra
 *   turn. This is the one-connection case, where waiting for company only adds latency (and where the
 *   gateway measured 0.72× a bare server's req/s while it still deferred every run).
 * - Requests arriving after that, in the same turn, wait for its end (`setImmediate`: after the poll
 *   phase has handed over every socket that was ready) and share one run there. That run re-arms the
 *   lane, so under sustained load every request waits for the end of its turn and batches: one run per
 *   turn, each holding as many rows as the load brings, within `maxRows()`.
 *
 * So between two polls of the sockets the event loop runs at most two inline runs (one at once, one
 * batched), each estimated within the session's `maxBlockMs`.
 *
 * Sharing with the threads. A batch exists only under concurrency, when the event loop is the busy
 * part of the gateway: it also reads, parses and answers every request. A batch big enough to be
 * worth the hop (estimated at `Spill.minMs` or more) goes to an inference thread instead when one is
 * idle, so the loop parses the next requests while a second core runs the model; with every thread
 * busy it runs here as before, so no queue ever forms in front of the threads. Measured at 100-row
 * bodies and 8 or 64 connections: the loop ran every batch itself (300–450 rows, ~35 % of its time
 * in ORT) while both threads sat idle. Requests that find the lane idle (one connection) never
 * spill: for them the hop would only add latency.
 */
export interface Spill {
  /** Least estimated run, ms, worth handing to a thread. */
  readonly minMs: number;
  /** Whether a batch sent now would start at once on an idle thread. */
  idle(): boolean;
  run(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]>;
}

export class InlineLane {
  /** An end-of-turn callback is queued: this turn has had its run at once, or a batch is waiting. */
  private armed = false;
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly endOfTurn = (): void => this.endTurn();

  constructor(
    private readonly session: InlineSession,
    private readonly spill?: Spill,
  ) {}

  /** Whether a request of `rows` rows may run here (within the session's bound). */
  fits(rows: number): boolean {
    return this.session.fits(rows);
  }

  /**
   * The outputs of `inputs`, computed now when nothing ran here in this turn; undefined otherwise
   * (then `submit` it). Throws what the run throws.
   */
  runNow(inputs: readonly Tensor[]): readonly Tensor[] | undefined {
    if (this.armed) return undefined;
    this.arm();
    return this.session.runNow(inputs);
  }

  /** The outputs of `inputs`, from the batch run at the end of this turn. */
  submit(inputs: readonly Tensor[], rows: number): Promise<readonly Tensor[]> {
    return new Promise((resolve, reject) => {
      const key = shapeKey(inputs);
      const queue = this.waiting.get(key);
      if (queue) queue.push({ inputs, rows, resolve, reject });
      else this.waiting.set(key, [{ inputs, rows, resolve, reject }]);
      this.arm();
    });
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(this.endOfTurn);
  }

  /** Runs one batch of what waited (the first shape's, as many rows as fit); re-arms if anything ran. */
  private endTurn(): void {
    this.armed = false;
    const first = this.waiting.entries().next();
    if (first.done) return;
    const [key, queue] = first.value;
    const maxRows = Math.max(1, this.session.maxRows());
    let rows = 0;
    let count = 0;
    while (count < queue.length) {
      const next = (queue[count] as Waiting).rows;
      if (count > 0 && rows + next > maxRows) break;
      rows += next;
      count++;
    }
    const batch = queue.splice(0, count);
    // Served after the shapes that waited behind this one, so no shape starves another.
    this.waiting.delete(key);
    if (queue.length > 0) this.waiting.set(key, queue);
    this.arm();
    const rejectAll = (e: unknown): void => {
      for (const item of batch) item.reject(e);
    };
    let outputs: readonly Tensor[];
    try {
      const inputs = concatRows(batch, rows);
      if (this.spill && this.session.estimateMs(rows) >= this.spill.minMs && this.spill.idle()) {
        this.spill.run(inputs, rows).then((spilled) => deliver(batch, spilled, rows), rejectAll);
        return;
      }
      outputs = this.session.runNow(inputs);
    } catch (e) {
      rejectAll(e);
      return;
    }
    deliver(batch, outputs, rows);
  }
}

/** Each request's rows of a batch's outputs, in the order the batch joined them. */
function deliver(batch: readonly Waiting[], outputs: readonly Tensor[], rows: number): void {
  let offset = 0;
  for (const item of batch) {
    try {
      item.resolve(outputs.map((o) => sliceRows(o, offset, item.rows, rows)));
    } catch (e) {
      item.reject(e);
    }
    offset += item.rows;
  }
}
