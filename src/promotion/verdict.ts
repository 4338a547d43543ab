import type { FairnessGroupTable } from './fairness-groups';

/**
 * Verdicts are data, never booleans: a gate can pass, fail, or be unable to tell (too few samples,
 * a group too small to judge). Every check carries what was measured and what it was held against,
 * so "why did it fail?" is answered by the verdict itself.
 */
export type VerdictStatus = 'passed' | 'failed' | 'inconclusive';

export type GateName = 'format' | 'performance' | 'fairness' | 'latency' | 'shadow' | 'canary';

export interface Interval {
  readonly lower: number;
  readonly upper: number;
  /** e.g. 0.95 */
  readonly confidence: number;
}

export interface CheckResult {
  /** Short stable name, e.g. `auc >= 0.8` or `demographic_parity_ratio[gender]`. */
  readonly name: string;
  readonly status: VerdictStatus;
  readonly metric: string;
  /** Measured value (candidate's, or the difference for a comparison). */
  readonly value?: number;
  readonly threshold?: number;
  readonly comparator?: '>=' | '<=' | '==' | 'in';
  readonly interval?: Interval;
  readonly sampleSize?: number;
  /** One plain sentence a person can read in a CI log. */
  readonly message: string;
  /** Anything else worth keeping: champion value, per-group table, test statistic, p-value… */
  readonly evidence?: Readonly<Record<string, unknown>>;
}

export interface GateVerdict {
  readonly gate: GateName;
  readonly status: VerdictStatus;
  readonly checks: readonly CheckResult[];
  readonly summary: string;
  /** The fairness gate's per-group sizes, base rates and rates, one table per sensitive column. */
  readonly groups?: readonly FairnessGroupTable[];
  /** Live gates: what each judgement of the watch saw, thinned to a bounded number (src/live/timeline.ts). */
  readonly ticks?: readonly LiveTick[];
}

/** Per-variant numbers of one live judgement, over the window judged so far. */
export interface LiveVariantTick {
  readonly n: number;
  readonly errorRate: number;
  readonly p50?: number;
  readonly p99?: number;
}

/** One judgement of a shadow or canary watch: when, what it said, and what it measured. */
export interface LiveTick {
  /** Epoch milliseconds of the judgement. */
  readonly at: number;
  /** Judgement number within the watch, from 1. */
  readonly tick: number;
  readonly status: VerdictStatus;
  readonly variants: Readonly<Partial<Record<'stable' | 'canary' | 'shadow', LiveVariantTick>>>;
  /** Shadow: share of compared pairs that agree. */
  readonly agreement?: number;
  /** Each check's measured value at this judgement (error rate increase, PSI, skew…), by check name. */
  readonly checks: Readonly<Record<string, number>>;
}

/**
 * A gate fails if any check fails; otherwise it is inconclusive if any check is. A gate with no checks
 * passes vacuously, and its summary says so rather than "all 0 checks passed".
 */
export function combine(gate: GateName, checks: readonly CheckResult[], summary?: string): GateVerdict {
  const status: VerdictStatus = checks.some((c) => c.status === 'failed')
    ? 'failed'
    : checks.some((c) => c.status === 'inconclusive')
      ? 'inconclusive'
      : 'passed';
  const failed = checks.filter((c) => c.status !== 'passed').map((c) => c.message);
  return {
    gate,
    status,
    checks,
    summary:
      summary ??
      (checks.length === 0
        ? `${gate}: no checks configured`
        : status === 'passed'
          ? `${gate}: all ${checks.length} checks passed`
          : `${gate}: ${failed.join('; ')}`),
  };
}
