/**
 * Child-process entry: measures ONE offline-evaluation operation in a fresh process, so its time is
 * cold (as in a gate activity) and its memory peak is its own. argv[2] is a JSON GatesPoint. Data is
 * prepared first (sample dataset, ORT scores), then the peak-RSS mark is reset and the operation
 * timed. Sends one GatesMeasurement.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { openSession } from '../../src/onnx/session';
import { sampleDataset } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { judgePerformance } from '../../src/gates/performance';
import { PerformanceCheck } from '../../src/spec/gates-schema';
import { pairedBootstrap } from '../../src/stats/bootstrap';
import { fairnessMetric } from '../../src/stats/fairness';
import { computeMetric } from '../../src/stats/metrics';
import { aucBefore, pairedBootstrapBefore } from './gates-baseline';

export const GatesTask = z.enum([
  'score',
  'bootstrap-auc',
  'bootstrap-log_loss',
  'fairness',
  'auc',
  // Issue 14: the pre-change code (./gates-baseline), a whole performance gate, and the data export
  // scikit-learn reads so it scores exactly the rows `auc` scores.
  'auc-before',
  'bootstrap-auc-before',
  'bootstrap-log_loss-before',
  'gate-vs-champion',
  'export-auc-data',
]);
export type GatesTask = z.infer<typeof GatesTask>;

export const GatesPoint = z.strictObject({
  task: GatesTask,
  rows: z.number().int().min(1),
  resamples: z.number().int().min(1),
  seed: z.number().int(),
  /** export-auc-data: file prefix for `<prefix>.scores.f32` and `<prefix>.labels.f64`. */
  exportTo: z.string().optional(),
});
export type GatesPoint = z.infer<typeof GatesPoint>;

export const GatesMeasurement = z.object({
  kind: z.literal('measured'),
  ms: z.number(),
  /** CPU time (user + system) of this process during the call: well below `ms` means it was descheduled. */
  cpuMs: z.number(),
  rssBefore: z.number(),
  peakRssDuring: z.number(),
  /** False when /proc/self/clear_refs could not reset the mark: the peak then covers data prep too. */
  peakIsolated: z.boolean(),
  /** What the operation computed, to show it did the work. */
  outcome: z.record(z.string(), z.union([z.number(), z.string()])),
});
export type GatesMeasurement = z.infer<typeof GatesMeasurement>;

function vm(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match?.[1]) throw new Error(`/proc/self/status has no ${field}`);
  return Number(match[1]) * 1024;
}

function resetPeak(): boolean {
  try {
    // "5" resets VmHWM to the current RSS (Linux ≥ 4.0).
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

type Operation = () => Promise<Record<string, number | string>> | Record<string, number | string>;

async function prepare(point: GatesPoint): Promise<Operation> {
  const data = sampleDataset({ rows: point.rows, seed: point.seed });
  const width = data.featureNames.length;
  const champion = await openSession(sampleModel('good'));
  if (point.task === 'score')
    return async () => {
      const scores = await champion.score(data.features, data.rows, width);
      return { scored: scores.length, first: scores[0] ?? NaN };
    };
  const championScores = await champion.score(data.features, data.rows, width);
  switch (point.task) {
    case 'auc':
      return () => ({ auc: computeMetric('auc', championScores, data.labels, 0.5) });
    case 'auc-before':
      return () => ({ auc: aucBefore(championScores, data.labels) });
    case 'export-auc-data': {
      const prefix = point.exportTo ?? '';
      const labels = Float64Array.from(data.labels);
      writeFileSync(
        `${prefix}.scores.f32`,
        new Uint8Array(championScores.buffer, championScores.byteOffset, championScores.byteLength),
      );
      writeFileSync(`${prefix}.labels.f64`, new Uint8Array(labels.buffer));
      return () => ({ rows: labels.length });
    }
    case 'fairness': {
      const gender = data.sensitive.gender ?? [];
      return () => {
        const dp = fairnessMetric('demographic_parity_ratio', championScores, data.labels, 0.5, gender, 30);
        const eo = fairnessMetric('equalized_odds_difference', championScores, data.labels, 0.5, gender, 30);
        return {
          demographicParityRatio: dp.status === 'measured' ? dp.value : dp.reason,
          equalizedOddsDifference: eo.status === 'measured' ? eo.value : eo.reason,
        };
      };
    }
    case 'gate-vs-champion': {
      const candidate = await openSession(sampleModel('good', { seed: 2 }));
      const candidateScores = await candidate.score(data.features, data.rows, width);
      const checks = [
        { metric: 'auc', min: 0.7 },
        { metric: 'auc', maxDropVsChampion: 0.01 },
        { metric: 'log_loss', maxRiseVsChampion: 0.02 },
      ].map((c) => PerformanceCheck.parse(c));
      return () => {
        const v = judgePerformance({
          checks,
          candidate: candidateScores,
          champion: championScores,
          labels: data.labels,
          threshold: 0.5,
          seed: point.seed,
          resamples: point.resamples,
        });
        return { status: v.status, aucDropLower: v.checks[1]?.interval?.lower ?? NaN };
      };
    }
    case 'bootstrap-auc-before':
    case 'bootstrap-log_loss-before': {
      const candidate = await openSession(sampleModel('good', { seed: 2 }));
      const candidateScores = await candidate.score(data.features, data.rows, width);
      const metric = point.task === 'bootstrap-auc-before' ? 'auc' : 'log_loss';
      return () => {
        const r = pairedBootstrapBefore({
          metric,
          candidate: candidateScores,
          champion: championScores,
          labels: data.labels,
          seed: point.seed,
          resamples: point.resamples,
          confidence: 0.95,
        });
        return { delta: r.delta, lower: r.lower, upper: r.upper, resamples: r.resamples };
      };
    }
    case 'bootstrap-auc':
    case 'bootstrap-log_loss': {
      const candidate = await openSession(sampleModel('good', { seed: 2 }));
      const candidateScores = await candidate.score(data.features, data.rows, width);
      const metric = point.task === 'bootstrap-auc' ? 'auc' : 'log_loss';
      return () => {
        const r = pairedBootstrap({
          metric,
          candidate: candidateScores,
          champion: championScores,
          labels: data.labels,
          threshold: 0.5,
          seed: point.seed,
          resamples: point.resamples,
          confidence: 0.95,
        });
        return { delta: r.delta, lower: r.lower, upper: r.upper, resamples: r.resamples };
      };
    }
  }
}

async function main(): Promise<void> {
  const point = GatesPoint.parse(JSON.parse(process.argv[2] ?? ''));
  const operation = await prepare(point);
  global.gc?.();
  const rssBefore = vm('VmRSS');
  const peakIsolated = resetPeak();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const outcome = await operation();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const measurement: GatesMeasurement = {
    kind: 'measured',
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssBefore,
    peakRssDuring: vm('VmHWM'),
    peakIsolated,
    outcome,
  };
  process.send?.(measurement, () => process.exit(0));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
