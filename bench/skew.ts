/**
 * Train/serve skew in shadow: is a candidate whose live input is broken rolled back, and is a healthy one
 * — a better model of another family, on a population that has shifted — let through?
 *
 * A Monte Carlo over the real shadow judge (src/live/shadow-judge.ts, src/live/skew.ts) with the example
 * spec's shadow (examples/promotion.yaml: 100 requests, 10 s, 2 min) at 20 requests/s, judged every
 * second as the watch activity does. Only the models and the traffic are simulated:
 *
 * - six standard-normal features; the champion is a logistic regression on f0..f3 (it ignores f4, f5);
 *   the candidate, "gradient boosting", has steeper, piecewise-constant logits, an f0·f4 interaction,
 *   and relies on f5 (logit weight 1.2, about a third of its logit variance).
 * - each rollout scores its own holdout of 2000 rows with both models (the evaluator's sketches), then
 *   mirrors live requests, one row each, scored by both (agreement at 0.5 from the same rows).
 * - healthy: the population shifts for both models: every feature both use (f0..f3) moves by up to
 *   0.5 SD and its spread by up to ±20 %, a new draw per rollout.
 * - broken: the same shifts, plus f5 arriving rescaled (×100, ×0.01: other units), empty (0, the
 *   imputed mean) or defaulted (−1, a sentinel) in live traffic only.
 * - the design of today's spec (agreement ≥ 0.8 and PSI(champion, candidate) ≤ 0.2, no skew) judges the
 *   very same rollouts (the same seeds), side by side with the new defaults.
 */
import os from 'node:os';
import { sketchScores } from '../src/evaluation/score-sketch';
import { judgeShadow } from '../src/live/shadow-judge';
import type { HoldoutScores, ScoreSketch } from '../src/promotion/contracts';
import type { StatsSnapshot } from '../src/promotion/stats-snapshot';
import { seededRng, type SampleRng } from '../src/samples/rng';
import { Shadow } from '../src/spec/schema';
import { machineInfo } from './lib/machine';
import { runRecord, type BenchResult, type Table } from './lib/report';

const RPS = 20;
const HOLDOUT_ROWS = 2000;
const HEALTHY_ROLLOUTS = 2000;
const BROKEN_ROLLOUTS_PER_KIND = 100;
const SHADOW_INPUT = { sampleRate: 100, minRequests: 100, minDuration: '10s', maxDuration: '2m' } as const;

const DESIGNS = {
  'skew (new defaults)': Shadow.parse(SHADOW_INPUT),
  'vs champion (old example)': Shadow.parse({
    ...SHADOW_INPUT,
    checks: { minAgreement: 0.8, maxPsi: 0.2 },
  }),
} as const;
type DesignName = keyof typeof DESIGNS;

type Row = readonly number[];
type Corruption = (row: number[]) => void;

/** f5 is in raw units (mean 5, SD 2, e.g. account age in years); the candidate standardises it itself. */
const F5_MEAN = 5;
const F5_SD = 2;

export const BROKEN: Readonly<Record<string, Corruption>> = {
  'f5 ×100 (other units)': (r) => void (r[5] = (r[5] as number) * 100),
  'f5 ×0.01 (other units)': (r) => void (r[5] = (r[5] as number) * 0.01),
  'f5 empty (sent as 0)': (r) => void (r[5] = 0),
  'f5 defaulted (−1 sentinel)': (r) => void (r[5] = -1),
};

/** Reported apart: filling f5 with its own mean only removes its spread, which marginal scores barely show. */
export const MEAN_IMPUTED: Readonly<Record<string, Corruption>> = {
  'f5 imputed with its mean (limit)': (r) => void (r[5] = F5_MEAN),
};

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

function champion(x: Row): number {
  return sigmoid(-1 + 0.9 * x[0]! + 0.6 * x[1]! - 0.5 * x[2]! + 0.4 * x[3]!);
}

function candidate(x: Row): number {
  const f5 = (x[5]! - F5_MEAN) / F5_SD;
  const logit = -1.2 + 1.3 * x[0]! + 0.8 * x[1]! - 0.7 * x[2]! + 0.4 * x[3]! + 1.2 * f5 + 0.6 * x[0]! * x[4]!;
  // Trees: piecewise constant, so scores take a limited set of values.
  return sigmoid(Math.round(logit * 4) / 4);
}

interface Population {
  readonly mean: readonly number[];
  readonly scale: readonly number[];
}

/** Shifts of f0..f3 (the features both models use); f4, f5 as in the holdout. */
function shiftedPopulation(rng: SampleRng): Population {
  const mean = [0, 1, 2, 3].map(() => (rng.uniform() * 2 - 1) * 0.5);
  const scale = [0, 1, 2, 3].map(() => 0.8 + 0.4 * rng.uniform());
  return { mean: [...mean, 0, F5_MEAN], scale: [...scale, 1, F5_SD] };
}

