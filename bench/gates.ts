/**
 * Offline evaluation cost: ORT scoring, paired bootstrap, fairness and AUC at growing row counts.
 * Every repetition of every point is a fresh child process (bench/lib/gates-point.ts), so times are
 * cold-start times of one gate computation and memory peaks do not leak between points.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { toolPaths } from '../src/devstack/tools';
import { TsChild } from './lib/child';
import { GatesMeasurement, type GatesPoint, type GatesTask } from './lib/gates-point';
import { machineInfo } from './lib/machine';
import { runRecord, type BenchResult, type Table } from './lib/report';
import { formatSpread, MIB, spreadOf, type Spread } from './lib/summary';

const execFileAsync = promisify(execFile);

const REPEATS = 3;
const RESAMPLES = 1_000;
const SEED = 20_261_129;

interface PointSpec {
  readonly task: GatesTask;
  readonly rows: number;
  readonly label: string;
}

const POINTS: readonly PointSpec[] = [
  { task: 'score', rows: 10_000, label: 'ORT score (good model, one run)' },
  { task: 'score', rows: 100_000, label: 'ORT score (good model, one run)' },
  { task: 'bootstrap-auc', rows: 10_000, label: `paired bootstrap auc, ${RESAMPLES} resamples` },
  { task: 'bootstrap-auc', rows: 100_000, label: `paired bootstrap auc, ${RESAMPLES} resamples` },
  { task: 'bootstrap-log_loss', rows: 10_000, label: `paired bootstrap log_loss, ${RESAMPLES} resamples` },
  { task: 'bootstrap-log_loss', rows: 100_000, label: `paired bootstrap log_loss, ${RESAMPLES} resamples` },
  { task: 'fairness', rows: 10_000, label: 'fairness: dp ratio + eo difference' },
  { task: 'fairness', rows: 100_000, label: 'fairness: dp ratio + eo difference' },
  { task: 'auc', rows: 1_000_000, label: 'AUC alone' },
];

interface PointRun {
  readonly point: PointSpec;
  readonly measurements: readonly GatesMeasurement[];
  readonly ms: Spread;
  readonly cpuMs: Spread;
  /** CPU time over wall time of the call, percent: below 100 the process waited for a core. */
  readonly cpuPercent: Spread;
  readonly rssBeforeMiB: Spread;
  readonly peakMiB: Spread;
}

async function measureOnce(point: GatesPoint): Promise<GatesMeasurement> {
  const child = new TsChild(
    path.join(__dirname, 'lib', 'gates-point.ts'),
    [JSON.stringify(point)],
    ['--expose-gc'],
  );
  try {
    return await child.next(GatesMeasurement, 120_000);
  } finally {
    await child.stop(10_000);
  }
}

function throughputOf(run: PointRun): string {
  const perSec = run.point.rows / (run.ms.median / 1000);
  if (run.point.task.startsWith('bootstrap'))
    return `${((run.point.rows * RESAMPLES) / (run.ms.median / 1000) / 1e6).toFixed(1)} M row-resamples/s`;
  return `${(perSec / 1e6).toFixed(2)} M rows/s`;
}

/** Whether a ×10 in rows gave roughly ×10 in time (the bootstrap is meant to be O(n) per resample). */
function scaling(ratio: number): string {
  if (ratio >= 6 && ratio <= 14) return ', i.e. about linear';
  return ratio > 14 ? ', i.e. worse than linear' : ', i.e. fixed costs still matter at 10k';
}

function negligible(score: PointRun, bootstrap: PointRun | undefined): string {
  if (!bootstrap) return '';
  const share = score.cpuMs.median / bootstrap.cpuMs.median;
  return ` At 100k rows scoring costs ${(share * 100).toFixed(2)} % of the CPU of one auc bootstrap.`;
}

