/**
 * How often the canary analysis rolls back a healthy candidate, and how soon it rolls back a broken
 * one, for three ways of spending the spec's alpha over the analysis looks. A Monte Carlo over the
 * real judge (`judgeCanary`), the real spending (`alphaSpent`, `plannedLooks`) and the workflow's
 * step rules (bake, extensions while inconclusive, then fail); only the traffic is simulated:
 * requests at a fixed rate, each routed to the canary with the step's weight, with log-normal
 * latencies and sigmoid-of-normal scores drawn from one distribution for both variants (a healthy
 * candidate) or with extra canary errors from the first step on (a broken one).
 */
import os from 'node:os';
import { alphaSpent, plannedLooks } from '../src/live/alpha-spending';
import { judgeCanary } from '../src/live/canary-judge';
import { seededRng, type SampleRng } from '../src/samples/rng';
import type { StatsSnapshot } from '../src/promotion/stats-snapshot';
import { type Canary, CanaryAnalysis } from '../src/spec/schema';
import { machineInfo } from './lib/machine';
import { runRecord, type BenchResult, type Table } from './lib/report';

const ROLLOUTS = 2_000;
const BROKEN_ROLLOUTS = 300;
const SEED = 20_261_129;

/** The test suite's live spec at the spec defaults' alphas: three 3 s bakes at 1 s, 60 req/s. */
const SCENARIO = {
  rps: 60,
  canary: {
    steps: [
      { setWeight: 20 },
      { bake: 3_000 },
      { setWeight: 50 },
      { bake: 3_000 },
      { setWeight: 80 },
      { bake: 3_000 },
    ],
    analysis: CanaryAnalysis.parse({
      interval: '1s',
      minSamples: 20,
      onInconclusive: { extendBy: '3s', maxExtensions: 2, then: 'fail' },
    }),
  } satisfies Canary,
  latency: { medianMs: 0.4, sigma: 0.3 },
  /** Both variants fail this often on their own (network blips); the margin is about increases. */
  baseErrorRate: 0.001,
  /** A broken candidate's extra error rate: NaN answers for 5 % of requests. */
  brokenExtraErrorRate: 0.05,
} as const;

type Policy = 'per look' | 'per watch' | 'per canary';
const POLICIES: readonly Policy[] = ['per look', 'per watch', 'per canary'];

/** Looks each watch's alpha is divided by. `per watch` is what shipped before the whole-canary spending. */
function looksFor(policy: Policy, canary: Canary, watchMs: number): number {
  switch (policy) {
    case 'per look':
      return 1;
    case 'per watch':
      return Math.max(1, Math.ceil(watchMs / canary.analysis.interval));
    case 'per canary':
      return plannedLooks(canary);
  }
}

interface Variant {
  requests: number;
  errors: number;
  latencyMs: number[];
  scores: number[];
}

const emptyVariant = (): Variant => ({ requests: 0, errors: 0, latencyMs: [], scores: [] });

interface Outcome {
  readonly rolledBack: boolean;
  /** Which checks failed, or 'inconclusive' when the last extension ended without a verdict. */
  readonly cause?: string;
  /** Seconds from the first canary step to the rollback. */
  readonly atSeconds?: number;
}

