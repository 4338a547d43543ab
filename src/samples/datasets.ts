import { writeFile } from 'node:fs/promises';
import { type Dataset } from '../dataset/dataset';
import { seededRng } from './rng';

/**
 * Synthetic fraud data with a known generating process, so sample models have known quality:
 *
 *   f0..f10 ~ N(0, 1) + shift;   gender ∈ {a, b} 50/50;   f11 = ±1.5 (a: +, b: −) + N(0, 0.5²) + shift
 *   is_fraud ~ Bernoulli(sigmoid(TRUE_WEIGHTS · x + TRUE_BIAS)),  TRUE_WEIGHTS[11] = 0
 *
 * f11 is a proxy for gender that carries no signal about the label, so a model that leans on it is
 * unfair without being any better: that is what the `biased` sample model does.
 */
export const SAMPLE_FEATURES: readonly string[] = Array.from({ length: 12 }, (_, i) => `f${i}`);
export const SAMPLE_LABEL = 'is_fraud';
export const SAMPLE_SENSITIVE: readonly string[] = ['gender'];
export const SAMPLE_GROUPS = ['a', 'b'] as const;

export const TRUE_WEIGHTS: readonly number[] = [1.2, -0.9, 0.8, 0.6, -0.5, 0.4, 0.3, -0.3, 0.2, 0.15, 0.1, 0];
export const TRUE_BIAS = -1.5;
/** How far f11's mean sits from zero for each gender. */
export const GENDER_PROXY_OFFSET = 1.5;
const GENDER_PROXY_NOISE = 0.5;

export interface SampleDatasetOptions {
  readonly rows: number;
  readonly seed: number;
  /** Added to every feature's mean (one number for all, or one per feature), to simulate drift. */
  readonly shift?: number | readonly number[];
}

function shiftFor(shift: SampleDatasetOptions['shift'], feature: number): number {
  if (shift === undefined) return 0;
  if (typeof shift === 'number') return shift;
  return shift[feature] ?? 0;
}

export function sampleDataset(options: SampleDatasetOptions): Dataset {
  const { rows, seed } = options;
  if (!Number.isInteger(rows) || rows < 0)
    throw new RangeError(`rows must be a non-negative integer, got ${rows}`);
  if (Array.isArray(options.shift) && options.shift.length !== SAMPLE_FEATURES.length) {
    throw new RangeError(`shift must have ${SAMPLE_FEATURES.length} entries, got ${options.shift.length}`);
  }
  const rng = seededRng(seed);
  const width = SAMPLE_FEATURES.length;
  const features = new Float32Array(rows * width);
  const labels = new Float64Array(rows);
  const gender: string[] = new Array<string>(rows);

  for (let r = 0; r < rows; r++) {
    const group = rng.uniform() < 0.5 ? 'a' : 'b';
    gender[r] = group;
    let logit = TRUE_BIAS;
    for (let f = 0; f < width; f++) {
      const base =
        f === width - 1
          ? (group === 'a' ? GENDER_PROXY_OFFSET : -GENDER_PROXY_OFFSET) + GENDER_PROXY_NOISE * rng.normal()
          : rng.normal();
      const value = Math.fround(base + shiftFor(options.shift, f));
      features[r * width + f] = value;
      logit += (TRUE_WEIGHTS[f] ?? 0) * value;
    }
    labels[r] = rng.uniform() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  }
  return {
    featureNames: SAMPLE_FEATURES,
    rows,
    features,
    labelName: SAMPLE_LABEL,
    labels,
    sensitive: { gender },
  };
}

/** Quotes a CSV field only when RFC 4180 requires it. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Renders a dataset as CSV: features, then sensitive columns, then the label. */
export function datasetToCsv(ds: Dataset): string {
  const sensitiveNames = Object.keys(ds.sensitive);
  const width = ds.featureNames.length;
  const lines: string[] = [[...ds.featureNames, ...sensitiveNames, ds.labelName].map(csvField).join(',')];
  for (let r = 0; r < ds.rows; r++) {
    const cells: string[] = [];
    for (let f = 0; f < width; f++) cells.push(String(ds.features[r * width + f]));
    for (const name of sensitiveNames) cells.push(csvField(ds.sensitive[name]?.[r] ?? ''));
    cells.push(String(ds.labels[r]));
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}

export async function writeDatasetCsv(ds: Dataset, path: string): Promise<void> {
  await writeFile(path, datasetToCsv(ds), 'utf8');
}
