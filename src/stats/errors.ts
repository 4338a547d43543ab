import { ProgradeError } from '../errors';

/**
 * Errors raised by the statistics. Bad numbers are a property of the data handed in (a model that emits
 * NaN, a test set with one class), so every one of them is terminal: retrying gives the same answer.
 */

/** A statistic has no value for this input, e.g. AUC when every label is the same class. */
export class StatisticUndefinedError extends ProgradeError {
  override readonly name = 'StatisticUndefinedError';
  constructor(statistic: string, reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('METRIC_UNDEFINED', `${statistic} is undefined: ${reason}`, 'terminal', { statistic, ...details });
  }
}

/** Input values that would silently turn every result into NaN. */
export class NonFiniteInputError extends ProgradeError {
  override readonly name = 'NonFiniteInputError';
  constructor(what: string, count: number, firstIndex: number) {
    super(
      'NON_FINITE_INPUT',
      `${what} contains ${count} NaN or infinite value(s) (first at row ${firstIndex}); fix the model output or the data`,
      'terminal',
      { what, count, firstIndex },
    );
  }
}

/** Arrays that must be paired row by row have different lengths, or an argument is out of range. */
export class StatsInputError extends ProgradeError {
  override readonly name = 'StatsInputError';
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('STATS_INVALID_INPUT', message, 'terminal', details);
  }
}

export type NumericArray = Float64Array | Float32Array | readonly number[];

/** Throws `NonFiniteInputError` naming how many rows are NaN/±Infinity. */
export function assertFinite(what: string, values: NumericArray): void {
  let count = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) throw new NonFiniteInputError(what, count, first);
}

/** What `assertFinite` would throw, as a message, or undefined when every value is finite. */
export function nonFiniteReason(what: string, values: NumericArray): string | undefined {
  try {
    assertFinite(what, values);
    return undefined;
  } catch (e) {
    if (e instanceof NonFiniteInputError) return e.message;
    throw e;
  }
}

export function assertSameLength(a: string, av: { length: number }, b: string, bv: { length: number }): void {
  if (av.length !== bv.length) {
    throw new StatsInputError(
      `${a} has ${av.length} rows but ${b} has ${bv.length}; they must be paired row by row`,
      {
        [a]: av.length,
        [b]: bv.length,
      },
    );
  }
}

export function assertNonEmpty(what: string, values: { length: number }): void {
  if (values.length === 0) throw new StatsInputError(`${what} is empty`, { what });
}
