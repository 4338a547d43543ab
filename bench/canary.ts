/**
 * The canary analysis, the Bonferroni design against the anytime-valid one (the default), on the same
 * simulated traffic and the same spec.
 *
 * - bonferroni (`mode: bonferroni`): fixed-sample tests (Wald z, Mann–Whitney + Hodges–Lehmann, PSI + KS)
 *   at the spec's alphas divided by every look the canary may take (`plannedLooks`); bakes run to their
 *   maximum, extensions while inconclusive, then fail.
 * - sequential (`mode: sequential`, the default): the e-processes of src/stats/sequential.ts at the alphas
 *   divided by the canary's windows only (`plannedWindows`); a failed check rolls back at once, a bake
 *   ends after its minimum once every check is non-inferior (passed), and at a watch's deadline (a bake's
 *   maximum, an extension's end) a check still undecided passes when its point estimate is within the
 *   margin (`lastLook`), else onInconclusive applies, as in both designs. This is what the watch
 *   activity does (src/live/watch.ts), step for step.
 *
 * Two scenarios: production-like traffic (200 requests/s, bakes of { min: 20s, max: 60s }) in which every
 * population below can be told apart, and the test suite's small canary (60 requests/s, fixed 3 s bakes),
 * where almost nothing can be shown at level alpha and the deadline's rule decides.
 *
 * A Monte Carlo over the real judges and alpha spending with the workflow's step rules; only the traffic
 * is simulated: requests at a fixed rate, each routed to the canary with the step's weight, log-normal
 * latencies, sigmoid-of-normal scores, a base error rate for both versions. Samples stop being kept once
 * either version has the gateway's maxSamples of them (counts go on), as the gateway's window does.
 * Rollout i of a population draws its traffic from its own seed in every design (common random
 * numbers), so the designs differ only in how they judge it. The rollouts are spread over child
 * processes, one per core.
 */
import os from 'node:os';
import { z } from 'zod';
import { alphaSpent, plannedLooks, plannedTests, plannedWindows } from '../src/live/alpha-spending';
import { judgeCanary, type CanaryAnalysisMode } from '../src/live/canary-judge';
import { DEFAULT_WINDOW_STATS } from '../src/serving/window-stats';
import { seededRng } from '../src/samples/rng';
import { NO_SHADOW_COMPARISON, type StatsSnapshot } from '../src/promotion/stats-snapshot';
import { type Canary, CanaryAnalysis } from '../src/spec/schema';
import { TsChild } from './lib/child';
import { machineInfo } from './lib/machine';
import { runRecord, type BenchResult, type Table } from './lib/report';

const HEALTHY_ROLLOUTS = 2_000;
const BROKEN_ROLLOUTS = 300;
const SEED = 20_261_201;

type Design = CanaryAnalysisMode;

interface Population {
  readonly name: string;
  readonly label: string;
  readonly rollouts: number;
  /** Extra canary error rate, from the first step on. */
  readonly extraErrors: number;
  /** Canary latency multiplier. */
  readonly latencyFactor: number;
}

interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly rps: number;
  readonly canary: Canary;
  readonly designs: readonly Design[];
  readonly populations: readonly Population[];
}

