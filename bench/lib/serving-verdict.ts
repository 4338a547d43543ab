/**
 * Whether the gateway meets issue 14's targets at one point of the serving-compare benchmark.
 *
 * Why per-round ratios decide. The benchmark measures the gateway and the bare server seconds apart in
 * every round, and on a shared VM the host's speed drifts between rounds by more than the margin
 * being judged (the same server gave 1,500 to 10,800 req/s in consecutive runs at one connection). A
 * ratio of two medians takes each median from whichever round it falls in, so one system's fast
 * round can meet the other's slow one and the ratio reads the host instead of the servers. The ratio
 * within each round compares two runs made under the same conditions (a randomised block design, the
 * round being the block), and the median of those per-round ratios is what the verdict uses. The
 * ratio of medians is still computed and shown beside it, so a reader sees both.
 */
import type { Spread } from './summary';
import { spreadOf } from './summary';
import type { WrkResult } from './serving-wrk';

export const TARGETS = {
  /** Least gateway / bare req/s. */
  minThroughputVsBare: 0.85,
  /** Most gateway / bare p99. */
  maxP99VsBare: 1.3,
  /** Most gateway p50 minus bare p50 at one connection, ms. */
  maxP50ExcessMsAtOneConnection: 0.1,
  /** Least gateway / best-MLflow req/s, by rows per request. */
  minVsMlflow: { '1 row': 20, '100 rows': 7 } as Readonly<Record<string, number>>,
} as const;

export interface VerdictPoint {
  readonly body: string;
  readonly connections: number;
  /** Whether MLflow serves this protocol (it has no OIP v2). */
  readonly mlflowComparable: boolean;
}

export interface PointVerdict {
  /** Per round, gateway against bare (each round's two runs were seconds apart). */
  readonly perRound: {
    readonly throughput: Spread;
    readonly p99: Spread;
    readonly p50ExcessMs: Spread;
  };
  /** Median of the gateway's rounds against the median of the bare server's. */
  readonly ofMedians: {
    readonly throughput: number;
    readonly p99: number;
    readonly p50ExcessMs: number;
  };
  /** Gateway's median req/s against the best MLflow median, when MLflow serves the protocol. */
  readonly vsMlflow: number | undefined;
  /** The targets a point misses, judged on the per-round medians (empty: it meets them all). */
  readonly misses: readonly string[];
}

function median(values: readonly number[]): number {
  return spreadOf(values).median;
}

/**
 * The verdict at one point from each system's runs in round order (`gateway` and `bare` required;
 * every other name starting with `mlflow` is an MLflow server).
 */
export function verdictAt(
  point: VerdictPoint,
  runs: ReadonlyMap<string, readonly WrkResult[]>,
): PointVerdict {
  const gateway = runs.get('gateway') ?? [];
  const bare = runs.get('bare') ?? [];
  const rounds = Math.min(gateway.length, bare.length);
  const pairs = Array.from({ length: rounds }, (_, i) => [gateway[i], bare[i]] as [WrkResult, WrkResult]);
  const perRound = {
    throughput: spreadOf(pairs.map(([g, b]) => g.throughput / b.throughput)),
    p99: spreadOf(pairs.map(([g, b]) => g.p99 / b.p99)),
    p50ExcessMs: spreadOf(pairs.map(([g, b]) => g.p50 - b.p50)),
  };
  const med = (rs: readonly WrkResult[], pick: (r: WrkResult) => number): number => median(rs.map(pick));
  const ofMedians = {
    throughput: med(gateway, (r) => r.throughput) / med(bare, (r) => r.throughput),
    p99: med(gateway, (r) => r.p99) / med(bare, (r) => r.p99),
    p50ExcessMs: med(gateway, (r) => r.p50) - med(bare, (r) => r.p50),
  };
  const mlflowMedians = [...runs.entries()]
    .filter(([name]) => name.startsWith('mlflow'))
    .map(([, rs]) => med(rs, (r) => r.throughput))
    .filter((t) => Number.isFinite(t) && t > 0);
  const vsMlflow =
    point.mlflowComparable && mlflowMedians.length > 0
      ? med(gateway, (r) => r.throughput) / Math.max(...mlflowMedians)
      : undefined;

  const misses: string[] = [];
  // NaN (no pair at all) fails every comparison below, so an empty point never meets a target.
  if (!(perRound.throughput.median >= TARGETS.minThroughputVsBare))
    misses.push(`req/s ${perRound.throughput.median.toFixed(2)}× bare < ${TARGETS.minThroughputVsBare}×`);
  if (!(perRound.p99.median <= TARGETS.maxP99VsBare))
    misses.push(`p99 ${perRound.p99.median.toFixed(2)}× bare > ${TARGETS.maxP99VsBare}×`);
  if (point.connections === 1 && !(perRound.p50ExcessMs.median <= TARGETS.maxP50ExcessMsAtOneConnection))
    misses.push(
      `p50 bare + ${perRound.p50ExcessMs.median.toFixed(3)} ms > + ${TARGETS.maxP50ExcessMsAtOneConnection} ms`,
    );
  const mlflowTarget = TARGETS.minVsMlflow[point.body];
  if (vsMlflow !== undefined && mlflowTarget !== undefined && !(vsMlflow >= mlflowTarget))
    misses.push(`${vsMlflow.toFixed(1)}× MLflow < ${mlflowTarget}×`);
  return { perRound, ofMedians, vsMlflow, misses };
}
