import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureLatency, measurePair } from '../../src/gates/latency';
import { openSession, type ScoringSession } from '../../src/onnx/session';
import { sampleModel } from '../../src/samples/models';

let session: ScoringSession;
beforeAll(async () => {
  session = await openSession(sampleModel('good'));
});
afterAll(async () => {
  await session.release();
});

/** A real session that also records the size and first feature of every batch it scores. */
function recording(inner: ScoringSession): {
  session: ScoringSession;
  firstValues: number[];
  sizes: number[];
} {
  const firstValues: number[] = [];
  const sizes: number[] = [];
  return {
    firstValues,
    sizes,
    session: {
      inputs: inner.inputs,
      outputs: inner.outputs,
      scoreOutput: inner.scoreOutput,
      score: (features, rows, nFeatures) => {
        firstValues.push(features[0] ?? Number.NaN);
        sizes.push(rows);
        return inner.score(features, rows, nFeatures);
      },
      runRaw: (feeds) => inner.runRaw(feeds),
      release: () => inner.release(),
    },
  };
}

/** 5 source rows whose every feature equals the row number. */
const source = Float32Array.from({ length: 5 * 12 }, (_, i) => Math.floor(i / 12));

describe('measureLatency', () => {
  it('returns one positive duration in ms per timed call, after discarding warm-up calls', async () => {
    const spy = recording(session);
    const timings = await measureLatency(spy.session, {
      batchSize: 2,
      warmup: 3,
      iterations: 10,
      rows: source,
      nFeatures: 12,
    });
    expect(timings).toHaveLength(10);
    expect(spy.sizes).toHaveLength(13);
    for (const t of timings) {
      expect(Number.isFinite(t)).toBe(true);
      expect(t).toBeGreaterThan(0);
    }
  });

  it('walks batches through the source rows and wraps around', async () => {
    const spy = recording(session);
    await measureLatency(spy.session, {
      batchSize: 2,
      warmup: 0,
      iterations: 4,
      rows: source,
      nFeatures: 12,
    });
    expect(spy.sizes).toEqual([2, 2, 2, 2]);
    expect(spy.firstValues).toEqual([0, 2, 4, 1]);
  });

  it('supports batches larger than the source', async () => {
    const spy = recording(session);
    const timings = await measureLatency(spy.session, {
      batchSize: 12,
      warmup: 1,
      iterations: 2,
      rows: source,
      nFeatures: 12,
    });
    expect(timings).toHaveLength(2);
    expect(spy.sizes).toEqual([12, 12, 12]);
  });

  it('rejects a source that is not whole rows and nonsensical counts', async () => {
    await expect(
      measureLatency(session, {
        batchSize: 1,
        warmup: 0,
        iterations: 1,
        rows: new Float32Array(13),
        nFeatures: 12,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(
      measureLatency(session, { batchSize: 0, warmup: 0, iterations: 1, rows: source, nFeatures: 12 }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('measurePair', () => {
  it('measures candidate and champion in alternating rounds, the requested number of calls each', async () => {
    const other = await openSession(sampleModel('slow'));
    try {
      const rows = new Float32Array(12 * 8).fill(0.1);
      const { candidateMs, championMs } = await measurePair(other, session, {
        batchSize: 2,
        warmup: 3,
        iterations: 25,
        rows,
        nFeatures: 12,
      });
      expect(candidateMs).toHaveLength(25);
      expect(championMs).toHaveLength(25);
      expect([...candidateMs, ...championMs].every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    } finally {
      await other.release();
    }
  });
});
