/**
 * Every bound the gateway puts on a request and on the work it holds at once. Defaults are sized for
 * a 2-core host serving small tabular models; each is a `prograde gateway` flag (see the CLI).
 */
export interface GatewayLimits {
  /** Largest request body, bytes; larger ones get 413 (read and discarded, never a reset). */
  readonly maxBodyBytes: number;
  /** Deepest JSON nesting of a body ([[1]] is 2); deeper gets 400 before the JSON is parsed. */
  readonly maxJsonDepth: number;
  /** Rows (first dimension) in one inference request; more get 413. */
  readonly maxRowsPerRequest: number;
  /** Body bytes held at once by requests over `smallBodyBytes`; past it, 503 with Retry-After. */
  readonly maxInflightBytes: number;
  /** Rows admitted to inference at once; past it, 503 with Retry-After. */
  readonly maxInflightRows: number;
  /** Open client connections; one more is answered 503 with Retry-After and closed. */
  readonly maxConnections: number;
  /** Bodies up to this size skip the byte budget (the connection cap bounds them), so a flood of big bodies never starves small requests. */
  readonly smallBodyBytes: number;
  /** Bodies over this size are parsed on a worker thread, so a big parse never stalls other requests. */
  readonly offThreadParseBytes: number;
  /** Longest pause between two chunks of a body; then 408 and the connection is closed. */
  readonly bodyIdleTimeoutMs: number;
  /** Time allowed to send the request headers (slowloris); then 408. */
  readonly headersTimeoutMs: number;
  /** Time allowed to send a whole request; then 408. */
  readonly requestTimeoutMs: number;
  /** After a refusal, at most this many body bytes are read and discarded before the socket is cut. */
  readonly maxDiscardBytes: number;
  /** All refused bodies together are read and discarded at most this fast, bytes a second. */
  readonly discardBytesPerSec: number;
  /** Longest wait for the model registry when a request names a model without routing; then 503. */
  readonly modelLookupTimeoutMs: number;
  /** Registry lookups in flight at once (a timed-out one holds its slot until it settles); past it, 503. */
  readonly maxModelLookups: number;
  /** How long a registry answer "no such model" (or "exists") is remembered. */
  readonly modelLookupCacheMs: number;
  /** Seconds a client is told to wait (Retry-After) after an overload 503 or a 429. */
  readonly retryAfterSec: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxJsonDepth: 32,
  maxRowsPerRequest: 10_000,
  maxInflightBytes: 32 * 1024 * 1024,
  maxInflightRows: 100_000,
  maxConnections: 1024,
  smallBodyBytes: 64 * 1024,
  offThreadParseBytes: 256 * 1024,
  bodyIdleTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  maxDiscardBytes: 128 * 1024 * 1024,
  discardBytesPerSec: 32 * 1024 * 1024,
  modelLookupTimeoutMs: 2_000,
  maxModelLookups: 8,
  modelLookupCacheMs: 10_000,
  retryAfterSec: 1,
};

export function resolveLimits(
  given: Partial<GatewayLimits> | undefined,
  maxBodyBytes?: number,
): GatewayLimits {
  const body = given?.maxBodyBytes ?? maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes;
  const limits = {
    ...DEFAULT_LIMITS,
    // Room for four bodies at the limit, so a raised --max-body does not need its budget raised too.
    maxInflightBytes: Math.max(DEFAULT_LIMITS.maxInflightBytes, 4 * body),
    ...given,
    maxBodyBytes: body,
  };
  for (const [key, value] of Object.entries(limits))
    if (!(Number.isFinite(value) && value > 0))
      throw new RangeError(`gateway limit ${key} must be a positive number, got ${String(value)}`);
  if (limits.maxInflightBytes < limits.maxBodyBytes)
    throw new RangeError(
      'gateway limit maxInflightBytes must be at least maxBodyBytes, or a body at the limit could never be admitted',
    );
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new RangeError('gateway limit headersTimeoutMs must not exceed requestTimeoutMs');
  return limits;
}