function interpret(runs: readonly PointRun[]): string[] {
  const find = (task: GatesTask, rows: number): PointRun | undefined =>
    runs.find((r) => r.point.task === task && r.point.rows === rows);
  const lines: string[] = [];
  const s10 = find('score', 10_000);
  const s100 = find('score', 100_000);
  if (s10 && s100)
    lines.push(
      `ORT scoring of 100k rows in one run: ${s100.ms.median.toFixed(1)} ms wall (${s100.cpuMs.median.toFixed(1)} ms CPU); 10k rows: ${s10.ms.median.toFixed(1)} ms wall (${s10.cpuMs.median.toFixed(1)} ms CPU).${negligible(s100, find('bootstrap-auc', 100_000))}`,
    );
  for (const metric of ['auc', 'log_loss'] as const) {
    const a = find(`bootstrap-${metric}`, 10_000);
    const b = find(`bootstrap-${metric}`, 100_000);
    if (a && b)
      lines.push(
        `Paired bootstrap (${RESAMPLES} resamples) of ${metric}: ${a.cpuMs.median.toFixed(0)} ms CPU (${a.ms.median.toFixed(0)} ms wall) at 10k rows, ${b.cpuMs.median.toFixed(0)} ms CPU (${b.ms.median.toFixed(0)} ms wall) at 100k — ×${(b.cpuMs.median / a.cpuMs.median).toFixed(1)} CPU for ×10 rows${scaling(b.cpuMs.median / a.cpuMs.median)}; memory grows by ${(b.peakMiB.median - b.rssBeforeMiB.median).toFixed(0)} MiB during the run at 100k.`,
      );
  }
  const f = find('fairness', 100_000);
  if (f)
    lines.push(
      `Fairness over 100k rows (two metrics, two groups): ${f.ms.median.toFixed(1)} ms wall (${f.cpuMs.median.toFixed(1)} ms CPU).`,
    );
  const auc = find('auc', 1_000_000);
  if (auc)
    lines.push(
      `AUC over 1M rows: ${auc.ms.median.toFixed(0)} ms wall (${auc.cpuMs.median.toFixed(0)} ms CPU), peak RSS ${auc.peakMiB.median.toFixed(0)} MiB with the 1M-row dataset loaded (${auc.rssBeforeMiB.median.toFixed(0)} MiB before the call).`,
    );
  const starved = runs.filter((r) => r.cpuPercent.median < 80);
  lines.push(
    starved.length === 0
      ? 'Every point got a core for (nearly) its whole run (CPU/wall ≥ 80 %), so the times are compute, not waiting for the shared CPU.'
      : `CPU/wall below 80 % for ${starved.map((r) => `${r.point.task} at ${r.point.rows.toLocaleString('en-US')} rows (${r.cpuPercent.median.toFixed(0)} %)`).join(', ')}: those processes waited for a core on the shared machine, so their wall times overstate the compute cost; the CPU ms column is the contention-free number.`,
  );
  return lines;
}

export async function runGatesBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  const runs: PointRun[] = [];
  for (const spec of POINTS) {
    const measurements: GatesMeasurement[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      const m = await measureOnce({
        task: spec.task,
        rows: spec.rows,
        resamples: RESAMPLES,
        seed: SEED + rep,
      });
      measurements.push(m);
      log(
        `  ${spec.task} n=${spec.rows} rep ${rep + 1}: ${m.ms.toFixed(1)} ms (cpu ${m.cpuMs.toFixed(1)} ms), peak ${(m.peakRssDuring / MIB).toFixed(0)} MiB`,
      );
    }
    runs.push({
      point: spec,
      measurements,
      ms: spreadOf(measurements.map((m) => m.ms)),
      cpuMs: spreadOf(measurements.map((m) => m.cpuMs)),
      cpuPercent: spreadOf(measurements.map((m) => (100 * m.cpuMs) / m.ms)),
      rssBeforeMiB: spreadOf(measurements.map((m) => m.rssBefore / MIB)),
      peakMiB: spreadOf(measurements.map((m) => m.peakRssDuring / MIB)),
    });
  }
  const isolated = runs.every((r) => r.measurements.every((m) => m.peakIsolated));
  const table: Table = {
    title: 'Offline evaluation cost (per point: median (min–max) over fresh processes)',
    columns: [
      'operation',
      'rows',
      'wall ms',
      'CPU ms',
      'CPU/wall %',
      'rate (wall)',
      'RSS before MiB',
      'peak RSS during MiB',
    ],
    rows: runs.map((r) => [
      r.point.label,
      r.point.rows.toLocaleString('en-US'),
      formatSpread(r.ms),
      formatSpread(r.cpuMs),
      formatSpread(r.cpuPercent, 0),
      throughputOf(r),
      formatSpread(r.rssBeforeMiB, 0),
      formatSpread(r.peakMiB, 0),
    ]),
  };
  const endLoad = (os.loadavg()[0] ?? 0).toFixed(2);
  return {
    ...runRecord('gates', started, command, machine),
    settings: {
      repetitions: REPEATS,
      resamples: RESAMPLES,
      confidence: 0.95,
      seedBase: SEED,
      data: 'sampleDataset (12 float32 features, binary label, gender a/b); champion = good, candidate = good seed 2',
      ort: 'openSession defaults: cpu EP, intraOpNumThreads 1, graph optimisation all; whole dataset in one run',
      process: 'one fresh Node process per repetition, --expose-gc, gc() before the timed call',
    },
    tables: [table],
    interpretation: interpret(runs),
    notes: [
      `The machine has ${machine.cores} cores shared with other work (1-minute load average ${machine.loadAverage1m} at start, ${endLoad} at end); every operation here is single-threaded, so contention shows up as spread.`,
      isolated
        ? 'Peak RSS during is VmHWM after resetting it (/proc/self/clear_refs = 5) right before the timed call: the peak of the operation on top of the data it was given. RSS before includes the dataset, the scores, the ORT session(s) and the Node/tsx runtime.'
        : 'Peak RSS could not be reset (/proc/self/clear_refs not writable), so the peak covers data preparation too.',
      'Times are of the first (cold, un-JITted) call in a fresh process, which is how a gate activity meets them.',
      'CPU/wall counts every thread of the process (V8 GC helpers, ORT), so it can exceed 100 %; well below 100 % means the process was waiting for a core.',
    ],
    raw: runs,
  };
}

