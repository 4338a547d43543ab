import { createHash } from 'node:crypto';
import { ProgradeError, messageOf } from '../errors';
import { InputFileError, formatBytes, readInputFile } from '../input-file';
import { CsvSyntaxError, csvRecords } from './csv-records';
import { type Dataset } from './dataset';

export { datasetSha256 } from './sha256';

/**
 * The largest dataset file read: 512 MiB, about the longest string V8 can decode (~536 M characters).
 * A larger file would fail inside Node with an error that does not say which file or why.
 */
export const MAX_DATASET_BYTES = 512 * 1024 * 1024;

/**
 * Reads an evaluation set from CSV into a `Dataset`. Every problem is a `DATASET_INVALID` error
 * that names the file, the line and the column, because the person fixing it has only the file.
 */
export interface ReadDatasetCsvOptions {
  readonly label: string;
  /** Feature columns in the order the model takes them. */
  readonly features: readonly string[];
  readonly sensitive?: readonly string[];
  /** Read at most this many data rows. */
  readonly maxRows?: number;
  /** `classification` (default) requires 0/1 labels; `regression` any finite number. */
  readonly task?: 'classification' | 'regression';
}

function invalid(
  file: string,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): ProgradeError {
  return new ProgradeError(
    'DATASET_INVALID',
    `${file}: ${message}`,
    'terminal',
    { file, ...details },
    { cause },
  );
}

