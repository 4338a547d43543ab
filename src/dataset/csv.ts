import { readFile } from 'node:fs/promises';
import { ProgradeError, messageOf } from '../errors';
import { CsvSyntaxError, csvRecords } from './csv-records';
import { type Dataset } from './dataset';

export { datasetSha256 } from './sha256';

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

function parseNumber(raw: string): number | undefined {
  const trimmed = raw.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

function headerIndex(header: readonly string[], file: string): Map<string, number> {
  const index = new Map<string, number>();
  header.forEach((raw, i) => {
    const name = raw.trim();
    if (index.has(name))
      throw invalid(file, `line 1: column '${name}' appears twice in the header`, { line: 1, column: name });
    index.set(name, i);
  });
  return index;
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
    const index = headerIndex(header, file);
    const columnOf = (name: string): number => {
      const i = index.get(name);
      if (i === undefined) {
        throw invalid(file, `line 1: column '${name}' is missing from the header (${header.join(', ')})`, {
          line: 1,
          column: name,
        });
      }
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
        const expected = task === 'classification' ? '0 or 1' : 'a finite number';
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

export async function readDatasetCsv(path: string, options: ReadDatasetCsvOptions): Promise<Dataset> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw invalid(path, `cannot read the dataset file: ${messageOf(e)}`, {}, e);
  }
  return parseDatasetCsv(text, path, options);
}
