/**
 * Offline evaluation cost: ORT scoring, paired bootstrap, fairness and AUC at growing row counts.
 * Every repetition of every point is a fresh child process (bench/lib/gates-point.ts), so times are
 * cold-start times of one gate computation and memory peaks do not leak between points.
 */
import os from 'node:os';
import path from 'node:path';
import { TsChild } from './lib/child';
import { GatesMeasurement, type GatesPoint, type GatesTask } from './lib/gates-point';
import { machineInfo } from './lib/machine';
import { runRecord, type BenchResult, type Table } from './lib/report';
import { formatSpread, MIB, spreadOf, type Spread } from './lib/summary';

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