function simulate(policy: Policy, rng: SampleRng, canaryExtraErrors: number): Outcome {
  const { canary, rps, latency, baseErrorRate } = SCENARIO;
  const { interval, onInconclusive } = canary.analysis;
  let weight = 0;
  let clock = 0;
  const request = (v: Variant, errorRate: number): void => {
    v.requests++;
    v.latencyMs.push(latency.medianMs * Math.exp(latency.sigma * rng.normal()));
    if (rng.uniform() < errorRate) v.errors++;
    else v.scores.push(1 / (1 + Math.exp(-(-1.5 + 1.5 * rng.normal()))));
  };
  for (const step of canary.steps) {
    if ('setWeight' in step) {
      weight = step.setWeight;
      continue;
    }
    if (!('bake' in step)) continue;
    // A step's window grows from its start through every extension, as in the workflow.
    const stable = emptyVariant();
    const canaryWindow = emptyVariant();
    let elapsed = 0;
    const advance = (ms: number): void => {
      const arrivals = Math.round((rps * ms) / 1000);
      for (let i = 0; i < arrivals; i++) {
        if (rng.uniform() * 100 < weight) request(canaryWindow, baseErrorRate + canaryExtraErrors);
        else request(stable, baseErrorRate);
      }
      elapsed += ms;
      clock += ms;
    };
    const judge = (looks: number) =>
      judgeCanary(
        {
          model: 'sim',
          generation: 1,
          variants: { stable: { version: '1', ...stable }, canary: { version: '2', ...canaryWindow } },
          shadowComparison: {
            pairs: 0,
            observedPairs: 0,
            agreements: 0,
            threshold: 0.5,
            meanAbsDiff: null,
            maxAbsDiff: null,
            nanCount: 0,
          },
          windowStartMs: 0,
          windowEndMs: elapsed,
        } satisfies StatsSnapshot,
        alphaSpent(canary.analysis, looks),
      );
    let watchMs = step.bake;
    let stopWhenPassed = false;
    for (let extension = 0; ; extension++) {
      const looks = looksFor(policy, canary, watchMs);
      let last = judge(looks);
      // Ticks at 0, interval, 2·interval, … and at the deadline, as the watch activity takes them.
      for (let t = 0; ; last = judge(looks)) {
        if (last.status === 'failed') {
          const failed = last.checks.filter((c) => c.status === 'failed').map((c) => c.name);
          return { rolledBack: true, cause: failed.join(' + '), atSeconds: clock / 1000 };
        }
        if (stopWhenPassed && last.status === 'passed') break;
        if (t >= watchMs) break;
        const next = Math.min(interval, watchMs - t);
        advance(next);
        t += next;
      }
      if (last.status !== 'inconclusive') break;
      if (extension >= onInconclusive.maxExtensions) {
        const open = last.checks.filter((c) => c.status === 'inconclusive').map((c) => c.name);
        return { rolledBack: true, cause: `inconclusive (${open.join(' + ')})`, atSeconds: clock / 1000 };
      }
      watchMs = onInconclusive.extendBy;
      stopWhenPassed = true;
    }
  }
  return { rolledBack: false };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

/** Wilson 95 % interval of a proportion, so a rate of 0 of 2000 still says what it rules out. */
function wilson(k: number, n: number): string {
  const z = 1.96;
  const p = k / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return `${pct(Math.max(0, centre - half))}–${pct(Math.min(1, centre + half))}`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** Pure computation; a Promise only because every benchmark is run through the same interface. */
export function runCanaryBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  const alphas = SCENARIO.canary.analysis;
  const healthyRows: string[][] = [];
  const brokenRows: string[][] = [];
  const raw: Record<string, { healthyRolledBack: Outcome[]; broken: Outcome[] }> = {};
  const brokenSummary: {
    policy: Policy;
    caught: number;
    exhausted: number;
    promoted: number;
    medianAny: number;
  }[] = [];
  const lines: string[] = [];
  for (const [p, policy] of POLICIES.entries()) {
    const rng = seededRng(SEED + p);
    const healthy = Array.from({ length: ROLLOUTS }, () => simulate(policy, rng, 0));
    const broken = Array.from({ length: BROKEN_ROLLOUTS }, () =>
      simulate(policy, rng, SCENARIO.brokenExtraErrorRate),
    );
    const falseRollbacks = healthy.filter((o) => o.rolledBack);
    const causes = new Map<string, number>();
    for (const o of falseRollbacks) causes.set(o.cause ?? '?', (causes.get(o.cause ?? '?') ?? 0) + 1);
    healthyRows.push([
      policy,
      `${falseRollbacks.length} / ${ROLLOUTS}`,
      pct(falseRollbacks.length / ROLLOUTS),
      wilson(falseRollbacks.length, ROLLOUTS),
      [...causes].map(([c, n]) => `${c}: ${n}`).join(', ') || '—',
    ]);
    const caught = broken.filter((o) => o.rolledBack && !o.cause?.startsWith('inconclusive'));
    const exhausted = broken.filter((o) => o.rolledBack && o.cause?.startsWith('inconclusive'));
    const promoted = broken.filter((o) => !o.rolledBack);
    const times = caught.map((o) => o.atSeconds ?? NaN);
    const anyTimes = broken.filter((o) => o.rolledBack).map((o) => o.atSeconds ?? NaN);
    brokenRows.push([
      policy,
      `${caught.length} / ${BROKEN_ROLLOUTS}`,
      times.length ? median(times).toFixed(0) : '—',
      `${exhausted.length}`,
      `${promoted.length}`,
      anyTimes.length ? median(anyTimes).toFixed(0) : '—',
    ]);
    brokenSummary.push({
      policy,
      caught: caught.length,
      exhausted: exhausted.length,
      promoted: promoted.length,
      medianAny: anyTimes.length ? median(anyTimes) : NaN,
    });
    raw[policy] = { healthyRolledBack: falseRollbacks, broken };
    log(
      `  ${policy}: ${falseRollbacks.length}/${ROLLOUTS} healthy rolled back; ${caught.length}/${BROKEN_ROLLOUTS} broken caught`,
    );
  }
  const sum = alphas.errorRateAlpha + alphas.latency.alpha + alphas.prediction.ksAlpha;
  const row = (policy: Policy): string[] | undefined => healthyRows[POLICIES.indexOf(policy)];
  lines.push(
    `Healthy candidate, whole rollout: ${POLICIES.map((p) => `${p} ${row(p)?.[2] ?? '?'}`).join(', ')} false rollbacks; the spec's alphas sum to ${pct(sum)}, the bound a whole-canary Bonferroni promises (error rate ${alphas.errorRateAlpha}, latency ${alphas.latency.alpha}, KS ${alphas.prediction.ksAlpha}, ${plannedLooks(SCENARIO.canary)} planned looks).`,
  );
  lines.push(
    `Broken candidate (+${pct(SCENARIO.brokenExtraErrorRate)} errors from the first step): ${brokenSummary
      .map(
        (b) =>
          `${b.policy}: ${b.caught} of ${BROKEN_ROLLOUTS} failed a check, ${b.exhausted} were rolled back when the last extension ended still inconclusive, ${b.promoted} promoted, median ${b.medianAny.toFixed(0)} s to the rollback`,
      )
      .join('; ')}.`,
  );
  const healthyTable: Table = {
    title: `Healthy candidate: false rollbacks over ${ROLLOUTS} simulated rollouts`,
    columns: ['alpha spent', 'rolled back', 'rate', '95 % interval (Wilson)', 'causes'],
    rows: healthyRows,
  };
  const brokenTable: Table = {
    title: `Broken candidate (+${pct(SCENARIO.brokenExtraErrorRate)} errors): detection over ${BROKEN_ROLLOUTS} rollouts`,
    columns: [
      'alpha spent',
      'caught by a failed check',
      'median s to that rollback',
      'rolled back as still inconclusive',
      'promoted',
      'median s to any rollback',
    ],
    rows: brokenRows,
  };
  return Promise.resolve({
    ...runRecord('canary', started, command, machine),
    settings: {
      rollouts: ROLLOUTS,
      brokenRollouts: BROKEN_ROLLOUTS,
      seed: SEED,
      rps: SCENARIO.rps,
      steps: SCENARIO.canary.steps,
      analysis: SCENARIO.canary.analysis,
      latency: SCENARIO.latency,
      baseErrorRate: SCENARIO.baseErrorRate,
      policies: {
        'per look': 'every look at the spec alpha',
        'per watch': 'alpha / looks of that bake or extension (before 2026-11-29 04:15)',
        'per canary': 'alpha / plannedLooks of the whole canary (now)',
      },
    },
    tables: [healthyTable, brokenTable],
    interpretation: lines,
    notes: [
      `Simulated time, so the machine's speed does not enter the numbers; end load average ${(os.loadavg()[0] ?? 0).toFixed(2)}.`,
      "The simulated windows grow through a step's extensions for every policy, so the rows differ only in how alpha is spent.",
    ],
    raw,
  });
}