// ---------------------------------------------------------------------------------------------------
// Issue 14: AUC and paired bootstrap before/after, and AUC against scikit-learn (`gates-speed`).

const SPEED_REPEATS = 5;
const SPEED_SEED = 20_261_201;

interface Sample {
  readonly ms: number;
  readonly cpuMs: number;
  readonly outcome: Readonly<Record<string, number | string>>;
}

interface SpeedVariant {
  readonly operation: string;
  readonly rows: number;
  readonly implementation: 'before' | 'after' | 'scikit-learn';
  readonly measure: () => Promise<Sample>;
}

const SklearnSample = z.object({
  ms: z.number(),
  cpuMs: z.number(),
  auc: z.number(),
  sklearn: z.string(),
  numpy: z.string(),
});

async function sklearnAuc(prefix: string): Promise<Sample> {
  const script = path.join(__dirname, 'lib', 'sklearn_auc.py');
  const { stdout } = await execFileAsync(toolPaths().python, [script, prefix], { maxBuffer: 1 << 20 });
  const r = SklearnSample.parse(JSON.parse(stdout));
  return { ms: r.ms, cpuMs: r.cpuMs, outcome: { auc: r.auc, sklearn: r.sklearn, numpy: r.numpy } };
}

function tsPoint(task: GatesTask, rows: number): () => Promise<Sample> {
  return async () => {
    const m = await measureOnce({ task, rows, resamples: RESAMPLES, seed: SPEED_SEED });
    return { ms: m.ms, cpuMs: m.cpuMs, outcome: m.outcome };
  };
}

function speedVariants(dataPrefix: string): SpeedVariant[] {
  const auc = 'AUC (one model, scores from ONNX as float32)';
  const bsAuc = `paired bootstrap auc, ${RESAMPLES} resamples`;
  const bsLogLoss = `paired bootstrap log_loss, ${RESAMPLES} resamples`;
  return [
    { operation: auc, rows: 1_000_000, implementation: 'before', measure: tsPoint('auc-before', 1_000_000) },
    { operation: auc, rows: 1_000_000, implementation: 'after', measure: tsPoint('auc', 1_000_000) },
    {
      operation: auc,
      rows: 1_000_000,
      implementation: 'scikit-learn',
      measure: () => sklearnAuc(dataPrefix),
    },
    {
      operation: bsAuc,
      rows: 100_000,
      implementation: 'before',
      measure: tsPoint('bootstrap-auc-before', 100_000),
    },
    { operation: bsAuc, rows: 100_000, implementation: 'after', measure: tsPoint('bootstrap-auc', 100_000) },
    {
      operation: bsLogLoss,
      rows: 100_000,
      implementation: 'before',
      measure: tsPoint('bootstrap-log_loss-before', 100_000),
    },
    {
      operation: bsLogLoss,
      rows: 100_000,
      implementation: 'after',
      measure: tsPoint('bootstrap-log_loss', 100_000),
    },
    {
      operation: `performance gate: auc ≥ 0.7, auc drop and log_loss rise vs champion, ${RESAMPLES} resamples`,
      rows: 100_000,
      implementation: 'after',
      measure: tsPoint('gate-vs-champion', 100_000),
    },
  ];
}

