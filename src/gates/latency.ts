import { InvalidInputError } from '../errors';
import { type ScoringSession } from '../onnx/session';

export interface LatencyOptions {
  /** Rows per call. */
  readonly batchSize: number;
  /** Calls made and discarded first, so allocation, caches and lazy init do not count. */
  readonly warmup: number;
  readonly iterations: number;
  /** Source rows, row-major; batches walk through them and wrap around. */
  readonly rows: Float32Array;
  readonly nFeatures: number;
}

/** Copies the next `batchSize` rows starting at `start`, wrapping past the end of the source. */
function batchAt(
  source: Float32Array,
  sourceRows: number,
  start: number,
  batchSize: number,
  nFeatures: number,
): Float32Array {
  const batch = new Float32Array(batchSize * nFeatures);
  for (let i = 0; i < batchSize; i++) {
    const row = (start + i) % sourceRows;
    batch.set(source.subarray(row * nFeatures, (row + 1) * nFeatures), i * nFeatures);
  }
  return batch;
}

/**
 * Wall-clock milliseconds of each `score` call after warm-up, in call order. Each batch is copied
 * before its clock starts, so only the model call is measured; the caller computes percentiles.
 */
export async function measureLatency(session: ScoringSession, options: LatencyOptions): Promise<number[]> {
  const { batchSize, warmup, iterations, rows, nFeatures } = options;
  if (!Number.isInteger(nFeatures) || nFeatures < 1 || rows.length === 0 || rows.length % nFeatures !== 0) {
    throw new InvalidInputError(
      `latency source has ${rows.length} values, which is not a positive multiple of ${nFeatures}`,
      {
        length: rows.length,
        nFeatures,
      },
    );
  }
  if (
    !Number.isInteger(batchSize) ||
    batchSize < 1 ||
    !Number.isInteger(iterations) ||
    iterations < 1 ||
    warmup < 0
  ) {
    throw new InvalidInputError('latency needs batchSize ≥ 1, iterations ≥ 1 and warmup ≥ 0', {
      batchSize,
      iterations,
      warmup,
    });
  }
  const sourceRows = rows.length / nFeatures;
  const timings: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const batch = batchAt(rows, sourceRows, (i * batchSize) % sourceRows, batchSize, nFeatures);
    const start = process.hrtime.bigint();
    await session.score(batch, batchSize, nFeatures);
    const elapsed = process.hrtime.bigint() - start;
    if (i >= warmup) timings.push(Number(elapsed) / 1e6);
  }
  return timings;
}

/**
 * Candidate and champion measured in alternating rounds, after both have warmed up, so whatever
 * else the worker is doing (other activities, a co-located gateway) weighs on both alike instead of
 * on whichever model happened to run during a busy second.
 */
export async function measurePair(
  candidate: ScoringSession,
  champion: ScoringSession,
  options: LatencyOptions,
  rounds = 10,
): Promise<{ candidateMs: number[]; championMs: number[] }> {
  const per = Math.max(1, Math.ceil(options.iterations / rounds));
  const candidateMs: number[] = [];
  const championMs: number[] = [];
  await measureLatency(candidate, { ...options, warmup: 0, iterations: Math.max(1, options.warmup) });
  await measureLatency(champion, { ...options, warmup: 0, iterations: Math.max(1, options.warmup) });
  for (let done = 0; done < options.iterations; done += per) {
    const n = Math.min(per, options.iterations - done);
    championMs.push(...(await measureLatency(champion, { ...options, warmup: 0, iterations: n })));
    candidateMs.push(...(await measureLatency(candidate, { ...options, warmup: 0, iterations: n })));
  }
  return { candidateMs, championMs };
}