const HEALTHY: Population = {
  name: 'healthy',
  label: 'healthy',
  rollouts: HEALTHY_ROLLOUTS,
  extraErrors: 0,
  latencyFactor: 1,
};
const ERRORS_2: Population = {
  name: 'errors+2%',
  label: '+2 % errors',
  rollouts: BROKEN_ROLLOUTS,
  extraErrors: 0.02,
  latencyFactor: 1,
};
const ERRORS_5: Population = {
  name: 'errors+5%',
  label: '+5 % errors',
  rollouts: BROKEN_ROLLOUTS,
  extraErrors: 0.05,
  latencyFactor: 1,
};
const LATENCY_20: Population = {
  name: 'latency+20%',
  label: '+20 % median latency',
  rollouts: BROKEN_ROLLOUTS,
  extraErrors: 0,
  latencyFactor: 1.2,
};

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'production-like',
    // The spec's default alphas, margins and extensions (3 × 30 s, then fail) except the latency
    // tolerance, 1.1× instead of 1.2×, so that a 20 % slowdown is a regression beyond the tolerance
    // rather than exactly on it. A 20 s interval rather than the default 5 s keeps the fixed-sample
    // judge's cost, some 50 ms a look on these windows, within a benchmark's budget; it coarsens every
    // time below to multiples of 20 s, for both designs. No absolute latency allowance (the spec's
    // default lets a median rise by 0.5 ms whatever the ratio): the simulated medians are 0.4 ms, and the
    // benchmark measures how fast the tests see a 20 % slowdown, which that allowance would accept.
    description:
      '200 requests/s, the canary at 20 %, 50 % and 80 %, bakes of { min: 20s, max: 60s } (Bonferroni: 60 s each), judged every 20 s, spec defaults but a 1.1× latency tolerance and no absolute latency allowance',
    rps: 200,
    canary: {
      steps: [
        { setWeight: 20 },
        { bake: 60_000, minBake: 20_000 },
        { setWeight: 50 },
        { bake: 60_000, minBake: 20_000 },
        { setWeight: 80 },
        { bake: 60_000, minBake: 20_000 },
      ],
      analysis: CanaryAnalysis.parse({
        interval: '20s',
        latency: { maxIncreaseRatio: 1.1, maxIncreaseMs: 0 },
      }),
    },
    designs: ['bonferroni', 'sequential'],
    populations: [HEALTHY, ERRORS_2, ERRORS_5, LATENCY_20],
  },
  {
    name: 'test-suite',
    description:
      "the test suite's live spec: 60 requests/s, three fixed 3 s bakes at 20 %, 50 %, 80 %, judged every 1 s, minSamples 20, 2 extensions of 3 s, spec default alphas and tolerances",
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
    },
    designs: ['bonferroni', 'sequential'],
    populations: [HEALTHY, ERRORS_5],
  },
];

const TRAFFIC = {
  latency: { medianMs: 0.4, sigma: 0.3 },
  /** Both versions fail this often on their own (network blips); the margin is about increases. */
  baseErrorRate: 0.001,
} as const;

const Outcome = z.object({
  rolledBack: z.boolean(),
  /** Which checks failed, or 'inconclusive (…)' when the last extension ended without a verdict. */
  cause: z.string().optional(),
  /** Seconds from the first step to the rollback, or to the promotion. */
  seconds: z.number(),
  /** Judgements made. */
  ticks: z.number(),
});
type Outcome = z.infer<typeof Outcome>;

interface Variant {
  version: string;
  requests: number;
  errors: number;
  latencyMs: number[];
  scores: number[];
}

const emptyVariant = (version: string): Variant => ({
  version,
  requests: 0,
  errors: 0,
  latencyMs: [],
  scores: [],
});

/** A per-rollout seed: the same traffic for every design, independent between rollouts. */
function seedOf(scenario: number, population: string, rollout: number): number {
  let h = SEED + scenario * 2_654_435_761;
  for (const ch of population) h = Math.imul(h ^ ch.charCodeAt(0), 16_777_619);
  return (h + rollout * 7_919) >>> 0;
}

function modeOf(design: Design): CanaryAnalysisMode {
  return design;
}

/** The gateway's per-variant sample cap: past it a window keeps its earliest samples only. */
const MAX_SAMPLES = DEFAULT_WINDOW_STATS.maxSamples;