const UNSHIFTED: Population = { mean: [0, 0, 0, 0, 0, F5_MEAN], scale: [1, 1, 1, 1, 1, F5_SD] };

function draw(rng: SampleRng, p: Population): number[] {
  return p.mean.map((m, j) => m + (p.scale[j] as number) * rng.normal());
}

function holdoutSketches(rng: SampleRng): HoldoutScores {
  const cand: number[] = [];
  const champ: number[] = [];
  for (let i = 0; i < HOLDOUT_ROWS; i++) {
    const x = draw(rng, UNSHIFTED);
    cand.push(candidate(x));
    champ.push(champion(x));
  }
  const sketch = (s: number[]): ScoreSketch => sketchScores(s) as ScoreSketch;
  return { datasetSha256: 'simulated', candidate: sketch(cand), champion: sketch(champ) };
}

interface Outcome {
  readonly rolledBack: boolean;
  readonly seconds: number;
  /** Names of the failed checks, or 'timeout'/'passed'. */
  readonly cause: string;
}

export function simulate(seed: number, corrupt: Corruption | undefined): Record<DesignName, Outcome> {
  const rng = seededRng(seed);
  const reference = holdoutSketches(rng);
  const population = shiftedPopulation(rng);
  const maxSeconds = DESIGNS['skew (new defaults)'].maxDuration / 1000;
  // One stream of traffic; each design judges it until it decides.
  const stable: number[] = [];
  const shadow: number[] = [];
  let agreements = 0;
  const done: Partial<Record<DesignName, Outcome>> = {};
  for (let t = 1; t <= maxSeconds && Object.keys(done).length < 2; t++) {
    for (let r = 0; r < RPS; r++) {
      const x = draw(rng, population);
      const s = champion(x);
      if (corrupt) corrupt(x);
      const c = candidate(x);
      stable.push(s);
      shadow.push(c);
      if (s >= 0.5 === c >= 0.5) agreements++;
    }
    const stats = snapshotOf(stable, shadow, agreements);
    for (const [name, spec] of Object.entries(DESIGNS) as [DesignName, Shadow][]) {
      if (done[name]) continue;
      // Today's design has no holdout reference: it compares with the champion only.
      const j = judgeShadow(stats, spec, t * 1000, name === 'skew (new defaults)' ? { reference } : {});
      if (j.verdict.status === 'failed') {
        const failed = j.verdict.checks.filter((c) => c.status === 'failed').map((c) => c.name);
        done[name] = { rolledBack: true, seconds: t, cause: failed.join('+') };
      } else if (j.ready && j.verdict.status === 'passed') {
        done[name] = { rolledBack: false, seconds: t, cause: 'passed' };
      } else if (t === maxSeconds) {
        done[name] = { rolledBack: true, seconds: t, cause: 'timeout' };
      }
    }
  }
  return done as Record<DesignName, Outcome>;
}

