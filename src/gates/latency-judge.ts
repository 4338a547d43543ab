import { type LatencyGate } from '../spec/gates-schema';
import { quantiles } from '../stats/quantile';
import { type CheckResult, combine, type GateVerdict } from '../promotion/verdict';

/**
 * Judges latency samples that someone else measured (milliseconds per call, batch as configured).
 * Percentiles use numpy's linear interpolation. The champion ratio compares p95 with p95, both measured
 * the same way; with no champion samples it passes and says the comparison was skipped.
 */
export interface LatencyInput {
  readonly gate: LatencyGate;
  readonly candidateMs: readonly number[];
  readonly championMs?: readonly number[];
}

const LEVELS = { p50: 0.5, p95: 0.95, p99: 0.99 } as const;
type Level = keyof typeof LEVELS;

const ms = (x: number): string => `${Math.round(x * 1000) / 1000}ms`;

function percentiles(samples: readonly number[]): Record<Level, number> {
  const [p50, p95, p99] = quantiles(samples, [LEVELS.p50, LEVELS.p95, LEVELS.p99]) as [
    number,
    number,
    number,
  ];
  return { p50, p95, p99 };
}

/** Absolute p95 difference below which a latency ratio cannot fail the gate. */
export const LATENCY_RATIO_FLOOR_MS = 1;

export function judgeLatency(input: LatencyInput): GateVerdict {
  const { gate, candidateMs, championMs } = input;
  const n = candidateMs.length;
  const levels = (Object.keys(LEVELS) as Level[]).filter((l) => gate[l] !== undefined);
  if (n === 0) {
    const names = [
      ...levels.map((l) => `${l} latency`),
      ...(gate.maxRatioVsChampion !== undefined ? ['p95 ratio vs champion'] : []),
    ];
    return combine(
      'latency',
      names.map((name) => ({
        name,
        metric: name,
        status: 'inconclusive',
        message: `${name}: no latency samples were measured`,
      })),
    );
  }
  const cand = percentiles(candidateMs);
  const champ = championMs !== undefined && championMs.length > 0 ? percentiles(championMs) : undefined;
  const evidence = {
    candidate: cand,
    ...(champ ? { champion: champ } : {}),
    iterations: n,
    batchSize: gate.batchSize,
  };

  const checks: CheckResult[] = levels.map((level) => {
    const limit = gate[level] as number;
    const value = cand[level];
    const ok = value <= limit;
    return {
      name: `${level} <= ${ms(limit)}`,
      metric: `latency_${level}`,
      status: ok ? 'passed' : 'failed',
      value,
      threshold: limit,
      comparator: '<=',
      sampleSize: n,
      message: `${level} latency ${ms(value)} ${ok ? 'is within' : 'exceeds'} ${ms(limit)} (${n} calls, batch ${gate.batchSize})`,
      evidence,
    };
  });

  const maxRatio = gate.maxRatioVsChampion;
  if (maxRatio !== undefined) {
    const name = `p95 ratio vs champion <= ${maxRatio}`;
    if (champ === undefined) {
      checks.push({
        name,
        metric: 'latency_p95_ratio',
        status: 'passed',
        message: `${name}: no champion: comparison skipped`,
        evidence,
      });
    } else if (!(champ.p95 > 0)) {
      checks.push({
        name,
        metric: 'latency_p95_ratio',
        status: 'inconclusive',
        message: `${name}: the champion's p95 is ${ms(champ.p95)}, so a ratio means nothing`,
        evidence,
      });
    } else {
      const ratio = cand.p95 / champ.p95;
      // Sub-millisecond models make ratios of timer noise: 0.3 ms vs 0.02 ms is "15×" yet nothing a
      // caller feels. Below the floor the ratio is reported but does not fail the gate.
      const ok = ratio <= maxRatio || cand.p95 - champ.p95 < LATENCY_RATIO_FLOOR_MS;
      checks.push({
        name,
        metric: 'latency_p95_ratio',
        status: ok ? 'passed' : 'failed',
        value: ratio,
        threshold: maxRatio,
        comparator: '<=',
        sampleSize: n,
        message:
          ratio > maxRatio && ok
            ? `candidate p95 ${ms(cand.p95)} is ${ratio.toFixed(3)}× the champion's ${ms(champ.p95)}, but only ${ms(cand.p95 - champ.p95)} slower (under the ${LATENCY_RATIO_FLOOR_MS} ms floor)`
            : `candidate p95 ${ms(cand.p95)} is ${ratio.toFixed(3)}× the champion's ${ms(champ.p95)} (${ok ? 'within' : 'above'} the allowed ${maxRatio}×)`,
        evidence: { ...evidence, ratio },
      });
    }
  }
  return combine('latency', checks);
}