interface VariantRun {
  readonly variant: Omit<SpeedVariant, 'measure'>;
  readonly samples: readonly Sample[];
  readonly ms: Spread;
  readonly cpuMs: Spread;
  readonly cpuPercent: Spread;
}

function commandLines(file: string, args: readonly string[]): string[] {
  try {
    return execFileSync(file, [...args], { encoding: 'utf8' })
      .trimEnd()
      .split('\n');
  } catch {
    return [`(${file} not available)`];
  }
}

const ratio = (a: number, b: number): string => `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×`;

function speedInterpretation(runs: readonly VariantRun[]): string[] {
  const find = (
    operationStart: string,
    implementation: SpeedVariant['implementation'],
  ): VariantRun | undefined =>
    runs.find(
      (r) => r.variant.operation.startsWith(operationStart) && r.variant.implementation === implementation,
    );
  const lines: string[] = [];
  const [before, after, sk] = [find('AUC', 'before'), find('AUC', 'after'), find('AUC', 'scikit-learn')];
  if (before && after && sk) {
    const verdict =
      after.ms.median <= sk.ms.median && after.cpuMs.median <= sk.cpuMs.median
        ? 'no slower than scikit-learn in wall time and in CPU time'
        : after.cpuMs.median <= sk.cpuMs.median
          ? 'no slower than scikit-learn in CPU time, slower in wall time'
          : 'slower than scikit-learn';
    lines.push(
      `AUC over 1M rows: ${after.ms.median.toFixed(0)} ms wall / ${after.cpuMs.median.toFixed(0)} ms CPU after, against scikit-learn ${String(sk.samples[0]?.outcome.sklearn ?? '')} roc_auc_score ${sk.ms.median.toFixed(0)} ms wall / ${sk.cpuMs.median.toFixed(0)} ms CPU on the same rows (medians, runs interleaved): ${verdict} (scikit-learn / ours: ${ratio(sk.ms.median, after.ms.median)} wall, ${ratio(sk.cpuMs.median, after.cpuMs.median)} CPU). Before: ${before.ms.median.toFixed(0)} ms wall / ${before.cpuMs.median.toFixed(0)} ms CPU, so ${ratio(before.cpuMs.median, after.cpuMs.median)} less CPU.`,
    );
    const values = [before, after, sk].map((r) => Number(r.samples[0]?.outcome.auc));
    const spread = Math.max(...values) - Math.min(...values);
    lines.push(
      `All three computed AUC ${values[1]?.toFixed(12)} on these rows (largest difference ${spread.toExponential(1)}).`,
    );
  }
  for (const metric of ['auc', 'log_loss']) {
    const b = find(`paired bootstrap ${metric}`, 'before');
    const a = find(`paired bootstrap ${metric}`, 'after');
    if (!b || !a) continue;
    const wall =
      a.ms.max <= 1000
        ? 'every run within the 1 s target in wall time'
        : a.ms.median <= 1000
          ? 'the median run within the 1 s target in wall time'
          : `over the 1 s target in wall time, having had a core for only ${a.cpuPercent.median.toFixed(0)} % of its run`;
    const cpu =
      a.cpuMs.max <= 1000
        ? 'every run within 1 s of CPU'
        : a.cpuMs.median <= 1000
          ? 'the median run within 1 s of CPU'
          : 'over 1 s of CPU';
    lines.push(
      `Paired bootstrap of ${metric}, 100k rows × ${RESAMPLES} resamples: ${b.ms.median.toFixed(0)} ms wall / ${b.cpuMs.median.toFixed(0)} ms CPU before, ${a.ms.median.toFixed(0)} ms wall (max ${a.ms.max.toFixed(0)}) / ${a.cpuMs.median.toFixed(0)} ms CPU (max ${a.cpuMs.max.toFixed(0)}) after, ${ratio(b.cpuMs.median, a.cpuMs.median)} less CPU: ${cpu}, ${wall}.`,
    );
  }
  const gate = runs.find((r) => r.variant.operation.startsWith('performance gate'));
  if (gate)
    lines.push(
      `A whole performance gate at 100k rows (evidence tables of both models, one absolute and two vs-champion checks, ${RESAMPLES} shared resamples): ${gate.ms.median.toFixed(0)} ms wall (max ${gate.ms.max.toFixed(0)}) / ${gate.cpuMs.median.toFixed(0)} ms CPU.`,
    );
  const starved = runs.filter((r) => r.cpuPercent.median < 80);
  if (starved.length > 0)
    lines.push(
      `CPU/wall below 80 % for ${starved.length} of ${runs.length} rows: those processes waited for a core on the loaded machine, so their wall times overstate the compute; compare CPU ms across rows.`,
    );
  return lines;
}

