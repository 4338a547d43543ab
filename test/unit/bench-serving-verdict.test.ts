import { describe, expect, it } from 'vitest';
import { verdictAt } from '../../bench/lib/serving-verdict';
import type { WrkResult } from '../../bench/lib/serving-wrk';

const run = (throughput: number, p50: number, p99: number): WrkResult => ({
  requests: Math.round(throughput * 3),
  durationSec: 3,
  throughput,
  p50,
  p75: p50,
  p90: p99,
  p99,
  errors: 0,
});
const point = { body: '1 row', connections: 1, mlflowComparable: true };

describe('serving-compare verdict', () => {
  it('judges each round against its own pair, not one round against another', () => {
    // p99 per round: the bare server's swings with the host (0.40–0.90 ms); the gateway is level with
    // it in three rounds and twice as slow in two. The ratio of the medians pairs the gateway's
    // 0.90 ms (round 3) with the bare server's 0.48 ms (round 5) and reads 1.88×; within the rounds
    // the median is 1.0×.
    const bareP99 = [0.4, 0.5, 0.9, 0.45, 0.48];
    const factor = [1, 1, 1, 2, 2];
    const bare = bareP99.map((p99) => run(5000, 0.1, p99));
    const gateway = bareP99.map((p99, i) => run(5000, 0.1, p99 * (factor[i] as number)));
    const v = verdictAt(
      point,
      new Map([
        ['gateway', gateway],
        ['bare', bare],
      ]),
    );
    expect(v.ofMedians.p99).toBeCloseTo(0.9 / 0.48);
    expect(v.perRound.p99.median).toBeCloseTo(1);
    expect(v.perRound.p99.max).toBeCloseTo(2);
    expect(v.misses).toEqual([]);
  });

  it('names every target a point misses, and keeps the ratio of medians beside the verdict', () => {
    const gateway = [run(700, 0.3, 2), run(800, 0.3, 2), run(750, 0.3, 2)];
    const bare = [run(1000, 0.1, 1), run(1000, 0.1, 1), run(1000, 0.1, 1)];
    const mlflow = [run(100, 5, 10), run(90, 5, 10), run(95, 5, 10)];
    const v = verdictAt(
      point,
      new Map([
        ['gateway', gateway],
        ['bare', bare],
        ['mlflow-w1', mlflow],
      ]),
    );
    expect(v.ofMedians.throughput).toBeCloseTo(0.75);
    expect(v.perRound.p99.median).toBeCloseTo(2);
    expect(v.vsMlflow).toBeCloseTo(750 / 95);
    expect(v.misses).toHaveLength(4);
    expect(v.misses.join(' ')).toMatch(
      /req\/s 0\.75× bare.*p99 2\.00×.*p50 bare \+ 0\.200 ms.*7\.9× MLflow < 20×/,
    );
  });

  it('checks p50 only at one connection and MLflow only where it serves the protocol', () => {
    const gateway = [run(900, 5, 10)];
    const bare = [run(1000, 1, 10)];
    const v = verdictAt(
      { body: '100 rows', connections: 8, mlflowComparable: false },
      new Map([
        ['gateway', gateway],
        ['bare', bare],
        ['mlflow-w1', [run(10_000, 1, 1)]],
      ]),
    );
    expect(v.vsMlflow).toBeUndefined();
    expect(v.misses).toEqual([]);
  });

  it('never meets a target without a single pair of runs', () => {
    const v = verdictAt(point, new Map([['gateway', [run(1000, 0.1, 1)]]]));
    expect(v.misses.length).toBeGreaterThanOrEqual(2);
  });
});