export function simulate(scenario: Scenario, design: Design, population: Population, seed: number): Outcome {
  const { canary, rps } = scenario;
  const { latency, baseErrorRate } = TRAFFIC;
  const { interval, onInconclusive } = canary.analysis;
  const mode = modeOf(design);
  const spent = alphaSpent(canary.analysis, plannedTests(canary, mode));
  const rng = seededRng(seed);
  let weight = 0;
  let clock = 0;
  let ticks = 0;
  for (const step of canary.steps) {
    if ('setWeight' in step) {
      weight = step.setWeight;
      continue;
    }
    if (!('bake' in step)) continue;
    // A step's window grows from its start through every extension, as in the workflow.
    const stable = emptyVariant('1');
    const canaryWindow = emptyVariant('2');
    let sampling = true;
    const request = (v: Variant, isCanary: boolean): void => {
      v.requests++;
      const factor = isCanary ? population.latencyFactor : 1;
      const latencyMs = factor * latency.medianMs * Math.exp(latency.sigma * rng.normal());
      const errorRate = baseErrorRate + (isCanary ? population.extraErrors : 0);
      const failed = rng.uniform() < errorRate;
      const score = failed ? undefined : 1 / (1 + Math.exp(-(-1.5 + 1.5 * rng.normal())));
      if (failed) v.errors++;
      if (!sampling) return;
      v.latencyMs.push(latencyMs);
      if (score !== undefined) v.scores.push(score);
      if (v.latencyMs.length >= MAX_SAMPLES) sampling = false;
    };
    let elapsed = 0;
    const advance = (ms: number): void => {
      const arrivals = Math.round((rps * ms) / 1000);
      for (let i = 0; i < arrivals; i++) {
        if (rng.uniform() * 100 < weight) request(canaryWindow, true);
        else request(stable, false);
      }
      elapsed += ms;
      clock += ms;
    };
    const judge = (lastLook: boolean) => {
      ticks++;
      return judgeCanary(
        {
          model: 'sim',
          generation: 1,
          variants: { stable, canary: canaryWindow },
          shadowComparison: NO_SHADOW_COMPARISON,
          windowStartMs: 0,
          windowEndMs: elapsed,
        } satisfies StatsSnapshot,
        spent,
        // The confidence sequences' ends are evidence only; no decision reads them.
        { mode, sequential: { bounds: false }, lastLook: lastLook && mode === 'sequential' },
      );
    };
    // As the workflow: a sequential bake may end once passed after its minimum; a Bonferroni bake runs
    // to its maximum; every extension ends once passed.
    let watchMs = step.bake;
    let passAfter = mode === 'sequential' ? (step.minBake ?? step.bake) : Infinity;
    for (let extension = 0; ; extension++) {
      let t = 0;
      let last = judge(watchMs <= 0);
      // Ticks at 0, interval, 2·interval, … and at the deadline, as the watch activity takes them.
      for (;;) {
        if (last.status === 'failed') {
          const failed = last.checks.filter((c) => c.status === 'failed').map((c) => c.name);
          return { rolledBack: true, cause: failed.join(' + '), seconds: clock / 1000, ticks };
        }
        if (last.status === 'passed' && t >= passAfter) break;
        if (t >= watchMs) break;
        const next = Math.min(interval, watchMs - t);
        advance(next);
        t += next;
        last = judge(t >= watchMs);
      }
      if (last.status !== 'inconclusive') break;
      if (extension >= onInconclusive.maxExtensions) {
        const open = last.checks.filter((c) => c.status === 'inconclusive').map((c) => c.name);
        return {
          rolledBack: true,
          cause: `inconclusive (${open.join(' + ')})`,
          seconds: clock / 1000,
          ticks,
        };
      }
      watchMs = onInconclusive.extendBy;
      passAfter = 0;
    }
  }
  return { rolledBack: false, seconds: clock / 1000, ticks };
}

// ---------------------------------------------------------------------------------------------------
// Sharding over child processes

interface Job {
  readonly scenario: number;
  readonly design: Design;
  readonly population: number;
  readonly rollout: number;
}

const ShardResult = z.object({ outcomes: z.array(z.tuple([z.number(), Outcome])) });

function allJobs(): Job[] {
  const jobs: Job[] = [];
  SCENARIOS.forEach((sc, scenario) => {
    for (const design of sc.designs)
      sc.populations.forEach((p, population) => {
        for (let rollout = 0; rollout < p.rollouts; rollout++)
          jobs.push({ scenario, design, population, rollout });
      });
  });
  return jobs;
}

function runJob(job: Job): Outcome {
  const scenario = SCENARIOS[job.scenario] as Scenario;
  const population = scenario.populations[job.population] as Population;
  return simulate(scenario, job.design, population, seedOf(job.scenario, population.name, job.rollout));
}

/** In a child: run every `shards`-th job from `shard` on, send the outcomes back, exit. */
function runShard(shard: number, shards: number): void {
  const jobs = allJobs();
  const outcomes: [number, Outcome][] = [];
  for (let i = shard; i < jobs.length; i += shards) {
    outcomes.push([i, runJob(jobs[i] as Job)]);
    if (outcomes.length % 250 === 0)
      console.log(
        `  shard ${shard}: ${outcomes.length}/${Math.ceil((jobs.length - shard) / shards)} rollouts`,
      );
  }
  process.send?.({ outcomes }, () => process.exit(0));
}

async function runAll(log: (line: string) => void): Promise<Outcome[]> {
  const jobs = allJobs();
  const shards = Math.max(1, Math.min(os.availableParallelism(), 8));
  log(`  ${jobs.length} rollouts over ${shards} child process(es)…`);
  const children = Array.from(
    { length: shards },
    (_, shard) => new TsChild(__filename, ['--canary-shard', String(shard), String(shards)]),
  );
  const results = await Promise.all(children.map((c) => c.next(ShardResult, 4 * 3600_000)));
  const outcomes = new Array<Outcome>(jobs.length);
  for (const r of results) for (const [i, o] of r.outcomes) outcomes[i] = o;
  return outcomes;
}