function snapshotOf(stable: number[], shadow: number[], agreements: number): StatsSnapshot {
  const window = (version: string, scores: number[]) => ({
    version,
    requests: scores.length,
    errors: 0,
    latencyMs: [],
    scores,
  });
  return {
    model: 'bench',
    generation: 2,
    variants: { stable: window('1', stable), shadow: window('2', shadow) },
    shadowComparison: {
      pairs: shadow.length,
      observedPairs: shadow.length,
      agreements,
      threshold: 0.5,
      meanAbsDiff: null,
      maxAbsDiff: null,
      nanCount: 0,
    },
    windowStartMs: 0,
    windowEndMs: stable.length * 50,
  };
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const pct = (k: number, n: number): string => `${((100 * k) / n).toFixed(2)} % (${k}/${n})`;

interface Summary {
  readonly population: string;
  readonly design: DesignName;
  readonly rollouts: number;
  readonly rolledBack: number;
  readonly byFailedCheck: number;
  readonly bySkew: number;
  readonly medianSecondsToRollback: number;
  readonly medianSecondsToPass: number;
}

function summarize(population: string, design: DesignName, outcomes: readonly Outcome[]): Summary {
  const back = outcomes.filter((o) => o.rolledBack);
  const failed = back.filter((o) => o.cause !== 'timeout');
  return {
    population,
    design,
    rollouts: outcomes.length,
    rolledBack: back.length,
    byFailedCheck: failed.length,
    bySkew: failed.filter((o) => o.cause.includes('skew')).length,
    medianSecondsToRollback: median(back.map((o) => o.seconds)),
    medianSecondsToPass: median(outcomes.filter((o) => !o.rolledBack).map((o) => o.seconds)),
  };
}

export function runSkewBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  const populations: [string, Corruption | undefined, number, number][] = [
    ['healthy, population shifted for both', undefined, HEALTHY_ROLLOUTS, 1_000_000],
    ...Object.entries(BROKEN).map(([name, corrupt], k): [string, Corruption, number, number] => [
      `broken: ${name}`,
      corrupt,
      BROKEN_ROLLOUTS_PER_KIND,
      2_000_000 + k * 10_000,
    ]),
    ...Object.entries(MEAN_IMPUTED).map(([name, corrupt]): [string, Corruption, number, number] => [
      `limit: ${name}`,
      corrupt,
      BROKEN_ROLLOUTS_PER_KIND,
      3_000_000,
    ]),
  ];
  const summaries: Summary[] = [];
  const raw: Record<string, Record<DesignName, string[]>> = {};
  for (const [population, corrupt, n, seed0] of populations) {
    log(`${population}: ${n} rollouts`);
    const byDesign: Record<DesignName, Outcome[]> = {
      'skew (new defaults)': [],
      'vs champion (old example)': [],
    };
    for (let i = 0; i < n; i++) {
      const o = simulate(seed0 + i, corrupt);
      for (const d of Object.keys(byDesign) as DesignName[]) byDesign[d].push(o[d]);
    }
    raw[population] = Object.fromEntries(
      Object.entries(byDesign).map(([d, os]) => [
        d,
        os.map((o) => `${o.rolledBack ? 1 : 0},${o.seconds},${o.cause}`),
      ]),
    ) as Record<DesignName, string[]>;
    for (const d of Object.keys(byDesign) as DesignName[])
      summaries.push(summarize(population, d, byDesign[d]));
  }
  const brokenAll = (design: DesignName) =>
    summaries.filter((s) => s.design === design && s.population.startsWith('broken'));
  const limit = (design: DesignName) =>
    summaries.find((s) => s.design === design && s.population.startsWith('limit'));
  const tables: Table[] = [
    {
      title:
        'Shadow outcomes per population and design (simulated seconds; 20 requests/s, judged every second)',
      columns: [
        'population',
        'design',
        'rollouts',
        'rolled back',
        'by a failed check',
        'by the skew check',
        'median s to rollback',
        'median s to pass',
      ],
      rows: summaries.map((s) => [
        s.population,
        s.design,
        String(s.rollouts),
        pct(s.rolledBack, s.rollouts),
        pct(s.byFailedCheck, s.rollouts),
        pct(s.bySkew, s.rollouts),
        Number.isNaN(s.medianSecondsToRollback) ? '—' : String(s.medianSecondsToRollback),
        Number.isNaN(s.medianSecondsToPass) ? '—' : String(s.medianSecondsToPass),
      ]),
    },
  ];
  const healthy = (d: DesignName) =>
    summaries.find((s) => s.design === d && s.population.startsWith('healthy'));
  const interpretation: string[] = [];
  for (const d of Object.keys(DESIGNS) as DesignName[]) {
    const b = brokenAll(d);
    const caught = b.reduce((a, s) => a + s.byFailedCheck, 0);
    const total = b.reduce((a, s) => a + s.rollouts, 0);
    const h = healthy(d);
    interpretation.push(
      `${d}: broken candidates caught by a failed check in ${pct(caught, total)} (worst kind ${Math.min(...b.map((s) => (100 * s.byFailedCheck) / s.rollouts)).toFixed(1)} %), median ${median(b.map((s) => s.medianSecondsToRollback))} s to rollback; healthy candidates rolled back in ${h ? pct(h.rolledBack, h.rollouts) : '—'}; f5 imputed with its own mean caught in ${pct(limit(d)?.byFailedCheck ?? 0, limit(d)?.rollouts ?? 0)}.`,
    );
  }
  return Promise.resolve({
    ...runRecord('skew', started, command, machine),
    settings: {
      shadow: SHADOW_INPUT,
      rps: RPS,
      holdoutRows: HOLDOUT_ROWS,
      healthyRollouts: HEALTHY_ROLLOUTS,
      brokenRolloutsPerKind: BROKEN_ROLLOUTS_PER_KIND,
      designs: {
        'skew (new defaults)': DESIGNS['skew (new defaults)'].checks,
        'vs champion (old example)': DESIGNS['vs champion (old example)'].checks,
      },
      seeds: 'healthy rollout i: 1000000 + i; broken kind k, rollout i: 2000000 + 10000k + i',
    },
    tables,
    interpretation,
    notes: [
      `Simulated time, so the machine's speed does not enter the numbers; end load average ${(os.loadavg()[0] ?? 0).toFixed(2)}.`,
      'Both designs judge the very same traffic of each rollout; the skew check is judged at readiness (100 requests and 10 s), like every point check of the shadow.',
      'Not measured here: a genuine population shift in a feature only the candidate uses looks like skew by construction (the candidate moves alone) and is rolled back; the check cannot tell the two apart.',
    ],
    raw,
  });
}