// A decimal number as pandas and numpy read it: `Number()` alone would also take `0x10` (16), `0b1`,
// `0o7` and `Infinity`, so a hex id or a typo would be scored as a number nobody wrote.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseNumber(raw: string): number | undefined {
  const trimmed = raw.trim();
  if (!DECIMAL.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Column name → index. A name that appears twice is refused only when a column the spec uses has it
 * (`repeated`): unused columns such as pandas' blank index header may repeat.
 */
function headerIndex(header: readonly string[]): { index: Map<string, number>; repeated: Set<string> } {
  const index = new Map<string, number>();
  const repeated = new Set<string>();
  header.forEach((raw, i) => {
    const name = raw.trim();
    if (index.has(name)) repeated.add(name);
    else index.set(name, i);
  });
  return { index, repeated };
}

/** Why a header might not hold the named column: a file separated by something other than commas. */
function separatorHint(header: readonly string[]): string {
  if (header.length !== 1) return '';
  const only = header[0] ?? '';
  for (const [sep, name] of [
    [';', 'semicolons'],
    ['\t', 'tabs'],
    ['|', '|'],
  ] as const) {
    if (only.includes(sep))
      return `; the header has one column and looks separated by ${name}: prograde reads comma-separated CSV`;
  }
  return '';
}

/** What a classification label that is not 0 or 1 most likely means, for the message. */
function labelHint(label: number | undefined): string {
  if (label === undefined)
    return ' (write the positive class as 1 and the other as 0, e.g. yes/no or true/false)';
  if (Number.isInteger(label) && label > 1)
    return ' (task binary-classification; prograde judges binary classifiers and regressors, not multiclass models)';
  return '';
}

/** Parses CSV text; `file` names the source in errors. */
export function parseDatasetCsv(text: string, file: string, options: ReadDatasetCsvOptions): Dataset {
  const sensitiveNames = options.sensitive ?? [];
  const task = options.task ?? 'classification';
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  const records = csvRecords(text);
  try {
    const first = records.next();
    if (first.done)
      throw invalid(file, 'the file is empty; expected a header row and data rows', { line: 1 });
    const header = first.value.fields;
    const { index, repeated } = headerIndex(header);
    const columnOf = (name: string): number => {
      const i = index.get(name);
      if (i === undefined) {
        throw invalid(
          file,
          `line 1: column '${name}' is missing from the header (${header.join(', ')})${separatorHint(header)}`,
          { line: 1, column: name },
        );
      }
      if (repeated.has(name))
        throw invalid(file, `line 1: column '${name}' appears twice in the header`, {
          line: 1,
          column: name,
        });
      return i;
    };
    const featureColumns = options.features.map(columnOf);
    const labelColumn = columnOf(options.label);
    const sensitiveColumns = sensitiveNames.map(columnOf);

    const features: number[] = [];
    const labels: number[] = [];
    const sensitive: string[][] = sensitiveNames.map(() => []);
    for (const record of records) {
      if (labels.length >= maxRows) break;
      const { line, fields } = record;
      if (fields.length !== header.length) {
        throw invalid(file, `line ${line}: has ${fields.length} fields but the header has ${header.length}`, {
          line,
        });
      }
      const cell = (column: number): string => fields[column] ?? '';
      options.features.forEach((name, k) => {
        const raw = cell(featureColumns[k] ?? -1);
        const value = parseNumber(raw);
        if (value === undefined) {
          throw invalid(file, `line ${line}: column '${name}' has '${raw}', which is not a finite number`, {
            line,
            column: name,
            value: raw,
          });
        }
        features.push(value);
      });
      const rawLabel = cell(labelColumn);
      const label = parseNumber(rawLabel);
      if (label === undefined || (task === 'classification' && label !== 0 && label !== 1)) {
        const expected = task === 'classification' ? `0 or 1${labelHint(label)}` : 'a finite number';
        throw invalid(
          file,
          `line ${line}: label column '${options.label}' has '${rawLabel}', expected ${expected}`,
          {
            line,
            column: options.label,
            value: rawLabel,
          },
        );
      }
      labels.push(label);
      sensitiveColumns.forEach((column, k) => sensitive[k]?.push(cell(column)));
    }
    if (labels.length === 0) throw invalid(file, 'the file has a header but no data rows', { line: 2 });

    return {
      featureNames: [...options.features],
      rows: labels.length,
      features: Float32Array.from(features),
      labelName: options.label,
      labels: Float64Array.from(labels),
      sensitive: Object.fromEntries(sensitiveNames.map((name, k) => [name, sensitive[k] ?? []])),
    };
  } catch (e) {
    if (e instanceof CsvSyntaxError) throw invalid(file, `line ${e.line}: ${e.message}`, { line: e.line }, e);
    throw e;
  }
}

/** The text of a dataset's bytes: UTF-8 (a byte-order mark is fine), anything else refused with how to fix it. */
function decodeDataset(bytes: Uint8Array, file: string): string {
  const utf16 =
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  if (utf16) throw invalid(file, 'the file is UTF-16 (or UTF-32) text; save it as UTF-8');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw invalid(file, 'the file is not UTF-8 text (Latin-1 or another encoding?); save it as UTF-8', {}, e);
  }
}

/** A dataset file's bytes: a regular file of at most MAX_DATASET_BYTES, never a FIFO or a device. */
async function readDatasetBytes(path: string, maxBytes: number): Promise<Buffer> {
  try {
    return await readInputFile(path, maxBytes);
  } catch (e) {
    if (e instanceof InputFileError) {
      const limit =
        e.problem === 'too-large' ? ` (datasets are read whole, at most ${formatBytes(maxBytes)})` : '';
      throw invalid(path, `the dataset file ${e.reason}${limit}`, { problem: e.problem }, e);
    }
    throw invalid(path, `cannot read the dataset file: ${messageOf(e)}`, {}, e);
  }
}

/**
 * Reads a dataset and its sha256 from one read of the file, so the hash that keys cached results and
 * evidence is the hash of exactly the rows that were judged.
 */
export async function loadDatasetCsv(
  path: string,
  options: ReadDatasetCsvOptions,
  maxBytes: number = MAX_DATASET_BYTES,
): Promise<{ dataset: Dataset; sha256: string }> {
  const bytes = await readDatasetBytes(path, maxBytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { dataset: parseDatasetCsv(decodeDataset(bytes, path), path, options), sha256 };
}

export async function readDatasetCsv(path: string, options: ReadDatasetCsvOptions): Promise<Dataset> {
  return (await loadDatasetCsv(path, options)).dataset;
}