export async function runGatesSpeedBench(command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const machine = machineInfo();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prograde-gates-speed-'));
  const prefix = path.join(dir, 'auc-1m');
  try {
    await measureOnce({
      task: 'export-auc-data',
      rows: 1_000_000,
      resamples: RESAMPLES,
      seed: SPEED_SEED,
      exportTo: prefix,
    });
    const variants = speedVariants(prefix);
    const samples = variants.map((): Sample[] => []);
    // Interleaved (before, after, scikit-learn, …, then again) so load changes hit every variant alike.
    for (let rep = 0; rep < SPEED_REPEATS; rep++) {
      for (const [i, variant] of variants.entries()) {
        const s = await variant.measure();
        samples[i]?.push(s);
        log(
          `  rep ${rep + 1} ${variant.implementation} ${variant.operation} n=${variant.rows}: ${s.ms.toFixed(1)} ms (cpu ${s.cpuMs.toFixed(1)} ms)`,
        );
      }
    }
    const runs: VariantRun[] = variants.map(({ measure: _measure, ...variant }, i) => {
      const own = samples[i] ?? [];
      return {
        variant,
        samples: own,
        ms: spreadOf(own.map((s) => s.ms)),
        cpuMs: spreadOf(own.map((s) => s.cpuMs)),
        cpuPercent: spreadOf(own.map((s) => (100 * s.cpuMs) / s.ms)),
      };
    });
    const table: Table = {
      title: `AUC and paired bootstrap before/after issue 14, and scikit-learn (median (min–max) over ${SPEED_REPEATS} fresh processes, interleaved)`,
      columns: [
        'operation',
        'rows',
        'implementation',
        'wall ms',
        'CPU ms',
        'CPU/wall %',
        'result (first run)',
      ],
      rows: runs.map((r) => [
        r.variant.operation,
        r.variant.rows.toLocaleString('en-US'),
        r.variant.implementation,
        formatSpread(r.ms),
        formatSpread(r.cpuMs),
        formatSpread(r.cpuPercent, 0),
        Object.entries(r.samples[0]?.outcome ?? {})
          .filter(([k]) => k !== 'sklearn' && k !== 'numpy')
          .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(10) : v}`)
          .join(', '),
      ]),
    };
    const endLoad = (os.loadavg()[0] ?? 0).toFixed(2);
    const sk = runs.find((r) => r.variant.implementation === 'scikit-learn')?.samples[0]?.outcome;
    return {
      ...runRecord('gates-speed', started, command, machine),
      settings: {
        repetitions: SPEED_REPEATS,
        resamples: RESAMPLES,
        seed: SPEED_SEED,
        data: 'sampleDataset (seed fixed, the same rows in every run); champion = good model, candidate = good seed 2; ORT float32 scores',
        before:
          'bench/lib/gates-baseline.ts: the AUC and paired bootstrap of commit e6ba152 (comparator sort, multinomial counts)',
        sklearn: `roc_auc_score from the tools venv (scikit-learn ${String(sk?.sklearn ?? '?')}, numpy ${String(sk?.numpy ?? '?')}), fed the same float32 scores and labels from a file; import and file read not timed`,
        process:
          'one fresh process per run (Node: --expose-gc, gc() before the timed call); the first, cold call is timed',
      },
      tables: [table],
      interpretation: speedInterpretation(runs),
      notes: [
        `Machine loaded by other work during the run: ${machine.cores} cores, 1-minute load average ${machine.loadAverage1m} at start and ${endLoad} at end; runs were interleaved so the load hits every implementation alike, and the CPU column is the number least affected by it.`,
        `\`nproc\`: ${commandLines('nproc', []).join(' ')}; node ${process.version}.`,
        `\`lscpu | head\`: ${commandLines('lscpu', [])
          .slice(0, 10)
          .map((l) => l.replace(/\s+/g, ' '))
          .join('; ')}.`,
      ],
      raw: runs,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