if (process.argv[2] === '--canary-shard') runShard(Number(process.argv[3]), Number(process.argv[4]));

// ---------------------------------------------------------------------------------------------------
// Report

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
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function seconds(x: number): string {
  return Number.isFinite(x) ? x.toFixed(0) : '—';
}

function causes(outcomes: readonly Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.cause ?? '?', (counts.get(o.cause ?? '?') ?? 0) + 1);
  return [...counts].map(([c, n]) => `${c}: ${n}`).join(', ') || '—';
}

type OutcomeRow = [number, number, number, string];

function row(o: Outcome): OutcomeRow {
  return [o.rolledBack ? 1 : 0, o.seconds, o.ticks, o.cause ?? ''];
}

const DESIGN_LABELS: Readonly<Record<Design, string>> = {
  bonferroni: 'bonferroni',
  sequential: 'sequential',
};

interface Summary {
  readonly falseRate: number;
  readonly medianHealthy: number;
  readonly caught: Record<string, number>;
}

/** Pure computation in child processes; the parent only collects and reports. */
export async function runCanaryBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  const all = await runAll(log);
  const jobs = allJobs();
  const tables: Table[] = [];
  const interpretation: string[] = [];
  // Outcomes as [rolled back (1/0), seconds, judgements, cause] rows, to keep the file small.
  const raw: Record<string, unknown> = { columns: ['rolledBack', 'seconds', 'ticks', 'cause'] };
  SCENARIOS.forEach((scenario, s) => {
    const outcomesOf = (design: Design, population: number): Outcome[] =>
      jobs.flatMap((j, i) =>
        j.scenario === s && j.design === design && j.population === population ? [all[i] as Outcome] : [],
      );
    const { canary, populations } = scenario;
    const alphas = canary.analysis;
    // Today's design bakes every step to its maximum: the time a healthy Bonferroni canary takes.
    const fixedBakes = canary.steps.reduce((sum, step) => sum + ('bake' in step ? step.bake : 0), 0) / 1000;
    const healthyRows: string[][] = [];
    const brokenRows: string[][] = [];
    const summary = new Map<Design, Summary>();
    raw[scenario.name] = {};
    for (const design of scenario.designs) {
      const healthy = outcomesOf(design, 0);
      const falseRollbacks = healthy.filter((o) => o.rolledBack);
      const promoted = healthy.filter((o) => !o.rolledBack);
      const medianHealthy = median(promoted.map((o) => o.seconds));
      healthyRows.push([
        DESIGN_LABELS[design],
        `${plannedTests(canary, modeOf(design))}`,
        `${falseRollbacks.length} / ${healthy.length}`,
        pct(falseRollbacks.length / healthy.length),
        wilson(falseRollbacks.length, healthy.length),
        causes(falseRollbacks),
        `${seconds(medianHealthy)} (fixed bakes: ${fixedBakes})`,
        `${median(healthy.map((o) => o.ticks))}`,
      ]);
      const designRaw: Record<string, OutcomeRow[]> = { healthyRolledBack: falseRollbacks.map(row) };
      const caughtRates: Record<string, number> = {};
      populations.forEach((p, index) => {
        if (index === 0) return;
        const broken = outcomesOf(design, index);
        const caught = broken.filter((o) => o.rolledBack && !o.cause?.startsWith('inconclusive'));
        const exhausted = broken.filter((o) => o.rolledBack && o.cause?.startsWith('inconclusive'));
        const missed = broken.filter((o) => !o.rolledBack);
        brokenRows.push([
          p.label,
          DESIGN_LABELS[design],
          `${caught.length} / ${broken.length}`,
          pct(caught.length / broken.length),
          seconds(median(caught.map((o) => o.seconds))),
          `${exhausted.length}`,
          `${missed.length}`,
          seconds(median(broken.filter((o) => o.rolledBack).map((o) => o.seconds))),
        ]);
        designRaw[p.name] = broken.map(row);
        caughtRates[p.label] = caught.length / broken.length;
      });
      (raw[scenario.name] as Record<string, Record<string, OutcomeRow[]>>)[design] = designRaw;
      summary.set(design, {
        falseRate: falseRollbacks.length / healthy.length,
        medianHealthy,
        caught: caughtRates,
      });
      log(
        `  ${scenario.name}, ${DESIGN_LABELS[design]}: ${falseRollbacks.length}/${healthy.length} healthy rolled back, healthy median ${seconds(medianHealthy)} s`,
      );
    }
    brokenRows.sort(
      (a, b) =>
        populations.findIndex((p) => p.label === a[0]) - populations.findIndex((p) => p.label === b[0]),
    );
    const alphaSum = alphas.errorRateAlpha + alphas.latency.alpha + alphas.prediction.ksAlpha;
    const each = (f: (x: Summary) => string): string =>
      scenario.designs.map((d) => `${DESIGN_LABELS[d]} ${f(summary.get(d) as Summary)}`).join(', ');
    interpretation.push(
      `${scenario.name}: healthy candidate, whole rollout, inconclusive counted as a rollback: ${each((x) => pct(x.falseRate))} false rollbacks; the spec's alphas sum to ${pct(alphaSum)} (error rate ${alphas.errorRateAlpha}, latency ${alphas.latency.alpha}, prediction ${alphas.prediction.ksAlpha}), the bound every design promises; Bonferroni divides them by ${plannedLooks(canary)} planned looks, the sequential analysis by ${plannedWindows(canary)} windows.`,
      `${scenario.name}: broken candidates caught by a failed check (not by running out of extensions): ${populations
        .slice(1)
        .map((p) => `${p.label}: ${each((x) => pct(x.caught[p.label] ?? NaN))}`)
        .join('; ')}.`,
      `${scenario.name}: healthy canaries promoted after a median of ${each((x) => `${seconds(x.medianHealthy)} s`)} (${fixedBakes} s of fixed bakes).`,
    );
    tables.push(
      {
        title: `${scenario.name} — healthy candidate: false rollbacks over ${HEALTHY_ROLLOUTS} simulated rollouts`,
        columns: [
          'design',
          'alpha divided by',
          'rolled back',
          'rate',
          '95 % interval (Wilson)',
          'causes',
          'median s to promotion',
          'median judgements',
        ],
        rows: healthyRows,
      },
      {
        title: `${scenario.name} — broken candidates (broken from the first step): detection over ${BROKEN_ROLLOUTS} rollouts each`,
        columns: [
          'candidate',
          'design',
          'caught by a failed check',
          'rate',
          'median s to that rollback',
          'rolled back as still inconclusive',
          'promoted',
          'median s to any rollback',
        ],
        rows: brokenRows,
      },
    );
  });
  return {
    ...runRecord('canary', started, command, machine),
    settings: {
      healthyRollouts: HEALTHY_ROLLOUTS,
      brokenRollouts: BROKEN_ROLLOUTS,
      seed: SEED,
      traffic: TRAFFIC,
      scenarios: SCENARIOS.map((sc) => ({
        name: sc.name,
        description: sc.description,
        rps: sc.rps,
        steps: sc.canary.steps,
        analysis: sc.canary.analysis,
        designs: sc.designs,
        populations: sc.populations.map((p) => p.name),
      })),
      designs: {
        bonferroni: 'fixed-sample tests at alpha / plannedLooks; bakes run their full time',
        sequential:
          "anytime-valid e-processes (src/stats/sequential.ts) at alpha / plannedWindows; a bake ends after its minimum once every check is non-inferior; at a watch's deadline an undecided check passes when its point estimate is within the margin, else onInconclusive",
      },
    },
    tables,
    interpretation,
    notes: [
      `Simulated time, so the machine's speed does not enter the numbers; end load average ${(os.loadavg()[0] ?? 0).toFixed(2)}.`,
      'Rollout i of each population sees the same traffic in every design (the same seed), so the rows differ only in how it is judged.',
      `Each window keeps a step's samples from its start until either version has ${MAX_SAMPLES} (the gateway's DEFAULT_WINDOW_STATS.maxSamples, a prefix cut at one time for both versions); request and error counts are never cut.`,
      'The confidence sequences’ ends are not computed in the simulation (`bounds: false`): they are evidence only and no decision reads them.',
      'The previous run (2026-12-01) had a pure sequential design whose undecided checks became failures at every deadline: in the test-suite scenario, 36 canary requests a step cannot show an error rate within 1 % at level 0.05/3, so every healthy canary was rolled back for lack of evidence. Now a deadline passes an undecided check whose point estimate is within the margin (the failure e-process never crossed, so false rollbacks stay bounded by alpha) and only a check leaning beyond the margin goes to onInconclusive.',
    ],
    raw,
  };
}
